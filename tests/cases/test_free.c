/* test_free.c - kheap_free and every bad free include/kheap.h lists: each gets its error
 * code, one fault-hook call with the right kind, pointer, heap and caller, and no change. */
#include "ktest.h"

#define NEIGHBOUR 64

/* Three neighbours, a b c, whose bytes must survive every bad free while they are live
 * (b is freed by some tests: its bytes are then no longer the heap's to keep). */
static struct { kheap_t *h; unsigned char *a, *b, *c; bool b_live; } fx;

static bool setup(void)
{
    fx.h = kt_pool(64 * 1024, 0);
    if (!fx.h)
        return false;
    fx.a = kheap_alloc(fx.h, NEIGHBOUR);
    fx.b = kheap_alloc(fx.h, NEIGHBOUR);
    fx.c = kheap_alloc(fx.h, NEIGHBOUR);
    if (!fx.a || !fx.b || !fx.c)
        return false;
    kt_fill(fx.a, NEIGHBOUR, 1);
    kt_fill(fx.b, NEIGHBOUR, 2);
    kt_fill(fx.c, NEIGHBOUR, 3);
    fx.b_live = true;
    return true;
}

/* A separate function, so the fault's caller address can be located. The barrier after
 * the call keeps it a real call (a tail jump would report free_here's own caller). */
static __attribute__((noinline)) int free_here(kheap_t *h, void *p)
{
    int err = kheap_free(h, p);
    __asm__ volatile("" : : : "memory");
    return err;
}

