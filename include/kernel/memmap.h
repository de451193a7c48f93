/* memmap.h - turning the multiboot memory map into kernel heap regions. */
#ifndef KERNEL_MEMMAP_H
#define KERNEL_MEMMAP_H

#include <stddef.h>
#include <stdint.h>
#include <kernel/multiboot.h>

#define MEMMAP_MIN_REGION (64u * 1024)      /* smaller pieces are not worth a pool */

/* Where RAM is reachable: i386 runs with paging off, so below 4 GiB (less a page, so no
 * region touches the end of the address space); x86-64 at its physical address through the
 * identity map boot/boot64.asm builds over the first 8 GiB. The x86-64 kernel image runs at
 * KERNEL_VMA + its physical address (linker64.ld). */
#ifdef __x86_64__
#define MEMMAP_LIMIT (8ull << 30)
#define KERNEL_VMA 0xffffffff80000000ull
#else
#define MEMMAP_LIMIT ((1ull << 32) - 4096)
#define KERNEL_VMA 0ull
#endif

/* The kernel image's physical bounds. */
uint64_t kernel_phys_start(void);
uint64_t kernel_phys_end(void);

/* Adds every piece of usable RAM above 1 MiB and below MEMMAP_LIMIT as a kmalloc region, less the
 * kernel image, the multiboot information (structure, command line, memory map, module list,
 * modules and their strings) and pieces under MEMMAP_MIN_REGION. report, when not NULL, is
 * told of each piece and kmalloc_add_region's result. Returns the bytes given to the heap. */
size_t memmap_add_regions(const struct multiboot_info *mbi,
                          void (*report)(uintptr_t start, size_t size, int result));

#endif
