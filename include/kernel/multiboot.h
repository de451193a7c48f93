/* multiboot.h - the parts of the multiboot v1 information structure the kernel reads.
 * Field layout from the Multiboot Specification 0.6.96, section 3.3. */
#ifndef KERNEL_MULTIBOOT_H
#define KERNEL_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MULTIBOOT2_BOOTLOADER_MAGIC 0x36D76289u     /* Multiboot2 (GRUB's `multiboot2`) */

#define MB_INFO_MEMORY  (1u << 0)       /* mem_lower, mem_upper valid */
#define MB_INFO_CMDLINE (1u << 2)       /* cmdline valid */
#define MB_INFO_MODS    (1u << 3)       /* mods_count, mods_addr valid */
#define MB_INFO_MMAP    (1u << 6)       /* mmap_length, mmap_addr valid */

#define MB_MMAP_AVAILABLE 1u

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;      /* KiB below 1 MiB, KiB above 1 MiB */
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

/* One memory-map entry; `size` does not count itself, the next entry is size + 4 on. */
struct multiboot_mmap_entry {
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

/* What the loader handed kmain, for code that needs it later (the memory-map tests). */
extern const struct multiboot_info *boot_info;

/* The command line, or "" when the loader gave none. */
const char *multiboot_cmdline(const struct multiboot_info *mbi);
/* Prints the memory map (or mem_lower/upper when there is no map) over serial. */
void multiboot_print_memory(const struct multiboot_info *mbi);
/* kernel/multiboot2.c: a Multiboot2 information structure as the v1 one (command line,
 * memory sizes, memory map), all of it copied into the kernel image. */
const struct multiboot_info *multiboot2_to_v1(const void *mb2);

#endif
