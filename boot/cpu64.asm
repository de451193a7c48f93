; cpu64.asm - the x86-64 kernel's CPU glue: loading the GDT, and the interrupt entry stubs
; (vectors 0-47) that save the registers and call isr_dispatch(struct regs *) in C.
;
; Routine     arguments        result
; gdt_load    const gdtr *     -   loads the GDT, reloads every segment register
; isr_table   (data)           48 stub addresses for the IDT, indexed by vector
; Each stub leaves the frame struct regs (include/kernel/idt.h) describes: the fifteen
; general registers (r15 first), the vector, an error code (0 when the CPU gives none), then
; what the CPU pushed: rip, cs, rflags, rsp, ss.

bits 64
default rel

KERNEL_CODE     equ 0x08                ; selectors of the GDT (kernel/gdt.c)
KERNEL_DATA     equ 0x10

section .text
global gdt_load, isr_table
extern isr_dispatch

gdt_load:
        lgdt    [rdi]
        mov     ax, KERNEL_DATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        pop     rax                     ; a far return reloads cs: push cs, then rip
        push    KERNEL_CODE
        push    rax
        retfq

%macro STUB_NO_ERROR 1
isr_%1:
        push    0
        push    %1
        jmp     isr_common
%endmacro
%macro STUB_ERROR 1
isr_%1:
        push    %1
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

; Saves the interrupted context, calls C with a pointer to it, restores it exactly. The CPU
; aligned the stack to 16 before its five pushes; with the two words above and the fifteen
; registers (22 words in all) rsp is 16-aligned again at the call, as the ABI wants.
isr_common:
        push    rax
        push    rbx
        push    rcx
        push    rdx
        push    rsi
        push    rdi
        push    rbp
        push    r8
        push    r9
        push    r10
        push    r11
        push    r12
        push    r13
        push    r14
        push    r15
        cld                             ; the C ABI expects DF clear
        mov     rdi, rsp                ; struct regs *
        call    isr_dispatch
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     r11
        pop     r10
        pop     r9
        pop     r8
        pop     rbp
        pop     rdi
        pop     rsi
        pop     rdx
        pop     rcx
        pop     rbx
        pop     rax
        add     rsp, 16                 ; the vector and the error code
        iretq

section .rodata
align 8
isr_table:
%assign v 0
%rep 48
        dq      isr_ %+ v
  %assign v v + 1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
