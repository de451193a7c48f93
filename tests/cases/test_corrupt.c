/* test_corrupt.c - damage a pool on purpose: every single bit flipped in either bitmap,
 * counters that disagree, a damaged or foreign control block. kheap_check must report each,
 * and calls on a damaged handle must refuse and write nothing. */
#include "ktest.h"

enum { NODE_WORDS = 3 };                    /* a run-tree node: pre, suf, best */

struct damaged_pool {
    kheap_t *h;
    uintptr_t *control;
    uintptr_t *used, *start;        /* the two bitmaps */
    size_t words;
    unsigned char *a, *b, *c;
};

/* A pool of about 250 blocks: live a (3 blocks), b (1), c (5), with a hole after a. */
static bool make(struct damaged_pool *d)
{
    d->h = kt_pool(4096 + 64, 16);
    if (!d->h)
        return false;
    size_t blocks = kt_stats(d->h).capacity / 16;
    d->control = (uintptr_t *)d->h;
    d->words = (blocks + KT_WORD_BITS - 1) / KT_WORD_BITS;
    d->used = (uintptr_t *)((unsigned char *)d->h + KHEAP_CONTROL_BYTES);
    d->start = d->used + d->words;
    void *hole = 0;
    d->a = kheap_alloc(d->h, 48);
    hole = kheap_alloc(d->h, 32);
    d->b = kheap_alloc(d->h, 16);
    d->c = kheap_alloc(d->h, 80);
    if (!d->a || !hole || !d->b || !d->c || kheap_free(d->h, hole) != 0)
        return false;
    kt_fill(d->a, 48, 1), kt_fill(d->b, 16, 2), kt_fill(d->c, 80, 3);
    return kheap_check(d->h) == 0;
}

/* Flips every bit of a bitmap in turn: each must fail kheap_check, with the report inside the
 * pool's metadata, and each repair must pass it again. */
static void flip_every_bit(struct damaged_pool *d, uintptr_t *bitmap)
{
    unsigned missed = 0, repaired = 0;
    for (size_t w = 0; w < d->words; w++)
        for (unsigned bit = 0; bit < KT_WORD_BITS; bit++) {
            int before = kt_faults.count;
            bitmap[w] ^= (uintptr_t)1 << bit;
            bool caught = kheap_check(d->h) == KHEAP_ECORRUPT && kt_faults.count == before + 1
                && kt_faults.last.kind == KHEAP_FAULT_CORRUPT
                && (const unsigned char *)kt_faults.last.ptr >= (unsigned char *)d->h
                && (const unsigned char *)kt_faults.last.ptr < (unsigned char *)(d->start + d->words);
            bitmap[w] ^= (uintptr_t)1 << bit;
            missed += !caught;
            repaired += kheap_check(d->h) == 0;
        }
    KT_EXPECT(missed == 0);
    KT_EXPECT_EQ(repaired, d->words * KT_WORD_BITS);
    KT_EXPECT(kt_intact(d->a, 48, 1));
    KT_EXPECT(kt_intact(d->b, 16, 2));
    KT_EXPECT(kt_intact(d->c, 80, 3));
    KT_EXPECT_EQ(kheap_free(d->h, d->b), 0);
    KT_EXPECT(kheap_alloc(d->h, 16) == d->a + 48);  /* the hole */
}

KTEST(check_catches_every_flipped_bit_in_the_used_bitmap)
{
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    flip_every_bit(&d, d.used);
}

KTEST(check_catches_every_flipped_bit_in_the_start_bitmap)
{
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    flip_every_bit(&d, d.start);
}

KTEST(check_catches_counters_that_disagree)
{
    static const int fields[] = { CB_FREE_BLOCKS, CB_LIVE_ALLOCS, CB_PEAK };
    static const int deltas[] = { 1, -1, 3 };
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    for (unsigned f = 0; f < 3; f++)
        for (unsigned k = 0; k < 3; k++) {
            if (fields[f] == CB_PEAK && deltas[k] > 0)
                continue;                               /* a higher peak is still true */
            uintptr_t saved = d.control[fields[f]];
            int before = kt_faults.count;
            d.control[fields[f]] += (uintptr_t)deltas[k];
            if (fields[f] == CB_PEAK)
                d.control[fields[f]] = 0;               /* below what is in use */
            KT_EXPECT(kheap_check(d.h) == KHEAP_ECORRUPT);
            KT_EXPECT_EQ(kt_faults.count, before + 1);
            KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
            d.control[fields[f]] = saved;
            KT_EXPECT(kheap_check(d.h) == 0);
        }
}

/* Copies of the pool's memory before and after prove that nothing was written. */
static bool calls_refuse_and_write_nothing(kheap_t *h, void *live, size_t region)
{
    unsigned char *copy = kt_mem(region, 16);
    if (!copy)
        return false;
    const unsigned char *mem = (const unsigned char *)h;
    for (size_t i = 0; i < region; i++)
        copy[i] = mem[i];
    int before = kt_faults.count;
    bool refused = kheap_alloc(h, 16) == 0 && kheap_alloc_aligned(h, 16, 64) == 0
        && kheap_calloc(h, 1, 16) == 0 && kheap_realloc(h, live, 64) == 0
        && kheap_free(h, live) == KHEAP_ECORRUPT && kheap_check(h) == KHEAP_ECORRUPT
        && kheap_usable_size(h, live) == 0 && !kheap_owns(h, live)
        && kt_stats(h).capacity == 0;
    bool reported = kt_faults.count == before + 6 && kt_faults.last.kind == KHEAP_FAULT_CORRUPT
        && kt_faults.last.ptr == h;
    for (size_t i = 0; i < region; i++)
        if (copy[i] != mem[i])
            return false;
    return refused && reported;
}

