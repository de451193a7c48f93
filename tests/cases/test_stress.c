/* test_stress.c - seeded random stress: 100,000+ mixed calls with contents, overlap, stats and
 * kheap_check verified as it goes; and several pools with different block sizes side by side. */
#include "ktest.h"

#define SLOTS 256
#define STRESS_OPS 120000
#define CHECK_EVERY 500

struct slot {
    unsigned char *p;
    size_t size;                /* bytes asked for, all filled with the slot's tag */
    uint32_t tag;
};

static struct slot slots[SLOTS];

static size_t random_size(void)
{
    uint32_t r = kt_range(0, 99);
    if (r < 55)
        return kt_range(1, 64);
    if (r < 93)
        return kt_range(65, 1024);
    return kt_range(1025, 8192);
}

/* A new allocation must be aligned, inside the pool and clear of every other live one. */
static bool placed_well(kheap_t *h, unsigned at, size_t align)
{
    const struct slot *s = &slots[at];
    if ((uintptr_t)s->p % align || !kheap_owns(h, s->p) || !kheap_owns(h, s->p + s->size - 1))
        return false;
    if (kheap_usable_size(h, s->p) < s->size)
        return false;
    for (unsigned i = 0; i < SLOTS; i++)
        if (i != at && slots[i].p && s->p < slots[i].p + slots[i].size &&
            slots[i].p < s->p + s->size)
            return false;
    return true;
}

static void fill_slot(struct slot *s, unsigned char *p, size_t size, uint32_t tag)
{
    s->p = p;
    s->size = size;
    s->tag = tag;
    kt_fill(p, size, tag);
}

/* Every live slot still holds its bytes, and the pool's counters agree with the slots. */
static bool all_intact(kheap_t *h)
{
    size_t live = 0;
    for (unsigned i = 0; i < SLOTS; i++) {
        if (!slots[i].p)
            continue;
        live++;
        if (!kt_intact(slots[i].p, slots[i].size, slots[i].tag))
            return false;
    }
    return kt_stats(h).live_allocs == live;
}

KTEST(stress_random_operations)
{
    kheap_t *h = kt_pool(1024 * 1024, 0);
    KT_ASSERT(h);
    kt_seed(20261122);
    for (unsigned i = 0; i < SLOTS; i++)
        slots[i] = (struct slot){0};
    unsigned failures = 0, moves = 0;
    for (uint32_t op = 1; op <= STRESS_OPS; op++) {
        unsigned at = kt_range(0, SLOTS - 1);
        struct slot *s = &slots[at];
        uint32_t kind = kt_range(0, 99);
        if (!s->p) {                                       /* allocate, one way or another */
            size_t size = random_size(), align = KHEAP_DEFAULT_BLOCK;
            unsigned char *p;
            if (kind < 70) {
                p = kheap_alloc(h, size);
            } else if (kind < 85) {
                align = (size_t)1 << kt_range(4, 12);
                p = kheap_alloc_aligned(h, size, align);
            } else {
                p = kheap_calloc(h, 1, size);
                KT_ASSERT(!p || kt_all_bytes(p, size, 0));
            }
            if (!p) {
                failures++;
                continue;
            }
            fill_slot(s, p, size, op);
            KT_ASSERT(placed_well(h, at, align));
        } else if (kind < 60) {                            /* free */
            KT_ASSERT(kt_intact(s->p, s->size, s->tag));
            KT_ASSERT(kheap_free(h, s->p) == 0);
            s->p = 0;
        } else if (kind < 90) {                            /* resize */
            size_t size = random_size(), keep = size < s->size ? size : s->size;
            KT_ASSERT(kt_intact(s->p, s->size, s->tag));
            unsigned char *q = kheap_realloc(h, s->p, size);
            if (!q) {                                      /* failed: the old block stands */
                failures++;
                KT_ASSERT(kt_intact(s->p, s->size, s->tag));
                continue;
            }
            moves += q != s->p;
            KT_ASSERT(kt_intact(q, keep, s->tag));
            s->p = 0;                                      /* not part of the overlap scan */
            fill_slot(s, q, size, op);
            KT_ASSERT(placed_well(h, at, KHEAP_DEFAULT_BLOCK));
        } else if (kheap_usable_size(h, s->p) > KHEAP_DEFAULT_BLOCK) {  /* a bad free */
            struct kheap_stats before = kt_stats(h);
            KT_ASSERT(kheap_free(h, s->p + KHEAP_DEFAULT_BLOCK) == KHEAP_EINTERIOR);
            struct kheap_stats after = kt_stats(h);
            KT_ASSERT(kt_stats_same(&before, &after));
        }
        if (op % CHECK_EVERY == 0) {
            KT_ASSERT(kheap_check(h) == 0);
            KT_ASSERT(all_intact(h));
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p)
            KT_EXPECT(kheap_free(h, slots[i].p) == 0);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.live_allocs, 0);
    KT_EXPECT_EQ(st.used, 0);
    KT_EXPECT(st.total_allocs == st.total_frees);
    KT_EXPECT(kheap_alloc(h, st.capacity) != 0);          /* full recovery */
    KT_EXPECT(kheap_check(h) == 0);
    KT_EXPECT(moves > 0);                                 /* the run did exercise moves */
    KT_EXPECT(st.failed_allocs == failures);
    KT_EXPECT(kt_faults.count == (int)st.faults);
}

KTEST(pools_with_different_block_sizes_stay_independent)
{
    static const size_t blocks[3] = { 8, 64, 512 };
    kheap_t *h[3];
    void *p[3][50];
    size_t n[3][50];
    for (unsigned k = 0; k < 3; k++) {
        h[k] = kt_pool(96 * 1024, blocks[k]);
        KT_ASSERT(h[k]);
    }
    for (unsigned i = 0; i < 50; i++)                     /* interleaved across the pools */
        for (unsigned k = 0; k < 3; k++) {
            size_t size = n[k][i] = kt_range(1, 700);
            p[k][i] = kheap_alloc(h[k], size);
            KT_ASSERT(p[k][i]);
            KT_EXPECT((uintptr_t)p[k][i] % blocks[k] == 0);
            KT_EXPECT(kheap_usable_size(h[k], p[k][i]) ==
                      (size + blocks[k] - 1) / blocks[k] * blocks[k]);
            kt_fill(p[k][i], size, k * 100 + i);
            for (unsigned j = 0; j < 3; j++)
                KT_EXPECT(kheap_owns(h[j], p[k][i]) == (j == k));
        }
    for (unsigned k = 0; k < 3; k++) {
        KT_EXPECT(kheap_free(h[(k + 1) % 3], p[k][0]) == KHEAP_EINVAL);  /* wrong pool */
        for (unsigned i = 0; i < 50; i += 2)
            KT_EXPECT(kheap_free(h[k], p[k][i]) == 0);
        KT_EXPECT(kheap_check(h[k]) == 0);
        KT_EXPECT(kt_stats(h[k]).live_allocs == 25);
        for (unsigned i = 1; i < 50; i += 2)
            KT_EXPECT(kt_intact(p[k][i], n[k][i], k * 100 + i));
    }
    KT_EXPECT(kt_faults.count == 3);
}
