/* hostile.c - a hobby kernel written as they are, taking kheap in: its own types, memset,
 * memcpy, panic and a kmalloc of its own with another signature, built with -nostdinc
 * -ffreestanding -Wall -Werror -fstack-protector-strong and the module's kmalloc family
 * prefixed kh_ (tests/embed/hostile/Makefile). It checks the drop-in and reports KTAP on
 * COM1: calls before kh_kmalloc_init reported, its own kmalloc still its own, the heap
 * grown over a page allocator of its own and trimmed back, the totals. */
#include "kheap.h"

typedef unsigned char u8int;
typedef unsigned short u16int;
typedef unsigned int u32int;
#ifdef __x86_64__
typedef unsigned long size_t;               /* the kernel's own, as the compiler has them */
typedef unsigned long uintptr_t;
#else
typedef unsigned int size_t;
typedef unsigned int uintptr_t;
#endif

/* ---- what every hobby kernel writes first ---- */

void *memset(void *dst, int c, size_t n)
{
    u8int *d = dst;
    while (n--)
        *d++ = (u8int)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    u8int *d = dst;
    const u8int *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

static void outb(u16int port, u8int v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static u8int inb(u16int port)
{
    u8int v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void puts(const char *s)
{
    for (; *s; s++) {
        while (!(inb(0x3F8 + 5) & 0x20))
            ;
        outb(0x3F8, (u8int)*s);
    }
}

static void putnum(u32int v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do
        b[--i] = (char)('0' + v % 10);
    while (v /= 10);
    puts(b + i);
}

void panic(const char *why)                 /* not printf-like: this kernel's own */
{
    puts("panic: ");
    puts(why);
    puts("\n");
    outb(0xF4, 0x11);
    for (;;)
        __asm__ volatile("hlt");
}

uintptr_t __stack_chk_guard = 0x595e9fbdu;  /* -fstack-protector-strong, guard in a global */

void __stack_chk_fail(void)
{
    panic("stack smashed");
}

/* The kernel's own placement allocator, as tutorial kernels start with. */
static u8int placement[8192] __attribute__((aligned(16)));
static u32int placement_used;

uintptr_t kmalloc(u32int size)
{
    uintptr_t p = (uintptr_t)&placement[placement_used];
    placement_used += (size + 15) & ~15u;
    if (placement_used > sizeof placement)
        panic("placement allocator full");
    return p;
}

/* ---- a page allocator for the grow hook: 4 KiB pages out of a static arena ---- */

#define ARENA_PAGES 128
static u8int arena[ARENA_PAGES * 4096] __attribute__((aligned(4096)));
static u32int arena_next, grow_calls, release_calls;
static size_t last_min, granted, released_bytes;

static void *page_grow(kheap_size_t min_bytes, kheap_size_t *got)
{
    u32int pages = (u32int)((min_bytes + 4095) / 4096);
    grow_calls++;
    last_min = min_bytes;
    if (arena_next + pages > ARENA_PAGES)
        return 0;
    void *mem = &arena[arena_next * 4096];
    arena_next += pages;
    *got = (kheap_size_t)pages * 4096;
    granted += *got;
    return mem;
}

static void page_release(void *mem, kheap_size_t size)
{
    release_calls++;
    released_bytes += size;
    if ((u8int *)mem < arena || (u8int *)mem + size > arena + sizeof arena)
        panic("released memory the grow hook did not give");
}

/* ---- the checks, in KTAP ---- */

static int faults;
static struct kheap_fault last_fault;

static void on_fault(const struct kheap_fault *f)
{
    faults++;
    last_fault = *f;
}

static int tests, failures;
static const char *why;

#define CHECK(cond) do { if (!(cond) && !why) why = #cond; } while (0)

static void run(const char *name, void (*fn)(void))
{
    why = 0;
    fn();
    tests++;
    puts(why ? "not ok " : "ok ");
    putnum((u32int)tests);
    puts(" ");
    puts(name);
    if (why) {
        puts(" # ");
        puts(why);
        failures++;
    }
    puts("\n");
}

/* One call before the heap exists: a fault of kind INVALID with no heap. */
static int reported_before_init(void)
{
    int ok = faults == 1 && last_fault.kind == KHEAP_FAULT_INVALID && last_fault.heap == 0;
    faults = 0;
    return ok;
}

static void calls_before_init_are_reported(void)
{
    struct kheap_stats st;
    CHECK(kh_kmalloc(32) == 0 && reported_before_init());
    CHECK(kh_kzalloc(32) == 0 && reported_before_init());
    CHECK(kh_kcalloc(4, 8) == 0 && reported_before_init());
    CHECK(kh_kmalloc_aligned(64, 64) == 0 && reported_before_init());
    CHECK(kh_krealloc(0, 16) == 0 && reported_before_init());
    kh_kfree(placement);
    CHECK(last_fault.ptr == placement && reported_before_init());
    CHECK(kh_ksize(placement) == 0 && reported_before_init());
    CHECK(kh_kmalloc_add_region(arena, 4096) == KHEAP_EINVAL && reported_before_init());
    CHECK(kh_kmalloc_trim() == 0 && reported_before_init());
    kh_kmalloc_get_stats(&st);
    CHECK(st.capacity == 0 && st.regions == 0 && reported_before_init());
    kh_kfree(0);                            /* a no-op, even now */
    CHECK(kh_kmalloc_heap() == 0 && faults == 0);
}

static void its_own_kmalloc_is_its_own(void)
{
    uintptr_t a = kmalloc(100), b = kmalloc(10);
    CHECK(a == (uintptr_t)placement && b == a + 112);
}

static u8int first_region[64 * 1024] __attribute__((aligned(16)));

static void the_heap_serves_after_init(void)
{
    CHECK(kh_kmalloc_init(first_region, sizeof first_region) == 0);
    char *p = kh_kmalloc(1000);
    CHECK(p != 0);
    memset(p, 'k', 1000);
    CHECK(p && p[999] == 'k' && kh_ksize(p) >= 1000);
    kh_kfree(p);
    CHECK(faults == 0 && kheap_check(kh_kmalloc_heap()) == 0);
}

static void *grown_block;

static void it_grows_over_the_page_allocator(void)
{
    kh_kmalloc_set_grow(page_grow, page_release);
    grown_block = kh_kmalloc(200 * 1024);   /* more than the first region */
    CHECK(grown_block != 0 && grow_calls == 1 && last_min >= 200 * 1024);
    memset(grown_block, 'g', 200 * 1024);
    struct kheap_stats st;
    kh_kmalloc_get_stats(&st);
    CHECK(st.regions == 2 && st.live_allocs == 1);
    char *a = kh_kmalloc_aligned(128 * 1024, 64 * 1024);  /* an aligned one grows too */
    CHECK(a && ((uintptr_t)a & 0xFFFF) == 0 && grow_calls == 2);
    kh_kfree(a);
    CHECK(faults == 0 && kheap_check(kh_kmalloc_heap()) == 0);
}

static void trim_gives_grown_regions_back(void)
{
    kh_kfree(grown_block);
    struct kheap_stats before;
    kh_kmalloc_get_stats(&before);
    kheap_size_t released = kh_kmalloc_trim();
    CHECK(released == granted && released_bytes == granted && release_calls == 2);
    struct kheap_stats after;
    kh_kmalloc_get_stats(&after);
    CHECK(before.regions == 3 && after.regions == 1);
    CHECK(kh_kmalloc_trim() == 0);          /* nothing left to give back */
    CHECK(faults == 0 && kheap_check(kh_kmalloc_heap()) == 0);
}

static u8int added_region[32 * 1024] __attribute__((aligned(16)));

static void totals_and_regions_the_kernel_added(void)
{
    CHECK(kh_kmalloc_add_region(added_region, sizeof added_region) == 0);
    struct kheap_stats total, first;
    kh_kmalloc_get_stats(&total);
    kheap_get_stats(kh_kmalloc_heap(), &first);
    CHECK(total.regions == 2 && total.capacity > first.capacity);
    CHECK(total.capacity < sizeof first_region + sizeof added_region);
    CHECK(kh_kmalloc_trim() == 0);          /* never released: the kernel added it */
    kh_kmalloc_set_grow(0, 0);
    CHECK(kh_kmalloc(1024 * 1024) == 0);    /* no hook: a failure */
    kh_kmalloc_get_stats(&total);
    CHECK(total.failed_allocs == 1 && faults == 0);
}

void kmain(void)
{
    puts("KTAP version 1\n1..6\n");
    kheap_set_fault_handler(on_fault);
    run("calls_before_init_are_reported", calls_before_init_are_reported);
    run("its_own_kmalloc_is_its_own", its_own_kmalloc_is_its_own);
    run("the_heap_serves_after_init", the_heap_serves_after_init);
    run("it_grows_over_the_page_allocator", it_grows_over_the_page_allocator);
    run("trim_gives_grown_regions_back", trim_gives_grown_regions_back);
    run("totals_and_regions_the_kernel_added", totals_and_regions_the_kernel_added);
    outb(0xF4, failures ? 0x11 : 0x10);     /* isa-debug-exit: QEMU exits 33 or 35 */
    for (;;)
        __asm__ volatile("hlt");
}
