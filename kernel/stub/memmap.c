/* memmap.c - every usable RAM region of the multiboot memory map becomes a kmalloc region,
 * with the memory the kernel and the loader still use cut out of it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kheap.h>
#include <kernel/memmap.h>
#include <kernel/string.h>

#define ONE_MIB 0x100000ull
#define MAX_RESERVED 40

extern char _kernel_start[], _kernel_end[];    /* linker.ld, linker64.ld: virtual */

uint64_t kernel_phys_start(void)
{
    return (uintptr_t)_kernel_start - KERNEL_VMA;
}

uint64_t kernel_phys_end(void)
{
    return (uintptr_t)_kernel_end - KERNEL_VMA;
}

struct range {
    uint64_t lo, hi;                            /* [lo, hi) */
};

struct module {
    uint32_t start, end, string, reserved;      /* Multiboot Specification 3.3 */
};

static struct range reserved[MAX_RESERVED];
static unsigned nreserved;

static void reserve(uint64_t lo, uint64_t len)
{
    if (len && nreserved < MAX_RESERVED)
        reserved[nreserved++] = (struct range){ lo, lo + len };
}

/* What must not become heap: the kernel and everything the loader handed over. */
static void collect_reserved(const struct multiboot_info *mbi)
{
    nreserved = 0;
    reserve(kernel_phys_start(), kernel_phys_end() - kernel_phys_start());
    reserve((uintptr_t)mbi, sizeof *mbi);
    if (mbi->flags & MB_INFO_CMDLINE)
        reserve(mbi->cmdline, strlen(multiboot_cmdline(mbi)) + 1);
    if (mbi->flags & MB_INFO_MMAP)
        reserve(mbi->mmap_addr, mbi->mmap_length);
    if (mbi->flags & MB_INFO_MODS) {
        const struct module *mod = (const void *)(uintptr_t)mbi->mods_addr;
        reserve(mbi->mods_addr, mbi->mods_count * sizeof *mod);
        for (uint32_t i = 0; i < mbi->mods_count; i++) {
            reserve(mod[i].start, mod[i].end - mod[i].start);
            if (mod[i].string)
                reserve(mod[i].string, strlen((const char *)(uintptr_t)mod[i].string) + 1);
        }
    }
}

/* Adds [lo, hi) less every reserved range: the first overlap splits it in two. */
static size_t add_piece(uint64_t lo, uint64_t hi, unsigned from,
                        void (*report)(uintptr_t, size_t, int))
{
    for (unsigned i = from; i < nreserved; i++) {
        const struct range *r = &reserved[i];
        if (r->lo < hi && lo < r->hi)
            return (r->lo > lo ? add_piece(lo, r->lo, i + 1, report) : 0)
                 + (r->hi < hi ? add_piece(r->hi, hi, i + 1, report) : 0);
    }
    if (hi - lo < MEMMAP_MIN_REGION)
        return 0;
    int err = kmalloc_add_region((void *)(uintptr_t)lo, (size_t)(hi - lo));
    if (report)
        report((uintptr_t)lo, (size_t)(hi - lo), err);
    return err == 0 ? (size_t)(hi - lo) : 0;
}

size_t memmap_add_regions(const struct multiboot_info *mbi,
                          void (*report)(uintptr_t start, size_t size, int result))
{
    if (!(mbi->flags & MB_INFO_MMAP))
        return 0;
    collect_reserved(mbi);
    size_t added = 0;
    uintptr_t at = mbi->mmap_addr, end = at + mbi->mmap_length;
    while (at < end) {
        const struct multiboot_mmap_entry *e = (const void *)at;
        uint64_t lo = e->addr, hi = e->addr + e->len;
        if (e->type == MB_MMAP_AVAILABLE) {
            lo = lo < ONE_MIB ? ONE_MIB : lo;
            hi = hi > MEMMAP_LIMIT ? MEMMAP_LIMIT : hi;     /* only RAM reachable here */
            if (lo < hi)
                added += add_piece(lo, hi, 0, report);
        }
        at += e->size + sizeof e->size;
    }
    return added;
}
