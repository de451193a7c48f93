; cpu.asm - the stub kernel's CPU glue, for both kernels (nasm -f elf32: i386; -f elf64:
; x86-64): loading the GDT, and the interrupt entry stubs (vectors 0-47) that save the
; registers and call isr_dispatch(struct regs *) in C.
;
; Routine     arguments        result
; gdt_load    const gdtr *     -   loads the GDT, reloads every segment register
; isr_table   (data)           256 stub addresses for the IDT, indexed by vector (0: none)
; Each stub leaves the frame struct regs (include/kernel/idt.h) describes: the general
; registers (i386: pushad's eight; x86-64: fifteen, r15 first), the vector, an error code (0
; when the CPU gives none), then what the CPU pushed (eip, cs, eflags; x86-64: rip, cs,
; rflags, rsp, ss).

%ifidn __OUTPUT_FORMAT__, elf64
  bits 64
  default rel
  %define STACK_WORD qword
  %define ADDRESS dq
%else
  bits 32
  %define STACK_WORD dword
  %define ADDRESS dd
%endif

%include "x86.inc"

KERNEL_CODE     equ 0x08                ; selectors of the GDT (kernel/stub/gdt.c)
STUBS           equ 50                  ; exceptions, the PIC's 16, the local APIC's two
SPURIOUS        equ 255                 ; the local APIC's spurious vector (kernel/lapic.h)
KERNEL_DATA     equ 0x10

section .text
global gdt_load, isr_table
extern isr_dispatch

gdt_load:
%ifidn __OUTPUT_FORMAT__, elf64
        lgdt    [rdi]
%else
        mov     eax, [esp + 4]
        lgdt    [eax]
%endif
        LOAD_DATA_SEGMENTS KERNEL_DATA  ; every data segment: the flat data descriptor
%ifidn __OUTPUT_FORMAT__, elf64
        pop     rax                     ; a far return reloads cs: push cs, then rip
        push    KERNEL_CODE
        push    rax
        retfq
%else
        jmp     KERNEL_CODE:.reload     ; a far jump reloads cs
.reload:
        ret
%endif

; A stub for a vector without a CPU error code pushes a 0 in its place, so every frame
; has the same shape.
%macro STUB_NO_ERROR 1
isr_%1:
        push    STACK_WORD 0
        push    STACK_WORD %1
        jmp     isr_common
%endmacro
%macro STUB_ERROR 1
isr_%1:
        push    STACK_WORD %1
        jmp     isr_common
%endmacro

; Vectors 8, 10-14, 17, 21, 29 and 30 come with an error code (Intel SDM vol. 3, 6.13).
%assign v 0
%rep STUBS
  %if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
    STUB_ERROR v
  %else
    STUB_NO_ERROR v
  %endif
  %assign v v + 1
%endrep
STUB_NO_ERROR 255                       ; SPURIOUS

; Saves the interrupted context, calls C with a pointer to it, restores it exactly.
%ifidn __OUTPUT_FORMAT__, elf64
; The CPU aligned the stack to 16 before its five pushes; with the vector, the error code
; and the fifteen registers (22 words in all) rsp is 16-aligned again at the call.
%define SAVED rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15
isr_common:
%macro PUSH_ALL 1-*
  %rep %0
        push    %1
    %rotate 1
  %endrep
%endmacro
%macro POP_ALL 1-*
  %rep %0
    %rotate -1
        pop     %1
  %endrep
%endmacro
        PUSH_ALL SAVED
        cld                             ; the C ABI expects DF clear
        mov     rdi, rsp                ; struct regs *
        call    isr_dispatch
        POP_ALL SAVED
        add     rsp, 16                 ; the vector and the error code
        iretq
%else
isr_common:
        pushad
        cld                             ; the C ABI expects DF clear
        push    esp                     ; struct regs *
        call    isr_dispatch
        add     esp, 4
        popad
        add     esp, 8                  ; the vector and the error code
        iretd
%endif

section .rodata
align 8
isr_table:
%assign v 0
%rep 256
  %if v < STUBS || v == SPURIOUS
        ADDRESS isr_ %+ v
  %else
        ADDRESS 0
  %endif
  %assign v v + 1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
