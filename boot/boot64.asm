; boot64.asm - the x86-64 kernel's entry: multiboot v1 and v2 headers (with load addresses, so
; QEMU's -kernel and GRUB load the ELF64 image as it lies), then long mode and the higher half.
;
; The loader enters _start32 in 32-bit protected mode, paging off, eax = its magic, ebx = its
; information structure (physical). _start32 builds the page tables below, turns on PAE,
; long mode and paging, and far-jumps to 64-bit code, which moves to the higher half
; (0xffffffff80000000 + physical), sets the stack and calls kmain(magic, info).
;
; Page tables (2 MiB pages): the first 8 GiB identity-mapped (the loader's data and every RAM
; region of the memory map, up to `-m 6G`, stay reachable at their physical addresses), and
; the first 1 GiB again at KERNEL_VMA (the kernel runs there: -mcmodel=kernel).

KERNEL_VMA      equ 0xffffffff80000000      ; linker64.ld: virtual = physical + KERNEL_VMA
IDENTITY_GIB    equ 8                       ; one page directory per GiB
STACK_SIZE      equ 16 * 1024

MB1_MAGIC       equ 0x1BADB002
MB1_FLAGS       equ (1 << 0) | (1 << 1) | (1 << 16)    ; page align, memory info, addresses
MB2_MAGIC       equ 0xE85250D6
MB2_ARCH_I386   equ 0                       ; (protected mode i386: the only entry there is)

PTE_PRESENT     equ 1 << 0
PTE_WRITE       equ 1 << 1
PTE_HUGE        equ 1 << 7                  ; a 2 MiB page in a page directory
CODE64          equ 0x08                    ; selectors of boot_gdt (and of kernel/stub/gdt.c)
DATA64          equ 0x10

%define PHYS(sym) ((sym) - KERNEL_VMA)
%include "x86.inc"

extern _load_start, _load_end, _bss_end     ; linker64.ld: physical addresses
extern kmain

section .multiboot                          ; linker64.ld places this first in the image
align 4
mb1_header:                                 ; Multiboot 0.6.96, 3.1: the a.out kludge fields
        dd      MB1_MAGIC
        dd      MB1_FLAGS
        dd      -(MB1_MAGIC + MB1_FLAGS)
        dd      PHYS(mb1_header)            ; header_addr
        dd      _load_start                 ; load_addr: the image from here ...
        dd      _load_end                   ; ... to here is the file, as it lies
        dd      _bss_end                    ; zeroed up to here
        dd      PHYS(_start32)              ; entry_addr

align 8
mb2_header:                                 ; Multiboot2 1.0, 3.1: header, tags, end tag
        dd      MB2_MAGIC
        dd      MB2_ARCH_I386
        dd      mb2_end - mb2_header
        dd      -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_end - mb2_header))
align 8
        dw      2, 0                        ; address tag
        dd      24
        dd      PHYS(mb2_header)            ; header_addr
        dd      _load_start
        dd      _load_end
        dd      _bss_end
align 8
        dw      3, 0                        ; entry address tag
        dd      12
        dd      PHYS(_start32)
align 8
        dw      0, 0                        ; end tag
        dd      8
mb2_end:

section .bss
align 4096
pml4:           resb    4096
pdpt_low:       resb    4096                ; PML4[0]: the identity map
pdpt_high:      resb    4096                ; PML4[511]: the top 512 GiB, the kernel at -2 GiB
page_dirs:      resb    4096 * IDENTITY_GIB
align 16
stack_bottom:   resb    STACK_SIZE
stack_top:

section .rodata
align 8
boot_gdt:                                   ; null, 64-bit code, data
        dq      0
        dq      0x00AF9A000000FFFF          ; present, ring 0, code, L (64-bit)
        dq      0x00CF92000000FFFF          ; present, ring 0, data, writable
boot_gdtr:
        dw      boot_gdtr - boot_gdt - 1
        dd      PHYS(boot_gdt)

section .text
bits 32
global _start32
_start32:
        mov     edi, eax                    ; keep the loader's magic and info for kmain
        mov     esi, ebx
        mov     esp, PHYS(stack_top)

        ; Page directories: 2 MiB pages over the first IDENTITY_GIB GiB, in order.
        mov     ecx, 512 * IDENTITY_GIB     ; entries
        mov     ebx, PHYS(page_dirs)
        xor     eax, eax                    ; the physical page, low 32 bits
        xor     edx, edx                    ; ... and high
.pde:   mov     ebp, eax
        or      ebp, PTE_PRESENT | PTE_WRITE | PTE_HUGE
        mov     [ebx], ebp
        mov     [ebx + 4], edx
        add     ebx, 8
        add     eax, 0x200000
        adc     edx, 0
        loop    .pde

        ; The identity map: PDPT_low[g] -> page directory g. The kernel: PDPT_high[510]
        ; (0xffffffff80000000) -> page directory 0.
        mov     ecx, IDENTITY_GIB
        mov     ebx, PHYS(pdpt_low)
        mov     eax, PHYS(page_dirs) + (PTE_PRESENT | PTE_WRITE)
.pdpte: mov     [ebx], eax
        add     ebx, 8
        add     eax, 4096
        loop    .pdpte
        mov     dword [PHYS(pdpt_high) + 510 * 8], PHYS(page_dirs) + (PTE_PRESENT | PTE_WRITE)
        mov     dword [PHYS(pml4)], PHYS(pdpt_low) + (PTE_PRESENT | PTE_WRITE)
        mov     dword [PHYS(pml4) + 511 * 8], PHYS(pdpt_high) + (PTE_PRESENT | PTE_WRITE)

        LONG_MODE_ON PHYS(pml4)
        lgdt    [PHYS(boot_gdtr)]
        jmp     CODE64:PHYS(long_mode)

bits 64
long_mode:                                  ; still at the physical address
        LOAD_DATA_SEGMENTS DATA64
        mov     rax, higher_half
        jmp     rax

higher_half:                                ; running at KERNEL_VMA + physical now
        mov     rsp, stack_top
        cld                                 ; the ABI expects DF clear
        ; edi = magic, esi = info (physical, identity-mapped): kmain(magic, info)
        mov     edi, edi
        mov     esi, esi
        call    kmain
.halt:  cli
        hlt
        jmp     .halt

section .note.GNU-stack noalloc noexec nowrite progbits
