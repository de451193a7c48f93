/* memmap.h - turning the multiboot memory map into kernel heap regions. */
#ifndef KERNEL_MEMMAP_H
#define KERNEL_MEMMAP_H

#include <stddef.h>
#include <stdint.h>
#include <kernel/multiboot.h>

#define MEMMAP_MIN_REGION (64u * 1024)      /* smaller pieces are not worth a pool */

/* Adds every piece of usable RAM above 1 MiB and below 4 GiB as a kmalloc region, less the
 * kernel image, the multiboot information (structure, command line, memory map, module list,
 * modules and their strings) and pieces under MEMMAP_MIN_REGION. report, when not NULL, is
 * told of each piece and kmalloc_add_region's result. Returns the bytes given to the heap. */
size_t memmap_add_regions(const struct multiboot_info *mbi,
                          void (*report)(uintptr_t start, size_t size, int result));

#endif
