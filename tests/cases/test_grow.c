/* test_grow.c - the kernel heap grown on demand and given back: kmalloc_set_grow's hooks
 * over a page allocator made of scratch memory, kmalloc_trim, kmalloc_get_stats. */
#include "ktest.h"

#define PAGE 4096u

static unsigned char *arena;
static size_t arena_size, arena_used, last_min, released;
static int grows, releases;

static void *grant(size_t min_bytes, size_t *got)
{
    size_t n = (min_bytes + PAGE - 1) & ~(size_t)(PAGE - 1);
    grows++;
    last_min = min_bytes;
    if (n > arena_size - arena_used)
        return 0;
    void *p = arena + arena_used;
    arena_used += n;
    *got = n;
    return p;
}

static void give_back(void *mem, size_t size)
{
    KT_EXPECT((unsigned char *)mem >= arena && (unsigned char *)mem + size <= arena + arena_size);
    releases++;
    released += size;
}

/* A kernel heap of `first` bytes that may grow by up to `pages` pages; false when the scratch
 * memory is short (the test has failed then). */
static bool grown_heap(size_t first, size_t pages, unsigned flags)
{
    arena_size = pages * PAGE;
    arena = kt_mem(arena_size, PAGE);
    arena_used = released = 0;
    grows = releases = 0;
    void *mem = kt_mem(first, 16);
    if (!arena || !mem || kmalloc_init_flags(mem, first, flags) != 0)
        return false;
    kmalloc_set_grow(grant, give_back);
    return true;
}

static struct kheap_stats totals(void)
{
    struct kheap_stats st;
    kmalloc_get_stats(&st);
    return st;
}

KTEST(grow_adds_a_region_when_none_can_serve)
{
    KT_ASSERT(grown_heap(16 * 1024, 64, 0));
    char *p = kmalloc(48 * 1024);
    KT_ASSERT(p != 0);
    kt_fill(p, 48 * 1024, 1);
    KT_EXPECT_EQ(grows, 1);
    KT_EXPECT(last_min >= 48 * 1024);
    KT_EXPECT_EQ(totals().regions, 2);
    KT_EXPECT_EQ(totals().failed_allocs, 0);         /* served: not a failure */
    KT_EXPECT(kmalloc(100) != 0);                   /* no growth for what fits */
    KT_EXPECT_EQ(grows, 1);
    KT_EXPECT(kt_intact(p, 48 * 1024, 1));
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
    kmalloc_set_grow(0, 0);
}

/* Pages straight from the scratch memory, fresh for every region. */
static void *grant_fresh(size_t min_bytes, size_t *got)
{
    size_t n = (min_bytes + PAGE - 1) & ~(size_t)(PAGE - 1);
    void *p = kt_mem(n, PAGE);
    grows++;
    *got = n;
    return p;
}

/* min_bytes is always enough: one growth serves any size at any alignment, debug pools too. */
KTEST(grow_asks_enough_for_any_request)
{
    static const size_t sizes[] = { 1, 1000, 10 * 1024, 100 * 1024, 300 * 1024 };
    static const size_t aligns[] = { 16, PAGE, 64 * 1024 };
    for (unsigned debug = 0; debug < 2; debug++)
        for (unsigned s = 0; s < 5; s++)
            for (unsigned a = 0; a < 3; a++) {
                void *mem = kt_mem(4096, 16);       /* (fresh: no pool was ever there) */
                KT_ASSERT(mem != 0);
                grows = 0;
                KT_ASSERT(kmalloc_init_flags(mem, 4096, debug ? KHEAP_F_DEBUG : 0) == 0);
                kmalloc_set_grow(grant_fresh, 0);
                size_t room = kt_stats(kmalloc_heap()).largest_free;
                KT_ASSERT(kmalloc(room - (debug ? KHEAP_GUARD_MIN : 0)) != 0);  /* full */
                KT_EXPECT_EQ(grows, 0);
                void *p = kmalloc_aligned(sizes[s], aligns[a]);
                KT_EXPECT(p != 0);
                KT_EXPECT_EQ((uintptr_t)p % aligns[a], 0);
                KT_EXPECT_EQ(grows, 1);
                KT_EXPECT(ksize(p) >= sizes[s]);
                KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
            }
    kmalloc_set_grow(0, 0);
}

KTEST(grow_that_gives_nothing_fails_the_request)
{
    KT_ASSERT(grown_heap(8 * 1024, 2, 0));
    KT_EXPECT(kmalloc(64 * 1024) == 0);
    KT_EXPECT_EQ(grows, 1);
    KT_EXPECT_EQ(totals().failed_allocs, 1);
    KT_EXPECT_EQ(totals().regions, 1);
    kmalloc_set_grow(0, 0);
}

KTEST(an_injected_failure_never_grows)
{
    KT_ASSERT(grown_heap(8 * 1024, 64, 0));
    kheap_fail_nth(1);
    KT_EXPECT(kmalloc(64 * 1024) == 0);
    KT_EXPECT_EQ(grows, 0);
    KT_EXPECT(kmalloc(64 * 1024) != 0);             /* served again, by growing */
    KT_EXPECT_EQ(grows, 1);
    kmalloc_set_grow(0, 0);
}

KTEST(krealloc_moves_into_a_grown_region)
{
    KT_ASSERT(grown_heap(16 * 1024, 64, 0));
    char *p = kmalloc(1000);
    KT_ASSERT(p != 0);
    kt_fill(p, 1000, 7);
    char *q = krealloc(p, 100 * 1024);
    KT_ASSERT(q != 0);
    KT_EXPECT_EQ(grows, 1);
    KT_EXPECT(kt_intact(q, 1000, 7));
    KT_EXPECT_EQ(totals().live_allocs, 1);
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
    kmalloc_set_grow(0, 0);
}

