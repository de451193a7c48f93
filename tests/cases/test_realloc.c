/* test_realloc.c - kheap_realloc: the NULL and zero rules, shrink and grow in place, moves,
 * failures that keep the old block, and bad pointers. */
#include "ktest.h"

KTEST(realloc_null_allocates)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    void *p = kheap_realloc(h, 0, 100);
    KT_ASSERT(p != 0);
    KT_EXPECT_EQ(kheap_usable_size(h, p), 112);
    KT_EXPECT(kt_stats(h).live_allocs == 1);
    KT_EXPECT(kheap_realloc(h, 0, 0) == 0);
    KT_EXPECT(kt_stats(h).failed_allocs == 0);
}

KTEST(realloc_to_zero_frees)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    void *p = kheap_alloc(h, 100);
    KT_ASSERT(p);
    KT_EXPECT(kheap_realloc(h, p, 0) == 0);
    KT_EXPECT(kheap_usable_size(h, p) == 0);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.live_allocs, 0);
    KT_EXPECT_EQ(st.total_frees, 1);
    KT_EXPECT_EQ(st.used, 0);
    KT_EXPECT_EQ(st.failed_allocs, 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
}

KTEST(realloc_same_block_count_keeps_pointer)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 100);
    KT_ASSERT(p);
    kt_fill(p, 100, 1);
    struct kheap_stats before = kt_stats(h);
    KT_EXPECT(kheap_realloc(h, p, 112) == p);
    KT_EXPECT(kheap_realloc(h, p, 97) == p);
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT(kt_intact(p, 97, 1));
}

KTEST(realloc_shrinks_in_place)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 1000), *after = kheap_alloc(h, 16);
    KT_ASSERT(p);
    KT_ASSERT(after);
    kt_fill(p, 1000, 2);
    KT_EXPECT(kheap_realloc(h, p, 100) == p);
    KT_EXPECT(kheap_usable_size(h, p) == 112);
    KT_EXPECT(kt_intact(p, 100, 2));
    KT_EXPECT(kt_stats(h).used == 112 + 16);
    KT_EXPECT(kheap_alloc(h, 800) == p + 112);            /* the freed tail is reusable */
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(realloc_grows_in_place_when_followed_by_free_blocks)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 100), *gap = kheap_alloc(h, 400);
    unsigned char *wall = kheap_alloc(h, 16);
    KT_ASSERT(p);
    KT_ASSERT(gap);
    KT_ASSERT(wall);
    KT_EXPECT(kheap_free(h, gap) == 0);
    kt_fill(p, 100, 3);
    KT_EXPECT(kheap_realloc(h, p, 512) == p);             /* 112 + 400 = 512: fits exactly */
    KT_EXPECT(kheap_usable_size(h, p) == 512);
    KT_EXPECT(kt_intact(p, 100, 3));
    KT_EXPECT(kheap_usable_size(h, wall) == 16);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.used, 512 + 16);
    KT_EXPECT(st.peak_used >= st.used);
    KT_EXPECT_EQ(st.live_allocs, 2);
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(realloc_moves_when_blocked_and_keeps_contents)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 100), *wall = kheap_alloc(h, 16);
    KT_ASSERT(p);
    KT_ASSERT(wall);
    kt_fill(p, 100, 4);
    kt_fill(wall, 16, 5);
    unsigned char *q = kheap_realloc(h, p, 300);
    KT_ASSERT(q != 0);
    KT_EXPECT(q != p);
    KT_EXPECT(q == wall + 16);                            /* the tail after the wall */
    KT_EXPECT(kt_intact(q, 100, 4));
    KT_EXPECT(kt_intact(wall, 16, 5));
    KT_EXPECT(kheap_usable_size(h, p) == 0);              /* the old block was freed */
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.live_allocs, 2);
    KT_EXPECT_EQ(st.used, 304 + 16);
    KT_EXPECT(st.total_allocs - st.total_frees == st.live_allocs);
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(realloc_failure_keeps_the_old_block)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 200), *wall = kheap_alloc(h, 16);
    KT_ASSERT(p);
    KT_ASSERT(wall);
    kt_fill(p, 200, 6);
    struct kheap_stats before = kt_stats(h);
    KT_EXPECT(kheap_realloc(h, p, before.capacity) == 0);
    KT_EXPECT(kheap_realloc(h, p, SIZE_MAX) == 0);
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT(after.failed_allocs == before.failed_allocs + 2);
    KT_EXPECT(kheap_usable_size(h, p) == 208);
    KT_EXPECT(kt_intact(p, 200, 6));
    KT_EXPECT(kt_faults.count == 0);
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(realloc_of_a_bad_pointer_changes_nothing)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 200), *gone = kheap_alloc(h, 32);
    KT_ASSERT(p);
    KT_ASSERT(gone);
    KT_EXPECT(kheap_free(h, gone) == 0);
    kt_fill(p, 200, 7);
    struct kheap_stats before = kt_stats(h);
    KT_EXPECT(kheap_realloc(h, p + 32, 50) == 0);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INTERIOR);
    KT_EXPECT_EQ(kt_faults.last.ptr, p + 32);
    KT_EXPECT(kheap_realloc(h, gone, 50) == 0);
    KT_EXPECT(kt_faults.last.kind == KHEAP_FAULT_DOUBLE_FREE);
    KT_EXPECT(kheap_realloc(h, p + 3, 0) == 0);           /* even as a free */
    KT_EXPECT(kt_faults.last.kind == KHEAP_FAULT_INVALID);
    KT_EXPECT(kt_faults.count == 3);
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT_EQ(after.faults, before.faults + 3);
    KT_EXPECT(kt_intact(p, 200, 7));
    KT_EXPECT(kheap_check(h) == 0);
}
