; trampoline.asm - where an application processor starts (both kernels: nasm -f elf32 for
; i386, -f elf64 for x86-64): real mode to protected mode (and on x86-64 on to long mode),
; then ap_main(index) on the stack the bootstrap processor chose.
;
; kernel/stub/smp.c copies trampoline_start .. trampoline_end to TRAMPOLINE_BASE, a page
; below 1 MiB, fills the parameter block at its end (tr_stack, tr_entry, tr_cr3, tr_index)
; and sends INIT, then STARTUP with vector TRAMPOLINE_BASE >> 12 (Intel SDM vol. 3, 8.4.4).
; The AP then runs this code at TRAMPOLINE_BASE in real mode, cs = TRAMPOLINE_BASE >> 4,
; ip = 0. Every address below is the copy's: AT(label) = TRAMPOLINE_BASE + its offset.
;
; Symbol            meaning
; trampoline_start  the first byte to copy
; trampoline_end    one past the last
; tr_stack          (word) the AP's stack top, a kernel (virtual) address
; tr_entry          (word) what to jump to: ap_main(unsigned index), never returning
; tr_cr3            (dword) x86-64: the page tables' physical address (the BSP's cr3)
; tr_index          (dword) the AP's index, ap_main's argument
; tr_started        (dword) set to 1 by the AP once it no longer reads the block

TRAMPOLINE_BASE equ 0x7000                  ; kernel/stub/smp.c: the same page
%define AT(label) (TRAMPOLINE_BASE + (label) - trampoline_start)

%include "x86.inc"
CODE32          equ 0x08                    ; selectors of tr_gdt
DATA32          equ 0x10
CODE64          equ 0x18

%ifidn __OUTPUT_FORMAT__, elf64
  %define WORD_DATA dq
%else
  %define WORD_DATA dd
%endif

section .rodata                             ; copied, never run in place
global trampoline_start, trampoline_end, tr_stack, tr_entry, tr_cr3, tr_index, tr_started

bits 16
trampoline_start:
        cli
        cld
        xor     ax, ax
        mov     ds, ax                      ; AT() addresses are offsets from 0
        o32 lgdt [AT(tr_gdtr)]
        mov     eax, cr0
        or      eax, CR0_PE
        mov     cr0, eax
        jmp     dword CODE32:AT(protected)

bits 32
protected:
        LOAD_DATA_SEGMENTS DATA32
%ifidn __OUTPUT_FORMAT__, elf64
        ; Long mode with the BSP's page tables: they map this page where it lies and the
        ; kernel at its higher-half address.
        LONG_MODE_ON [AT(tr_cr3)]
        jmp     CODE64:AT(long_mode)

bits 64
long_mode:
        mov     rsp, [AT(tr_stack)]
        mov     edi, [AT(tr_index)]         ; ap_main(index)
        mov     rax, [AT(tr_entry)]
        mov     dword [AT(tr_started)], 1   ; the block may be filled for the next AP now
        push    0                           ; a return address that is never used: the
        jmp     rax                         ; stack as a call leaves it
%else
        mov     esp, [AT(tr_stack)]
        mov     eax, [AT(tr_entry)]
        push    dword [AT(tr_index)]        ; ap_main(index)
        push    0                           ; a return address that is never used
        mov     dword [AT(tr_started)], 1   ; the block may be filled for the next AP now
        jmp     eax
%endif

align 8
tr_gdt:                                     ; null, 32-bit code, data, 64-bit code
        dq      0
        dq      0x00CF9A000000FFFF          ; present, ring 0, code, 32-bit, 4 GiB
        dq      0x00CF92000000FFFF          ; present, ring 0, data, writable, 4 GiB
        dq      0x00AF9A000000FFFF          ; present, ring 0, code, L (64-bit)
tr_gdtr:
        dw      tr_gdtr - tr_gdt - 1
        dd      AT(tr_gdt)

align 8                                     ; the parameter block, filled by the BSP
tr_stack:       WORD_DATA 0
tr_entry:       WORD_DATA 0
tr_cr3:         dd 0
tr_index:       dd 0
tr_started:     dd 0
trampoline_end:

section .note.GNU-stack noalloc noexec nowrite progbits