KTEST(trim_releases_grown_regions_that_are_all_free)
{
    KT_ASSERT(grown_heap(8 * 1024, 256, 0));
    void *added = kt_mem(64 * 1024, 16);            /* a region the kernel adds itself */
    KT_ASSERT(added != 0);
    KT_EXPECT_EQ(kmalloc_add_region(added, 64 * 1024), 0);
    void *a = kmalloc(100 * 1024), *b = kmalloc(100 * 1024);
    KT_ASSERT(a && b);
    kt_fill(b, 100 * 1024, 9);
    KT_EXPECT_EQ(grows, 2);
    KT_EXPECT_EQ(totals().regions, 4);
    size_t all = arena_used;
    KT_EXPECT_EQ(kmalloc_trim(), 0);                /* both grown regions hold a block */
    kfree(a);
    size_t one = kmalloc_trim();
    KT_EXPECT(one > 100 * 1024);
    KT_EXPECT_EQ(releases, 1);
    KT_EXPECT_EQ(totals().regions, 3);
    KT_EXPECT(kt_intact(b, 100 * 1024, 9));       /* the other region untouched */
    kfree(b);
    KT_EXPECT_EQ(kmalloc_trim() + one, all);        /* every grown byte back */
    KT_EXPECT_EQ(released, all);
    KT_EXPECT_EQ(totals().regions, 2);              /* the first and the added one stay */
    KT_EXPECT_EQ(kmalloc_trim(), 0);
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
    kmalloc_set_grow(0, 0);
}

/* A heap of 8 KiB that grew one region for a 64 KiB allocation, freed again: the region
 * stays until trimmed. */
static bool grown_then_freed(void)
{
    if (!grown_heap(8 * 1024, 64, 0))
        return false;
    void *p = kmalloc(64 * 1024);
    kfree(p);
    return p != 0;
}

KTEST(trim_without_a_release_hook_gives_nothing)
{
    KT_ASSERT(grown_then_freed());
    kmalloc_set_grow(grant, 0);
    KT_EXPECT_EQ(kmalloc_trim(), 0);
    KT_EXPECT_EQ(totals().regions, 2);
    kmalloc_set_grow(0, 0);
}

/* The totals add each region's stats; the largest free run is the largest of any region. */
KTEST(get_stats_adds_up_every_region)
{
    KT_ASSERT(grown_heap(16 * 1024, 64, 0));
    void *p = kmalloc(40 * 1024), *q = kmalloc(200);
    KT_ASSERT(p && q);
    struct kheap_stats t = totals(), first = kt_stats(kmalloc_heap());
    struct kheap_stats grown = kt_stats((kheap_t *)arena);  /* the handle: its region's start */
    KT_EXPECT_EQ(t.regions, 2);
    KT_EXPECT_EQ(t.block_size, 16);
    KT_EXPECT_EQ(t.capacity, first.capacity + grown.capacity);
    KT_EXPECT_EQ(t.used, first.used + grown.used);
    KT_EXPECT_EQ(t.live_allocs, 2);
    KT_EXPECT_EQ(t.total_allocs, first.total_allocs + grown.total_allocs);
    KT_EXPECT_EQ(t.largest_free, first.largest_free > grown.largest_free ? first.largest_free
                                                                        : grown.largest_free);
    KT_EXPECT_EQ(first.regions, 1);
    kmalloc_set_grow(0, 0);
}

static int lock_depth, depth_in_grow = -1;

static uintptr_t take_lock(void)
{
    return (uintptr_t)++lock_depth;
}

static void drop_lock(uintptr_t state)
{
    KT_EXPECT_EQ(state, (uintptr_t)lock_depth);
    lock_depth--;
}

static void *grant_unlocked(size_t min_bytes, size_t *got)
{
    depth_in_grow = lock_depth;
    return grant(min_bytes, got);
}

/* The grow hook runs with the lock released, and the call holds it again after. */
KTEST(grow_runs_with_the_lock_released)
{
    KT_ASSERT(grown_heap(8 * 1024, 64, 0));
    kmalloc_set_grow(grant_unlocked, give_back);
    kheap_set_lock(take_lock, drop_lock);
    KT_EXPECT(kmalloc(64 * 1024) != 0);
    kheap_set_lock(0, 0);
    KT_EXPECT_EQ(depth_in_grow, 0);
    KT_EXPECT_EQ(lock_depth, 0);
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
    kmalloc_set_grow(0, 0);
}

/* A request no region could ever hold does not ask the hook. */
KTEST(grow_is_not_asked_for_the_impossible)
{
    KT_ASSERT(grown_heap(8 * 1024, 64, 0));
    KT_EXPECT(kmalloc(SIZE_MAX / 2) == 0);
    KT_EXPECT_EQ(grows, 0);
    KT_EXPECT_EQ(totals().failed_allocs, 1);
    kmalloc_set_grow(0, 0);
}

/* A damaged first region: trim follows no link of it, reports it and releases nothing. */
KTEST(trim_refuses_a_damaged_chain)
{
    KT_ASSERT(grown_then_freed());
    uintptr_t *magic = (uintptr_t *)kmalloc_heap() + CB_MAGIC;
    *magic ^= 1;
    KT_EXPECT_EQ(kmalloc_trim(), 0);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    *magic ^= 1;
    KT_EXPECT(kmalloc_trim() > 64 * 1024);
    KT_EXPECT_EQ(releases, 1);
    kmalloc_set_grow(0, 0);
}
