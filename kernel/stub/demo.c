/* demo.c - a short tour of the kernel heap for `make run`: allocations, a caught double free
 * and an interior free, realloc, the stats and map, the memory map's RAM as more heap, a
 * debug pool catching an overflow and a write after free, and (make run SMP=4) every CPU
 * allocating at once, each freeing what the others allocated. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kheap.h>
#include <kernel/demo.h>
#include <kernel/kprintf.h>
#include <kernel/memmap.h>
#include <kernel/multiboot.h>
#include <kernel/panic.h>
#include <kernel/pit.h>
#include <kernel/smp.h>
#include <kernel/smpstress.h>
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

static void print_line(const char *line)
{
    kprintf("%s", line);
}

static void print_region(uintptr_t start, size_t size, int result)
{
    kprintf("  region %p - %p  %6u KiB  %s\n", (void *)start, (void *)(start + size - 1),
            (unsigned)(size / 1024), result == 0 ? "added" : "refused");
}

/* Three allocations from three places, so the debug dump has callers to show. */
static __attribute__((noinline)) void *make_table(kheap_t *h) { return kheap_alloc(h, 120); }
static __attribute__((noinline)) void *make_name(kheap_t *h) { return kheap_alloc(h, 16); }
static __attribute__((noinline)) void *make_buffer(kheap_t *h) { return kheap_alloc(h, 500); }

static void debug_tour(void)
{
    static unsigned char mem[16 * 1024] __attribute__((aligned(16)));
    kheap_t *h = kheap_create_flags(mem, sizeof mem, 0, KHEAP_F_DEBUG);
    if (!h)
        panic("demo: no debug pool");
    kprintf("\n== a debug pool (KHEAP_F_DEBUG): guards, poison, callers ==\n");
    char *table = make_table(h), *name = make_name(h);
    unsigned char *buffer = make_buffer(h);
    kprintf("name = %p (16 bytes); writing 17 bytes into it, then freeing it:\n", name);
    memcpy(name, "seventeen bytes!", 17);
    kheap_free(h, name);
    kprintf("table = %p; freeing it, then writing through the stale pointer:\n", table);
    kheap_free(h, table);
    table[8] = 'X';
    kprintf("kheap_check: %d\n", kheap_check(h));
    kheap_dump(h, print_line);
    kheap_free(h, buffer);
}

#define TOUR_OPS 20000                     /* allocations per CPU */

static void smp_tour(void)
{
    unsigned n = smp_cpus();
    if (n == 1) {
        kprintf("\n(one CPU: `make run SMP=4` shows four sharing the heap)\n");
        return;
    }
    static struct smp_stress t;
    kprintf("\n== %u CPUs sharing the kernel heap (its lock: interrupts off + a ticket "
            "spinlock) ==\n", n);
    smp_stress(0, TOUR_OPS, &t);
    for (unsigned c = 0; c < n; c++)
        kprintf("CPU %u (APIC id %u): %u kmallocs, %u kfrees (%u allocated by another CPU), "
                "%u damaged, %u failed; %u timer interrupts\n", c,
                (unsigned)smp_cpu(c)->apic_id, t.cpu[c].allocs, t.cpu[c].frees,
                t.cpu[c].foreign, t.cpu[c].damaged, t.cpu[c].failed,
                c ? (unsigned)smp_cpu(c)->ticks : (unsigned)pit_ticks());
    kprintf("kheap_check: %s\n", kheap_check(kmalloc_heap()) == 0 ? "clean" : "FAILED");
    print_stats();
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

    kprintf("\nkheap_dump of the kernel heap:\n");
    kheap_dump(kmalloc_heap(), print_line);

    kfree(moved);
    kfree(page);
    kfree(big);

    kprintf("\nRAM from the memory map, added to the kernel heap:\n");
    size_t added = memmap_add_regions(boot_info, print_region);
    void *huge = kmalloc(added / 2);
    kprintf("%u KiB added; kmalloc(%u KiB) = %p, past the static pool\n",
            (unsigned)(added / 1024), (unsigned)(added / 2048), huge);
    kfree(huge);
    print_stats();
    debug_tour();
    smp_tour();
    kprintf("== demo done ==\n");
}
