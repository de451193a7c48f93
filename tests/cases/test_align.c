/* test_align.c - kheap_alloc_aligned: every power of two up to 1 MiB, the first aligned place
 * of the run it takes, bad alignments, and alignments below the block size. */
#include "ktest.h"

/* What the walk reports first: the run or allocation at block 0. */
struct first { uintptr_t p; size_t size; bool used; };

static int first_run(void *ctx, void *p, size_t size, bool used)
{
    *(struct first *)ctx = (struct first){ (uintptr_t)p, size, used };
    return 1;
}

static struct first walk_first(kheap_t *h)
{
    struct first at = { 0 };
    KT_EXPECT(kheap_walk(h, first_run, &at) == 1);
    return at;
}

KTEST(aligned_every_power_of_two_up_to_1mib)
{
    kheap_t *h = kt_pool(5u * 1024 * 1024, 0);
    KT_ASSERT(h);
    void *p[17];
    unsigned n = 0;
    for (size_t align = 16; align <= 1024 * 1024; align <<= 1, n++) {
        size_t size = 24 + n * 40;
        p[n] = kheap_alloc_aligned(h, size, align);
        KT_ASSERT(p[n] != 0);
        KT_EXPECT((uintptr_t)p[n] % align == 0);
        KT_EXPECT(kheap_usable_size(h, p[n]) >= size);
        kt_fill(p[n], size, n);
    }
    for (unsigned i = 0; i < n; i++)
        KT_EXPECT(kt_intact(p[i], 24 + i * 40, i));
    KT_EXPECT(kheap_check(h) == 0);
    for (unsigned i = 0; i < n; i++)
        KT_EXPECT(kheap_free(h, p[i]) == 0);
    KT_EXPECT(kt_stats(h).used == 0);
}

KTEST(aligned_takes_the_first_aligned_place_of_its_run)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    uintptr_t base = walk_first(h).p;
    uintptr_t want = (base + 255) & ~(uintptr_t)255;
    unsigned char *a = kheap_alloc_aligned(h, 16, 256);
    KT_EXPECT((uintptr_t)a == want);
    unsigned char *b = kheap_alloc_aligned(h, 300, 256);  /* a's run blocks want */
    KT_EXPECT((uintptr_t)b == want + 256);
    if (want > base) {                                    /* the gap below a stays a free run */
        struct first gap = walk_first(h);
        KT_EXPECT(gap.p == base && gap.size == want - base && !gap.used);
    }
    void *c = kheap_alloc_aligned(h, 16, 256);            /* b ends at +560: next is +768 */
    KT_EXPECT((uintptr_t)c == want + 768);
    KT_EXPECT(kheap_check(h) == 0);
}

/* Page-aligned requests of 1600 blocks from one long free run: each at the first aligned
 * block of what is left of it. */
KTEST(aligned_long_requests_take_the_first_aligned_block_of_the_run)
{
    kheap_t *h = kt_pool(64 * 1024, 16);
    KT_ASSERT(h);
    uintptr_t base = walk_first(h).p;
    unsigned char *a = kheap_alloc(h, 16);
    KT_EXPECT((uintptr_t)a == base);
    size_t size = 1600 * 16;
    uintptr_t want = (base + 16 + 4095) & ~(uintptr_t)4095;
    unsigned char *b = kheap_alloc_aligned(h, size, 4096);
    KT_EXPECT((uintptr_t)b == want);
    unsigned char *c = kheap_alloc_aligned(h, size, 4096);
    KT_EXPECT((uintptr_t)c == ((want + size + 4095) & ~(uintptr_t)4095));
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(aligned_bad_alignment_is_a_failure)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats before = kt_stats(h);
    KT_EXPECT(kheap_alloc_aligned(h, 16, 0) == 0);
    KT_EXPECT(kheap_alloc_aligned(h, 16, 3) == 0);
    KT_EXPECT(kheap_alloc_aligned(h, 16, 48) == 0);
    KT_EXPECT(kheap_alloc_aligned(h, 16, SIZE_MAX) == 0);
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT_EQ(after.failed_allocs, 4);
    KT_EXPECT_EQ(kt_faults.count, 0);
}

KTEST(aligned_below_block_size_means_block_size)
{
    kheap_t *h = kt_pool(64 * 1024, 64);
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc_aligned(h, 10, 1);
    unsigned char *b = kheap_alloc_aligned(h, 10, 8);
    unsigned char *c = kheap_alloc_aligned(h, 10, 64);
    KT_ASSERT(a);
    KT_ASSERT(b);
    KT_ASSERT(c);
    KT_EXPECT_EQ(b, a + 64);
    KT_EXPECT_EQ(c, b + 64);  /* no space wasted for them */
    KT_EXPECT((uintptr_t)a % 64 == 0);
}

KTEST(aligned_beyond_the_pool_is_served_only_where_a_boundary_falls)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats st = kt_stats(h);
    uintptr_t base = walk_first(h).p;
    for (unsigned shift = 16; shift < KT_WORD_BITS; shift++) {
        size_t align = (size_t)1 << shift;
        uintptr_t boundary = (base + align - 1) & ~(uintptr_t)(align - 1);
        bool fits = boundary >= base && boundary + 16 <= base + st.capacity;
        void *p = kheap_alloc_aligned(h, 16, align);
        KT_EXPECT(fits ? (uintptr_t)p == boundary : p == 0);
        if (p)
            KT_EXPECT(kheap_free(h, p) == 0);
    }
    KT_EXPECT(kt_stats(h).failed_allocs >= 1);             /* 2 GiB: the arena is below it */
    KT_EXPECT(kheap_check(h) == 0);
}