KTEST(damaged_control_block_fails_safe)
{
    static const int fields[] = { 0, CB_SHIFT, CB_BASE, CB_TREE, CB_LEAVES };
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    /* the metadata: the control block, both bitmaps and the run tree, which ends it */
    const unsigned char *meta_end = (const unsigned char *)((uintptr_t *)d.control[CB_TREE]
                                    + 2 * d.control[CB_LEAVES] * NODE_WORDS);
    for (unsigned f = 0; f < 5; f++) {
        uintptr_t saved = d.control[fields[f]];
        d.control[fields[f]] ^= 0x40;
        KT_EXPECT(calls_refuse_and_write_nothing(d.h, d.b,
                  (size_t)(meta_end - (unsigned char *)d.h)));
        KT_EXPECT(kt_intact(d.a, 48, 1));
        KT_EXPECT(kt_intact(d.b, 16, 2));
        KT_EXPECT(kt_intact(d.c, 80, 3));
        d.control[fields[f]] = saved;
        KT_EXPECT(kheap_check(d.h) == 0);
    }
    KT_EXPECT(kt_intact(d.b, 16, 2));
    KT_EXPECT_EQ(kheap_free(d.h, d.b), 0);
}

KTEST(foreign_handle_fails_safe)
{
    unsigned char *junk = kt_mem(4096, 16);
    KT_ASSERT(junk);
    kt_fill(junk, 4096, 77);
    KT_EXPECT(calls_refuse_and_write_nothing((kheap_t *)junk, junk + 512, 4096));
    KT_EXPECT(kt_intact(junk, 4096, 77));
}

/* A pool of 8 leaves of 16-byte blocks (64 KiB on i386; 15 nodes in its run tree) with
 * allocations of 1 to 40 blocks and every third freed, so the nodes hold many values. */
static kheap_t *tree_pool(uintptr_t **tree, uintptr_t *leaves)
{
    kheap_t *h = kt_pool(8 * KT_LEAF_BLOCKS * 16, 16);     /* 8 leaves */
    if (!h)
        return 0;
    void *p[120];
    for (unsigned i = 0; i < 120; i++)
        p[i] = kheap_alloc(h, 16 * (1 + i * 7 % 40));
    for (unsigned i = 0; i < 120; i += 3)
        if (!p[i] || kheap_free(h, p[i]) != 0)
            return 0;
    *tree = (uintptr_t *)((uintptr_t *)h)[CB_TREE];
    *leaves = ((uintptr_t *)h)[CB_LEAVES];
    return kheap_check(h) == 0 ? h : 0;
}

KTEST(check_catches_every_damaged_tree_value)
{
    uintptr_t *tree, leaves;
    kheap_t *h = tree_pool(&tree, &leaves);
    KT_ASSERT(h);
    KT_ASSERT(leaves == 8);
    unsigned tried = 0, caught = 0;
    for (uintptr_t k = 0; k < 2 * leaves; k++)      /* node 0: unused, zero */
        for (unsigned f = 0; f < NODE_WORDS; f++)
            for (int delta = -1; delta <= 1; delta += 2) {
                uintptr_t *v = &tree[k * NODE_WORDS + f];
                if (*v == 0 && delta < 0)
                    continue;
                int before = kt_faults.count;
                *v += (uintptr_t)delta;
                tried++;
                caught += kheap_check(h) == KHEAP_ECORRUPT && kt_faults.count == before + 1
                          && kt_faults.last.ptr == &tree[k * NODE_WORDS];
                *v -= (uintptr_t)delta;
                KT_EXPECT(kheap_check(h) == 0);
            }
    KT_EXPECT(tried >= 16 * NODE_WORDS);
    KT_EXPECT_EQ(caught, tried);
}

/* A tree that claims a free run where there is none makes the allocation fail; it never
 * hands out a used block, and every live byte stays as it was. */
KTEST(damaged_tree_never_hands_out_a_used_block)
{
    kheap_t *h = kt_pool_flags(64 * 1024, 16, KHEAP_F_NOCACHE);    /* frees reach the tree */
    KT_ASSERT(h);
    uintptr_t *tree = (uintptr_t *)((uintptr_t *)h)[CB_TREE];
    unsigned char **p = kt_mem(2048 * sizeof *p, sizeof *p);
    KT_ASSERT(p);
    unsigned n = 0;
    while (n < 2048 && (p[n] = kheap_alloc(h, 64)) != 0)
        kt_fill(p[n], 64, n), n++;
    KT_ASSERT(n > 900);
    KT_ASSERT(kheap_free(h, p[n / 2]) == 0);  /* one hole of 4 blocks */
    /* The lie: a run of 200 blocks across the middle of the root. */
    uintptr_t saved[3 * NODE_WORDS];
    for (unsigned i = 0; i < 3 * NODE_WORDS; i++)
        saved[i] = tree[NODE_WORDS + i];
    tree[1 * NODE_WORDS + 2] = 200;                         /* root: best */
    tree[2 * NODE_WORDS + 1] = 100;                         /* left child: suf */
    tree[3 * NODE_WORDS + 0] = 100;                         /* right child: pre */
    size_t failed = kt_stats(h).failed_allocs;
    KT_EXPECT_EQ(kheap_alloc(h, 150 * 16), 0);
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, failed + 1);
    int before = kt_faults.count;
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    for (unsigned i = 0; i < 3 * NODE_WORDS; i++)
        tree[NODE_WORDS + i] = saved[i];
    bool intact = true;
    for (unsigned i = 0; i < n; i++)
        if (i != n / 2)
            intact = intact && kt_intact(p[i], 64, i);
    KT_EXPECT(intact);
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT(kheap_alloc(h, 64) == p[n / 2]);              /* and first fit is unchanged */
}
