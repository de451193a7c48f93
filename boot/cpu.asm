; cpu.asm - the stub kernel's CPU glue: loading the GDT, and the interrupt entry stubs
; (vectors 0-47) that save the registers and call isr_dispatch(struct regs *) in C.
;
; Routine     arguments        result
; gdt_load    const gdtr *     -   loads the GDT, reloads every segment register
; isr_table   (data)           48 stub addresses for the IDT, indexed by vector
; Each stub leaves the frame struct regs (include/kernel/idt.h) describes: pushad's eight
; registers, the vector, an error code (0 when the CPU gives none), then the CPU's eip,
; cs and eflags.

bits 32

KERNEL_CODE     equ 0x08                ; selectors of the flat GDT (kernel/gdt.c)
KERNEL_DATA     equ 0x10

section .text
global gdt_load, isr_table
extern isr_dispatch

gdt_load:
        mov     eax, [esp + 4]
        lgdt    [eax]
        mov     ax, KERNEL_DATA         ; every data segment: the flat data descriptor
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        jmp     KERNEL_CODE:.reload     ; a far jump reloads cs
.reload:
        ret

; A stub for a vector without a CPU error code pushes a 0 in its place, so every frame
; has the same shape.
%macro STUB_NO_ERROR 1
isr_%1:
        push    dword 0
        push    dword %1
        jmp     isr_common
%endmacro
%macro STUB_ERROR 1
isr_%1:
        push    dword %1
        jmp     isr_common
%endmacro

; Vectors 8, 10-14, 17, 21, 29 and 30 come with an error code (Intel SDM vol. 3, 6.13).
%assign v 0
%rep 48
  %if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
    STUB_ERROR v
  %else
    STUB_NO_ERROR v
  %endif
  %assign v v + 1
%endrep

; Saves the interrupted context, calls C with a pointer to it, restores it exactly.
isr_common:
        pushad
        cld                             ; the C ABI expects DF clear
        push    esp                     ; struct regs *
        call    isr_dispatch
        add     esp, 4
        popad
        add     esp, 8                  ; the vector and the error code
        iretd

section .rodata
align 4
isr_table:
%assign v 0
%rep 48
        dd      isr_ %+ v
  %assign v v + 1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
