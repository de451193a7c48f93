; boot.asm - multiboot v1 entry: the header GRUB and QEMU look for, a 16 KiB stack,
; then kmain(magic, mbi) and a halt loop should it ever return.

bits 32

MB_MAGIC        equ 0x1BADB002          ; multiboot v1 header magic
MB_PAGE_ALIGN   equ 1 << 0              ; load modules on page boundaries
MB_MEMORY_INFO  equ 1 << 1              ; give us mem_lower/upper and the memory map
MB_FLAGS        equ MB_PAGE_ALIGN | MB_MEMORY_INFO
MB_CHECKSUM     equ -(MB_MAGIC + MB_FLAGS)
STACK_SIZE      equ 16 * 1024

section .multiboot                      ; linker.ld places this first in the image
align 4
        dd      MB_MAGIC
        dd      MB_FLAGS
        dd      MB_CHECKSUM

section .bss
align 16
stack_bottom:
        resb    STACK_SIZE
stack_top:

section .text
global _start
extern kmain

; The loader enters here in protected mode, paging off, interrupts off,
; eax = bootloader magic, ebx = physical address of the multiboot info.
_start:
        mov     esp, stack_top
        cld                             ; the C and asm ABIs expect DF clear
        push    ebx                     ; kmain(magic, mbi)
        push    eax
        call    kmain
.halt:  cli
        hlt
        jmp     .halt

section .note.GNU-stack noalloc noexec nowrite progbits
