/* demo.c - a short tour of the kernel heap for `make run`: allocations, a caught double free
 * and an interior free, realloc in place, aligned memory, the stats and a walk of the pool. */
#include <kheap.h>
#include <kernel/demo.h>
#include <kernel/kprintf.h>
#include <kernel/panic.h>
#include <kernel/string.h>

static void print_stats(void)
{
    struct kheap_stats st;
    kheap_get_stats(kmalloc_heap(), &st);
    kprintf("stats: used %u of %u bytes (peak %u), largest free run %u, live %u,\n"
            "       %u allocs, %u frees, %u failed, %u faults\n",
            (unsigned)st.used, (unsigned)st.capacity, (unsigned)st.peak_used,
            (unsigned)st.largest_free, (unsigned)st.live_allocs, (unsigned)st.total_allocs,
            (unsigned)st.total_frees, (unsigned)st.failed_allocs, (unsigned)st.faults);
}

static int print_run(void *ctx, void *p, size_t size, bool used)
{
    unsigned *shown = ctx;
    if ((*shown)++ < 8)
        kprintf("  %p  %7u bytes  %s\n", p, (unsigned)size, used ? "used" : "free");
    return 0;
}

void demo_run(void)
{
    kprintf("\n== kheap demo ==\n");
    char *name = kmalloc(24);
    int *table = kcalloc(64, sizeof *table);
    void *page = kmalloc_aligned(4096, 4096);
    void *big = kmalloc(10000);
    if (!name || !table || !page || !big)
        panic("demo: the kernel heap could not serve a small request");
    memcpy(name, "kheap says hello", 17);
    kprintf("kmalloc(24)             = %p, ksize %u: \"%s\"\n", (void *)name,
            (unsigned)ksize(name), name);
    kprintf("kcalloc(64, 4)          = %p, table[63] = %d\n", (void *)table, table[63]);
    kprintf("kmalloc_aligned(4K, 4K) = %p\n", page);
    kprintf("kmalloc(10000)          = %p, ksize %u\n", big, (unsigned)ksize(big));

    char *moved = krealloc(name, 40);
    kprintf("krealloc(name, 40)      = %p (%s: `table` follows it), still \"%s\"\n",
            (void *)moved, moved == name ? "grown in place" : "moved", moved);
    void *grown = krealloc(big, 20000);
    kprintf("krealloc(big, 20000)    = %p (%s)\n", grown,
            grown == big ? "grown in place" : "moved");
    if (!moved || !grown)
        panic("demo: krealloc failed");
    big = grown;

    kprintf("\nfreeing table twice, then a pointer into the middle of `big`:\n");
    kfree(table);
    kfree(table);
    kfree((char *)big + 16);
    if (kheap_check(kmalloc_heap()) != 0)
        panic("demo: kheap_check failed");
    kprintf("kheap_check: clean\n\n");
    print_stats();

    kprintf("pool walk (first runs):\n");
    unsigned shown = 0;
    kheap_walk(kmalloc_heap(), print_run, &shown);

    kfree(moved);
    kfree(page);
    kfree(big);
    print_stats();
    kprintf("== demo done ==\n");
}
