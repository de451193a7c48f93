/* test_alloc.c - kheap_alloc and kheap_calloc: placement, bounds, sizes, exhaustion and
 * full recovery, and the NULL rules of include/kheap.h for allocation. */
#include "ktest.h"

KTEST(alloc_zero_is_null_and_not_a_failure)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats before = kt_stats(h);
    KT_EXPECT(kheap_alloc(h, 0) == 0);
    KT_EXPECT(kheap_calloc(h, 0, 16) == 0);
    KT_EXPECT(kheap_calloc(h, 16, 0) == 0);
    KT_EXPECT(kheap_alloc_aligned(h, 0, 64) == 0);
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT_EQ(after.failed_allocs, 0);
    KT_EXPECT_EQ(after.faults, 0);
    KT_EXPECT(kt_faults.count == 0);
}

KTEST(alloc_null_heap_is_null)
{
    KT_EXPECT(kheap_alloc(0, 16) == 0);
    KT_EXPECT(kheap_alloc_aligned(0, 16, 64) == 0);
    KT_EXPECT(kheap_calloc(0, 1, 16) == 0);
    KT_EXPECT(kheap_usable_size(0, (void *)16) == 0);
    KT_EXPECT(!kheap_owns(0, (void *)16));
}

KTEST(alloc_returns_aligned_pointers_inside_the_pool)
{
    kheap_t *h = kt_pool(128 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats st = kt_stats(h);
    for (size_t size = 1; size < 3000; size += 97) {
        unsigned char *p = kheap_alloc(h, size);
        KT_ASSERT(p != 0);
        KT_EXPECT((uintptr_t)p % st.block_size == 0);
        KT_EXPECT(kheap_owns(h, p));
        KT_EXPECT(kheap_owns(h, p + size - 1));
        KT_EXPECT(kheap_usable_size(h, p) >= size);
        KT_EXPECT(kheap_usable_size(h, p) < size + st.block_size);
    }
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(alloc_takes_the_smallest_class_that_holds_it)
{
    kheap_t *h = kt_pool_flags(64 * 1024, 0, KHEAP_F_NOCACHE);     /* the index alone */
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc(h, 64), *b = kheap_alloc(h, 64), *c = kheap_alloc(h, 64);
    unsigned char *d = kheap_alloc(h, 256), *e = kheap_alloc(h, 64);
    KT_ASSERT(a);
    KT_ASSERT(b);
    KT_ASSERT(c);
    KT_ASSERT(d);
    KT_ASSERT(e);
    KT_EXPECT_EQ(b, a + 64);
    KT_EXPECT_EQ(c, b + 64);
    KT_EXPECT_EQ(d, c + 64);
    KT_EXPECT_EQ(e, d + 256);
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    KT_EXPECT_EQ(kheap_free(h, d), 0);
    KT_EXPECT(kheap_alloc(h, 100) == d);                  /* b's 64-byte hole is too small */
    KT_EXPECT(kheap_alloc(h, 32) == b);                   /* b's 4 blocks: the smallest class */
    KT_EXPECT(kheap_alloc(h, 32) == b + 32);              /* the rest of it, 2 blocks */
    KT_EXPECT(kheap_alloc(h, 16) == d + 112);             /* d's 9 left before the tail */
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(alloc_contents_stay_as_written)
{
    kheap_t *h = kt_pool(256 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p[64];
    size_t n[64];
    for (unsigned i = 0; i < 64; i++) {
        n[i] = kt_range(1, 2000);
        p[i] = kheap_alloc(h, n[i]);
        KT_ASSERT(p[i] != 0);
        kt_fill(p[i], n[i], i);
    }
    for (unsigned i = 0; i < 64; i += 2)
        KT_EXPECT(kheap_free(h, p[i]) == 0);
    for (unsigned i = 0; i < 64; i += 2) {                /* reuse the holes */
        p[i] = kheap_alloc(h, n[i]);
        KT_ASSERT(p[i] != 0);
        kt_fill(p[i], n[i], 100 + i);
    }
    for (unsigned i = 0; i < 64; i++) {
        KT_EXPECT(kt_intact(p[i], n[i], (i % 2) ? i : 100 + i));
        for (unsigned j = 0; j < i; j++)                  /* no two allocations overlap */
            KT_EXPECT(p[i] + n[i] <= p[j] || p[j] + n[j] <= p[i]);
    }
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(alloc_too_large_fails_and_changes_nothing)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *keep = kheap_alloc(h, 100);
    KT_ASSERT(keep);
    kt_fill(keep, 100, 5);
    struct kheap_stats before = kt_stats(h);
    KT_EXPECT(kheap_alloc(h, before.capacity) == 0);      /* one block is taken */
    KT_EXPECT(kheap_alloc(h, SIZE_MAX) == 0);
    KT_EXPECT(kheap_alloc(h, SIZE_MAX - 8) == 0);         /* rounding up would overflow */
    KT_EXPECT(kheap_calloc(h, SIZE_MAX / 2, 3) == 0);     /* n * size overflows */
    size_t half = (size_t)1 << (KT_WORD_BITS / 2);        /* half * half: exactly 2^bits */
    KT_EXPECT_PTR_EQ(kheap_calloc(h, half, half), 0);     /* overflows */
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT(after.failed_allocs == before.failed_allocs + 5);
    KT_EXPECT(kt_faults.count == 0);
    KT_EXPECT(kheap_check(h) == 0);
    KT_EXPECT(kt_intact(keep, 100, 5));
}

KTEST(alloc_exhaustion_then_full_recovery)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats st = kt_stats(h);
    static void *p[8192];
    unsigned n = 0;
    size_t want = 0;
    for (; n < 8192; n++) {
        want = kt_range(1, 100);
        if (!(p[n] = kheap_alloc(h, want)))
            break;
    }
    KT_EXPECT(n < 8192);
    struct kheap_stats full = kt_stats(h);
    KT_EXPECT(full.failed_allocs == 1);
    KT_EXPECT(full.live_allocs == n);
    KT_EXPECT(full.largest_free < want);                  /* it failed for want of room */
    KT_EXPECT(kheap_check(h) == 0);
    for (unsigned i = 0; i < n; i += 2)                   /* free in two interleaved passes */
        KT_EXPECT(kheap_free(h, p[i]) == 0);
    for (unsigned i = 1; i < n; i += 2)
        KT_EXPECT(kheap_free(h, p[i]) == 0);
    struct kheap_stats empty = kt_stats(h);
    KT_EXPECT_EQ(empty.used, 0);
    KT_EXPECT_EQ(empty.live_allocs, 0);
    KT_EXPECT(empty.largest_free == st.capacity);
    void *all = kheap_alloc(h, st.capacity);
    KT_EXPECT(all != 0);
    KT_EXPECT(kheap_usable_size(h, all) == st.capacity);
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(usable_size_is_zero_for_anything_not_live)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc(h, 100), *b = kheap_alloc(h, 10);
    KT_ASSERT(a);
    KT_ASSERT(b);
    KT_EXPECT(kheap_usable_size(h, a) == 112);
    KT_EXPECT(kheap_usable_size(h, 0) == 0);
    KT_EXPECT(kheap_usable_size(h, a + 16) == 0);         /* interior */
    KT_EXPECT(kheap_usable_size(h, a + 1) == 0);          /* misaligned */
    KT_EXPECT(kheap_usable_size(h, &h) == 0);             /* foreign */
    KT_EXPECT(kheap_usable_size(h, (void *)h) == 0);      /* the control block */
    KT_EXPECT(kheap_free(h, b) == 0);
    KT_EXPECT(kheap_usable_size(h, b) == 0);              /* freed */
    KT_EXPECT(kt_faults.count == 0);                      /* a query never reports */
}

KTEST(owns_is_exactly_the_block_area)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats st = kt_stats(h);
    unsigned char *p = kheap_alloc(h, st.capacity);
    KT_ASSERT(p);
    KT_EXPECT(kheap_owns(h, p));
    KT_EXPECT(kheap_owns(h, p + st.capacity - 1));
    KT_EXPECT(!kheap_owns(h, p + st.capacity));
    KT_EXPECT(!kheap_owns(h, p - 1));
    KT_EXPECT(!kheap_owns(h, h));
    KT_EXPECT(!kheap_owns(h, 0));
}

KTEST(calloc_zeroes_reused_memory)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *dirty = kheap_alloc(h, 4096);
    KT_ASSERT(dirty);
    kt_fill(dirty, 4096, 9);
    KT_EXPECT(kheap_free(h, dirty) == 0);
    unsigned char *z = kheap_calloc(h, 100, 40);
    KT_ASSERT(z == dirty);                                /* the smallest class: the dirty run */
    KT_EXPECT(kt_all_bytes(z, kheap_usable_size(h, z), 0));
    KT_EXPECT(kheap_usable_size(h, z) >= 4000);
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(alloc_of_more_than_65536_blocks_spans_many_words)
{
    /* 70,000 blocks: a run longer than 2^16 blocks, across more than 1,000 bitmap words */
    kheap_t *h = kt_pool(3u << 20, 16);
    KT_ASSERT(h);
    size_t big = (size_t)70000 * 16;
    unsigned char *small = kheap_alloc(h, 16), *a = kheap_alloc(h, big);
    KT_ASSERT(small);
    KT_ASSERT(a);
    KT_EXPECT_EQ(a, small + 16);
    KT_EXPECT_EQ(kheap_usable_size(h, a), big);
    KT_EXPECT(kheap_free(h, small) == 0);
    unsigned char *b = kheap_alloc(h, big);             /* after a: the hole is too small */
    KT_EXPECT(b == a + big);
    KT_EXPECT(kheap_alloc(h, kt_stats(h).largest_free + 16) == 0);
    KT_EXPECT_EQ(kheap_free(h, a), 0);
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    KT_EXPECT(kheap_alloc(h, kt_stats(h).capacity) != 0);
    KT_EXPECT(kheap_check(h) == 0);
}

/* The top run (the free run that reaches the pool's end) keeps no header: allocations cut
 * from its front, plain and aligned, write nothing into what lies past them, and the bytes
 * there stay as they were. */
KTEST(fills_from_the_top_run_write_nothing_past_them)
{
    kheap_t *h = kt_pool_flags(64 * 1024, 0, KHEAP_F_NOCACHE);
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc(h, 64);
    KT_ASSERT(a);
    unsigned char *far = a + 64 + 4096, *limit = (unsigned char *)((uintptr_t *)h)[CB_LIMIT];
    KT_ASSERT(far < limit);
    ktest_expose(far, (size_t)(limit - far));   /* (free memory, written by the test alone) */
    kt_fill(far, (size_t)(limit - far), 41);
    unsigned char *b = kheap_alloc(h, 100), *c = kheap_alloc_aligned(h, 64, 1024);
    unsigned char *d = kheap_alloc(h, 2000);
    KT_ASSERT(b && c && d);
    KT_EXPECT_PTR_EQ(b, a + 64);                        /* the top run's front */
    KT_EXPECT_EQ((uintptr_t)c % 1024, 0);
    KT_EXPECT(c > b && c - b < 112 + 1024);             /* its first aligned block */
    KT_EXPECT_PTR_EQ(d, c + 64);                        /* the top run starts past c */
    KT_EXPECT(d + 2000 <= far);
    KT_EXPECT(kt_intact(far, (size_t)(limit - far), 41));
    KT_EXPECT_EQ(kheap_check(h), 0);
}
