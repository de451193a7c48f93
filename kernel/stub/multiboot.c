/* multiboot.c - reading what the boot loader left in the multiboot information structure.
 * The kernel runs with paging off, so the physical addresses in it are usable pointers. */
#include <kernel/kprintf.h>
#include <kernel/multiboot.h>

const struct multiboot_info *boot_info;

const char *multiboot_cmdline(const struct multiboot_info *mbi)
{
    if (!(mbi->flags & MB_INFO_CMDLINE) || !mbi->cmdline)
        return "";
    return (const char *)(uintptr_t)mbi->cmdline;
}

static const char *mmap_type(uint32_t type)
{
    switch (type) {
    case 1: return "available";
    case 3: return "ACPI reclaimable";
    case 4: return "ACPI NVS";
    case 5: return "bad RAM";
    default: return "reserved";
    }
}

void multiboot_print_memory(const struct multiboot_info *mbi)
{
    if (mbi->flags & MB_INFO_MEMORY)
        kprintf("memory: %u KiB low, %u KiB above 1 MiB\n", mbi->mem_lower, mbi->mem_upper);
    if (!(mbi->flags & MB_INFO_MMAP)) {
        kprintf("memory map: none given by the loader\n");
        return;
    }
    kprintf("memory map:\n");
    uintptr_t at = mbi->mmap_addr, end = at + mbi->mmap_length;
    while (at < end) {
        const struct multiboot_mmap_entry *e = (const void *)at;
        uint64_t last = e->addr + e->len - 1;
        kprintf("  %08x%08x - %08x%08x  %s\n",
                (unsigned)(e->addr >> 32), (unsigned)e->addr,
                (unsigned)(last >> 32), (unsigned)last, mmap_type(e->type));
        at += e->size + sizeof e->size;
    }
}