/* kheap_free(fx.h, p) must return err, report kind for p once, and change nothing. */
static void expect_rejected(void *p, int err, enum kheap_fault_kind kind)
{
    struct kheap_stats before = kt_stats(fx.h);
    int faults = kt_faults.count;
    KT_EXPECT(free_here(fx.h, p) == err);
    KT_EXPECT(kt_faults.count == faults + 1);
    KT_EXPECT(kt_faults.last.kind == kind);
    KT_EXPECT(kt_faults.last.ptr == p);
    KT_EXPECT(kt_faults.last.heap == fx.h);
    KT_EXPECT((const char *)kt_faults.last.caller > (const char *)free_here);
    KT_EXPECT((const char *)kt_faults.last.caller < (const char *)free_here + 64);
    struct kheap_stats after = kt_stats(fx.h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT(after.faults == before.faults + 1);
    KT_EXPECT(after.failed_allocs == before.failed_allocs);
    KT_EXPECT(kheap_check(fx.h) == 0);
    KT_EXPECT(kt_intact(fx.a, NEIGHBOUR, 1));
    KT_EXPECT(!fx.b_live || kt_intact(fx.b, NEIGHBOUR, 2));
    KT_EXPECT(kt_intact(fx.c, NEIGHBOUR, 3));
}

KTEST(free_releases_and_counts)
{
    KT_ASSERT(setup());
    struct kheap_stats before = kt_stats(fx.h);
    KT_EXPECT(kheap_free(fx.h, fx.b) == 0);
    struct kheap_stats after = kt_stats(fx.h);
    KT_EXPECT(after.used == before.used - NEIGHBOUR);
    KT_EXPECT(after.live_allocs == before.live_allocs - 1);
    KT_EXPECT(after.total_frees == before.total_frees + 1);
    KT_EXPECT(kheap_usable_size(fx.h, fx.b) == 0);
    KT_EXPECT(kt_intact(fx.a, NEIGHBOUR, 1));
    KT_EXPECT(kt_intact(fx.c, NEIGHBOUR, 3));
    KT_EXPECT(kheap_alloc(fx.h, NEIGHBOUR) == fx.b);       /* the hole is reused */
    KT_EXPECT_EQ(kheap_check(fx.h), 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
}

KTEST(free_null_does_nothing)
{
    KT_ASSERT(setup());
    struct kheap_stats before = kt_stats(fx.h);
    KT_EXPECT(kheap_free(fx.h, 0) == 0);
    struct kheap_stats after = kt_stats(fx.h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT_EQ(after.faults, before.faults);
    KT_EXPECT(kt_faults.count == 0);
}

KTEST(free_foreign_pointer_is_einval)
{
    static unsigned char elsewhere[64];
    KT_ASSERT(setup());
    expect_rejected(elsewhere, KHEAP_EINVAL, KHEAP_FAULT_INVALID);
    expect_rejected(fx.h, KHEAP_EINVAL, KHEAP_FAULT_INVALID);   /* the control block */
}

KTEST(free_past_the_block_area_is_einval)
{
    KT_ASSERT(setup());
    struct kheap_stats st = kt_stats(fx.h);
    unsigned char *end = fx.a + st.capacity;               /* a is block 0 */
    KT_ASSERT(kheap_owns(fx.h, end - 1));
    KT_ASSERT(!kheap_owns(fx.h, end));
    expect_rejected(end, KHEAP_EINVAL, KHEAP_FAULT_INVALID);
    expect_rejected(fx.a - KHEAP_DEFAULT_BLOCK, KHEAP_EINVAL, KHEAP_FAULT_INVALID);
}

KTEST(free_misaligned_pointer_is_einval)
{
    KT_ASSERT(setup());
    expect_rejected(fx.b + 1, KHEAP_EINVAL, KHEAP_FAULT_INVALID);
    expect_rejected(fx.b + 8, KHEAP_EINVAL, KHEAP_FAULT_INVALID);
    expect_rejected(fx.c + NEIGHBOUR + 4, KHEAP_EINVAL, KHEAP_FAULT_INVALID); /* free area */
}

KTEST(free_interior_pointer_is_einterior)
{
    KT_ASSERT(setup());
    expect_rejected(fx.b + 16, KHEAP_EINTERIOR, KHEAP_FAULT_INTERIOR);
    expect_rejected(fx.b + NEIGHBOUR - 16, KHEAP_EINTERIOR, KHEAP_FAULT_INTERIOR);
}

KTEST(double_free_is_edouble)
{
    KT_ASSERT(setup());
    KT_EXPECT(kheap_free(fx.h, fx.b) == 0);
    fx.b_live = false;
    expect_rejected(fx.b, KHEAP_EDOUBLE, KHEAP_FAULT_DOUBLE_FREE);
    expect_rejected(fx.b, KHEAP_EDOUBLE, KHEAP_FAULT_DOUBLE_FREE);  /* and again */
}

KTEST(free_of_never_allocated_block_is_edouble)
{
    KT_ASSERT(setup());
    expect_rejected(fx.c + NEIGHBOUR, KHEAP_EDOUBLE, KHEAP_FAULT_DOUBLE_FREE);
    expect_rejected(fx.c + 4 * NEIGHBOUR, KHEAP_EDOUBLE, KHEAP_FAULT_DOUBLE_FREE);
}

KTEST(free_into_the_wrong_pool_is_einval)
{
    KT_ASSERT(setup());
    kheap_t *other = kt_pool(16 * 1024, 0);
    KT_ASSERT(other);
    unsigned char *x = kheap_alloc(other, 32);
    KT_ASSERT(x);
    kt_fill(x, 32, 4);
    struct kheap_stats other_before = kt_stats(other);
    expect_rejected(x, KHEAP_EINVAL, KHEAP_FAULT_INVALID);
    struct kheap_stats other_after = kt_stats(other);
    KT_EXPECT(kt_stats_same(&other_before, &other_after));
    KT_EXPECT_EQ(other_after.faults, 0);
    KT_EXPECT(kt_intact(x, 32, 4));
    KT_EXPECT(kheap_free(other, x) == 0);
}

KTEST(free_with_null_heap_is_einval)
{
    KT_ASSERT(setup());
    struct kheap_stats before = kt_stats(fx.h);
    KT_EXPECT(kheap_free(0, fx.b) == KHEAP_EINVAL);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INVALID);
    KT_EXPECT_EQ(kt_faults.last.heap, 0);
    KT_EXPECT_EQ(kt_faults.last.ptr, fx.b);
    struct kheap_stats after = kt_stats(fx.h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT(kt_intact(fx.b, NEIGHBOUR, 2));
}

static int walk_nothing(void *ctx, void *p, size_t size, bool used)
{
    (void)ctx, (void)p, (void)size, (void)used;
    return 0;
}

KTEST(damaged_handle_is_refused_and_left_alone)
{
    KT_ASSERT(setup());
    uintptr_t *magic = (uintptr_t *)fx.h + CB_MAGIC;       /* a wild write over the handle */
    uintptr_t saved = *magic;
    *magic ^= 0x10;
    KT_EXPECT(kheap_alloc(fx.h, 16) == 0);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT_EQ(kt_faults.last.ptr, fx.h);
    KT_EXPECT_EQ(kt_faults.last.heap, fx.h);
    KT_EXPECT(kheap_free(fx.h, fx.b) == KHEAP_ECORRUPT);
    KT_EXPECT(kheap_check(fx.h) == KHEAP_ECORRUPT);
    KT_EXPECT(kheap_realloc(fx.h, fx.b, 200) == 0);
    KT_EXPECT(kheap_walk(fx.h, walk_nothing, 0) == KHEAP_ECORRUPT);
    KT_EXPECT(kheap_usable_size(fx.h, fx.b) == 0);
    KT_EXPECT(kt_stats(fx.h).capacity == 0);               /* no stats from a damaged pool */
    KT_EXPECT(kt_faults.count == 5);                       /* the two queries report nothing */
    KT_EXPECT(*magic == (saved ^ 0x10));                   /* nothing was written to it */
    *magic = saved;                                        /* repaired, all is as before */
    KT_EXPECT(kheap_check(fx.h) == 0);
    KT_EXPECT_EQ(kt_stats(fx.h).faults, 0);
    KT_EXPECT_EQ(kt_stats(fx.h).live_allocs, 3);
    KT_EXPECT(kt_intact(fx.b, NEIGHBOUR, 2));
    KT_EXPECT(kheap_free(fx.h, fx.b) == 0);
}

/* An allocation's length comes from the bitmaps through the boundary summary, whatever its
 * length: followed by another allocation, by free blocks, or by the end of the pool. */
KTEST(long_allocations_are_measured_exactly)
{
    kheap_t *h = kt_pool_flags(1024 * 1024, 16, KHEAP_F_NOCACHE);
    KT_ASSERT(h);
    size_t cap = kt_stats(h).capacity;
    unsigned char *a = kheap_alloc(h, 200 * 1024), *b = kheap_alloc(h, 16);
    unsigned char *c = kheap_alloc(h, 100 * 1024 + 16);
    KT_ASSERT(a && b && c);
    KT_EXPECT_EQ(kheap_usable_size(h, a), 200 * 1024);      /* a start follows */
    KT_EXPECT_EQ(kheap_usable_size(h, c), 100 * 1024 + 16);  /* free blocks follow */
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    KT_EXPECT_EQ(kheap_usable_size(h, a), 200 * 1024);      /* a free block follows */
    size_t rest = cap - kt_stats(h).used;
    unsigned char *d = kheap_alloc(h, rest - 16);           /* up to the pool's end */
    KT_ASSERT(d);
    KT_EXPECT_EQ(kheap_usable_size(h, d), rest - 16);
    KT_EXPECT_EQ(kheap_free(h, a), 0);
    KT_EXPECT_EQ(kheap_free(h, d), 0);
    KT_EXPECT_EQ(kheap_free(h, c), 0);
    KT_EXPECT_EQ(kt_stats(h).used, 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}
