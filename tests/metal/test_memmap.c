/* test_memmap.c - (kernel only) the memory map as heap regions: allocations past the static
 * pool land in mapped RAM, never on the kernel image or the loader's data. Booted with
 * several -m sizes by make test. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kheap.h>
#include <kernel/memmap.h>
#include <kernel/multiboot.h>
#include "ktest.h"


static struct { uintptr_t lo[16], hi[16]; unsigned n; int errors; } seen;

static void note_region(uintptr_t start, size_t size, int result)
{
    if (seen.n < 16) {
        seen.lo[seen.n] = start;
        seen.hi[seen.n++] = start + size;
    }
    seen.errors += result != 0;
}

static bool overlaps(uintptr_t lo, uintptr_t hi, uintptr_t a, uintptr_t b)
{
    return lo < b && a < hi;
}

#define FOUR_GIB 0x100000000ull

/* Available RAM in the memory map that the kernel can reach, from 1 MiB to MEMMAP_LIMIT;
 * *above_4g tells whether some of it lies above 4 GiB. */
static uint64_t reachable_ram(const struct multiboot_info *mbi, bool *above_4g)
{
    uint64_t total = 0;
    *above_4g = false;
    for (uintptr_t at = mbi->mmap_addr; at < mbi->mmap_addr + mbi->mmap_length;) {
        const struct multiboot_mmap_entry *e = (const void *)at;
        uint64_t lo = e->addr < 0x100000 ? 0x100000 : e->addr, hi = e->addr + e->len;
        hi = hi > MEMMAP_LIMIT ? MEMMAP_LIMIT : hi;
        if (e->type == MB_MMAP_AVAILABLE && lo < hi) {
            total += hi - lo;
            *above_4g |= hi > FOUR_GIB;
        }
        at += e->size + sizeof e->size;
    }
    return total;
}

KTEST(memmap_regions_serve_past_the_static_pool)
{
    const struct multiboot_info *mbi = boot_info;
    KT_ASSERT(mbi);
    KT_ASSERT((mbi->flags & MB_INFO_MMAP));
    KT_ASSERT((mbi->flags & MB_INFO_MEMORY));
    KT_ASSERT(kmalloc_init(kt_mem(64 * 1024, 16), 64 * 1024) == 0);
    seen.n = 0, seen.errors = 0;
    bool above_4g;
    uint64_t ram = reachable_ram(mbi, &above_4g);
    size_t kernel = (size_t)(kernel_phys_end() - kernel_phys_start());
    size_t added = memmap_add_regions(mbi, note_region);
    char n[12];
    ktest_write("# memory map: ");
    ktest_write(kt_utoa(n, (unsigned long)(ram >> 20)));
    ktest_write(" MiB above 1 MiB, ");
    ktest_write(kt_utoa(n, (unsigned long)(added >> 20)));
    ktest_write(" MiB added in ");
    ktest_write(kt_utoa(n, seen.n));
    ktest_write(" regions\n");
    KT_EXPECT(seen.n >= 1);
    KT_EXPECT_EQ(seen.errors, 0);
    KT_EXPECT(added + kernel + 2 * 1024 * 1024 >= ram);   /* all but the kernel, roughly */
    uintptr_t largest = 0;                          /* the largest region's length */
    KT_EXPECT(added <= ram);
    for (unsigned i = 0; i < seen.n; i++) {
        KT_EXPECT(seen.lo[i] >= 0x100000);
        KT_EXPECT(!overlaps(seen.lo[i], seen.hi[i], kernel_phys_start(), kernel_phys_end()));
        KT_EXPECT(!overlaps(seen.lo[i], seen.hi[i], (uintptr_t)mbi, (uintptr_t)(mbi + 1)));
        KT_EXPECT(!overlaps(seen.lo[i], seen.hi[i], mbi->mmap_addr, mbi->mmap_addr + mbi->mmap_length));
        largest = seen.hi[i] - seen.lo[i] > largest ? seen.hi[i] - seen.lo[i] : largest;
    }
    size_t want = largest / 2;                      /* far past the 64 KiB first region */
    unsigned char *big = kmalloc(want);
    KT_ASSERT(big != 0);
    KT_EXPECT(!kheap_owns(kmalloc_heap(), big));
    KT_EXPECT(ksize(big) >= want);
    KT_EXPECT((uintptr_t)big >= kernel_phys_end());
    /* With RAM above 4 GiB (x86-64 booted with -m 6G), regions come in map order and first
     * fit fills the one below 4 GiB first: half of the largest region again no longer fits
     * in what big left of it, so it comes from memory a 32-bit kernel cannot address. */
    if (above_4g) {
        volatile unsigned char *high = kmalloc(want);
        KT_ASSERT(high != 0);
        KT_EXPECT((uint64_t)(uintptr_t)high >= FOUR_GIB);
        high[0] = 0x3C, high[want - 1] = 0xC3;
        KT_EXPECT_EQ(high[0], 0x3C);
        KT_EXPECT_EQ(high[want - 1], 0xC3);
        kfree((void *)high);
    }
    /* The RAM is really there: 65 bytes across it written, then all read back, through a
     * volatile pointer (a plain one lets the compiler fold each read to the value written). */
    volatile unsigned char *ram_bytes = big;
    unsigned step = 0, wrong = 0;
    for (size_t off = 0; off < want; off += want / 64)
        ram_bytes[off] = (unsigned char)(0x5A + step++);
    ram_bytes[want - 1] = 0xA5;
    step = 0;
    for (size_t off = 0; off < want; off += want / 64)
        wrong += ram_bytes[off] != (unsigned char)(0x5A + step++);
    KT_EXPECT_EQ(wrong, 0);
    KT_EXPECT_EQ(ram_bytes[want - 1], 0xA5);
    kfree(big);
    KT_EXPECT_EQ(ksize(big), 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
    KT_EXPECT(kheap_check(kmalloc_heap()) == 0);
}
