/* test_cache.c - the quick caches (I5 in asm/kheap_core.asm): a free of up to 64 blocks is held
 * for the next request of its size, a double free of a held block is caught, and the caches
 * are emptied before a request can fail and before walks and dumps look. */
#include "ktest.h"

/* A 64 KiB pool of 16-byte blocks: 4096 blocks, so classes for 1 .. 8 blocks (one class per
 * 512 blocks) hold up to 8 frees each. */
#define POOL (64 * 1024)
#define DEPTH KT_CACHE_DEPTH

KTEST(cache_gives_the_newest_free_of_the_same_size_first)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    void *a = kheap_alloc(h, 48), *b = kheap_alloc(h, 48), *c = kheap_alloc(h, 48);
    void *small = kheap_alloc(h, 16);
    KT_ASSERT(a && b && c && small);
    KT_EXPECT_EQ(kheap_free(h, a), 0);
    KT_EXPECT_EQ(kheap_free(h, c), 0);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 40), c);            /* 3 blocks: the newest first */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 33), a);            /* then the one before */
    KT_EXPECT_EQ(kheap_free(h, small), 0);
    void *two = kheap_alloc(h, 32);                     /* 2 blocks: none held */
    KT_EXPECT(two != small);                            /* small's block is held for 1 block */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 1), small);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(cache_double_free_of_a_held_allocation_is_caught)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 64), *q = kheap_alloc(h, 64);
    KT_ASSERT(p && q);
    kt_fill(q, 64, 7);
    KT_EXPECT_EQ(kheap_free(h, p), 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
    KT_EXPECT_EQ(kheap_free(h, p), KHEAP_EDOUBLE);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_DOUBLE_FREE);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, p);
    KT_EXPECT_EQ(kheap_free(h, p + 16), KHEAP_EDOUBLE);    /* inside it: freed all the same */
    KT_EXPECT_PTR_EQ(kheap_realloc(h, p, 128), 0);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_DOUBLE_FREE);
    KT_EXPECT_EQ(kheap_usable_size(h, p), 0);
    KT_EXPECT_EQ(kt_faults.count, 3);
    KT_EXPECT_EQ(kheap_check(h), 0);                    /* nothing changed by the bad calls */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 64), p);            /* still held, handed out once */
    KT_EXPECT(kheap_alloc(h, 64) != p);
    KT_EXPECT(kt_intact(q, 64, 7));
}

/* The allocation that ends the pool, inside its last bitmap word (the pad past the pool is
 * used and starts nothing): held and handed out again like any other, with no fault. */
KTEST(cache_holds_the_allocation_that_ends_the_pool_inside_a_word)
{
    const size_t bits = 8 * sizeof(void *);
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    struct kheap_stats st;
    kheap_get_stats(h, &st);
    if (st.capacity / st.block_size % bits == 0) {      /* a pool of whole words: one less */
        h = kt_pool(POOL - 16, 0);
        KT_ASSERT(h);
        kheap_get_stats(h, &st);
    }
    KT_ASSERT(st.capacity / st.block_size % bits != 0);
    unsigned char *first = kheap_alloc(h, 16), *last = first, *p;
    KT_ASSERT(first);
    while ((p = kheap_alloc(h, 16)) != 0)               /* one block each, in address order */
        last = p;
    KT_ASSERT(last + 16 == first + st.capacity);        /* it ends the pool */
    int faults = kt_faults.count;
    KT_EXPECT_EQ(kheap_free(h, last), 0);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), last);         /* held, and taken back */
    KT_EXPECT_EQ(kt_faults.count, faults);              /* not called damaged */
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* More frees of one size than a class holds: the rest go back to the index at once. */
KTEST(cache_a_full_class_frees_to_the_index)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    void *p[DEPTH + 2];
    for (int i = 0; i < DEPTH + 2; i++)
        KT_ASSERT((p[i] = kheap_alloc(h, 32)) != 0);    /* 2 blocks each, from block 0 */
    for (int i = 0; i <= DEPTH; i++)
        KT_EXPECT_EQ(kheap_free(h, p[i]), 0);           /* the 9th finds its class full */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), p[DEPTH]);     /* the lowest free block */
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* A full pool in which the only room is held by the caches: the request that needs it
 * empties them, the runs join, and it succeeds without counting a failure. */
KTEST(cache_is_emptied_before_a_request_fails)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    void *run[DEPTH];
    size_t failed = kt_stats(h).failed_allocs;
    for (int i = 0; i < DEPTH; i++)
        KT_ASSERT((run[i] = kheap_alloc(h, 16)) != 0);  /* blocks 0 .. 7 */
    void *rest = kheap_alloc(h, kt_stats(h).capacity - DEPTH * 16);
    KT_ASSERT(rest);                                    /* the pool is full */
    for (int i = 0; i < DEPTH; i++)
        KT_EXPECT_EQ(kheap_free(h, run[i]), 0);         /* all held in the 1-block class */
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, DEPTH * 16), run[0]);   /* only after a flush */
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, failed);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), 0);            /* now the pool is really full */
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, failed + 1);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* Aligned requests go to the index; the held allocation waits for a plain one. */
KTEST(cache_serves_only_requests_at_the_block_alignment)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    void *a = kheap_alloc_aligned(h, 64, 256);
    KT_ASSERT(a);
    KT_EXPECT_EQ((uintptr_t)a % 256, 0);
    KT_EXPECT_EQ(kheap_free(h, a), 0);
    void *b = kheap_alloc_aligned(h, 64, 256);
    KT_EXPECT(b != 0 && b != a);                        /* a is held: not free to the index */
    KT_EXPECT_EQ((uintptr_t)b % 256, 0);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 64), a);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

static int count_runs(void *ctx, void *p, size_t size, bool used)
{
    (void)p, (void)size;
    ((int *)ctx)[used]++;
    return 0;
}

/* What the caller sees does not depend on the caches: held blocks count as free, and
 * stats and walks see the free runs whole; stats leave the caches as they are. */
KTEST(cache_held_blocks_are_free_to_stats_and_walk)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    struct kheap_stats empty = kt_stats(h);
    void *p[4];
    for (int i = 0; i < 4; i++)
        KT_ASSERT((p[i] = kheap_alloc(h, 16 * (i + 1))) != 0);
    for (int i = 0; i < 4; i++)
        KT_EXPECT_EQ(kheap_free(h, p[i]), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.used, 0);
    KT_EXPECT_EQ(st.live_allocs, 0);
    KT_EXPECT_EQ(st.largest_free, empty.capacity);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 64), p[3]);         /* still held: the newest of 4 */
    KT_EXPECT_EQ(kheap_free(h, p[3]), 0);
    int runs[2] = { 0, 0 };
    KT_EXPECT_EQ(kheap_walk(h, count_runs, runs), 0);
    KT_EXPECT_EQ(runs[0], 1);                           /* one free run */
    KT_EXPECT_EQ(runs[1], 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* largest_free counts a held allocation as part of the free run around it, without
 * taking it out of its cache: here b and c (held) join the free tail, a stays live. */
KTEST(cache_held_allocations_join_the_largest_free_run)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    size_t capacity = kt_stats(h).capacity;
    void *a = kheap_alloc(h, 16), *b = kheap_alloc(h, 32), *c = kheap_alloc(h, 16);
    KT_ASSERT(a && b && c);
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    KT_EXPECT_EQ(kt_stats(h).largest_free, capacity - 64);   /* the tail after c */
    KT_EXPECT_EQ(kheap_free(h, c), 0);
    KT_EXPECT_EQ(kt_stats(h).largest_free, capacity - 16);   /* b, c and the tail */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), c);            /* both still held */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 32), b);
    KT_EXPECT_EQ(kt_stats(h).largest_free, capacity - 64);
    KT_EXPECT_EQ(kheap_free(h, a), 0);                  /* a held, b live: a's run alone */
    KT_EXPECT_EQ(kt_stats(h).largest_free, capacity - 64);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* The free runs on both sides of a held allocation are measured through their footer and
 * header (the index): here they span many bitmap words each. */
KTEST(cache_held_allocation_joins_long_free_runs)
{
    const size_t span = KT_WIDE_BLOCKS * 16, side = 2 * span + span / 2;
    kheap_t *h = kt_pool(8 * span, 0);
    KT_ASSERT(h);
    void *a = kheap_alloc(h, 16), *b = kheap_alloc(h, side), *c = kheap_alloc(h, 32);
    void *d = kheap_alloc(h, side), *e = kheap_alloc(h, 16);
    void *tail = kheap_alloc(h, kt_stats(h).largest_free);
    KT_ASSERT(a && b && c && d && e && tail);
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    KT_EXPECT_EQ(kheap_free(h, d), 0);
    KT_EXPECT_EQ(kt_stats(h).largest_free, side);
    KT_EXPECT_EQ(kheap_free(h, c), 0);                  /* held, between b's and d's runs */
    KT_EXPECT_EQ(kt_stats(h).largest_free, 2 * side + 32);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 32), c);
    KT_EXPECT_EQ(kt_stats(h).largest_free, side);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* Grow in place sees a held allocation as free: a realloc into it takes it out of its
 * cache rather than fail or move (here the rest of the pool is full). */
KTEST(cache_realloc_grows_in_place_over_a_held_allocation)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc(h, 16), *b = kheap_alloc(h, 16);
    KT_ASSERT(a && b);
    void *rest = kheap_alloc(h, kt_stats(h).largest_free);
    KT_ASSERT(rest != 0);                               /* nothing else is free */
    kt_fill(a, 16, 5);
    KT_EXPECT_EQ(kheap_free(h, b), 0);                  /* held */
    size_t failed = kt_stats(h).failed_allocs;
    KT_EXPECT_PTR_EQ(kheap_realloc(h, a, 32), a);       /* in place, over b's block */
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, failed);
    KT_EXPECT(kt_intact(a, 16, 5));
    KT_EXPECT_EQ(kheap_usable_size(h, a), 32);
    KT_EXPECT_EQ(kheap_free(h, b), KHEAP_EINTERIOR);    /* b is inside a now */
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT(kheap_alloc(h, 16) == 0);                 /* b is no longer held */
}

/* With allocations held, a pointer deep inside a long live allocation is still interior. */
KTEST(cache_deep_interior_of_a_live_allocation_is_interior)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    unsigned char *held = kheap_alloc(h, 16), *big = kheap_alloc(h, 200 * 16);
    KT_ASSERT(held && big);
    KT_EXPECT_EQ(kheap_free(h, held), 0);
    KT_EXPECT_EQ(kheap_free(h, big + 150 * 16), KHEAP_EINTERIOR);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INTERIOR);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* A damaged cache in the way of a grow in place: nothing is taken on its word, the
 * realloc moves instead, and kheap_check reports the damage. */
KTEST(cache_damaged_in_the_way_of_growth_makes_realloc_move)
{
    for (int kind = 0; kind < 2; kind++) {
        kheap_t *h = kt_pool(POOL, 0);
        KT_ASSERT(h);
        unsigned char *a = kheap_alloc(h, 16), *b = kheap_alloc(h, kind ? 200 * 16 : 16);
        KT_ASSERT(a && b);
        kt_fill(a, 16, 3);
        uintptr_t *cached = (uintptr_t *)((uintptr_t *)h)[CB_CACHED];
        if (kind == 0) {                                /* b held, its entry overwritten */
            KT_EXPECT_EQ(kheap_free(h, b), 0);
            uint32_t *cls = kt_cache_class(h, 0, 1);
            KT_ASSERT(cls[0] == 1);
            cls[1] = 0;
        } else {                                        /* a long live b marked held */
            void *c = kheap_alloc(h, 16);               /* (and something really held) */
            KT_ASSERT(c != 0);
            KT_EXPECT_EQ(kheap_free(h, c), 0);
            cached[0] |= (uintptr_t)1 << 1;
        }
        unsigned char *q = kheap_realloc(h, a, 32);
        KT_EXPECT(q != 0);
        KT_EXPECT(q != a);                              /* moved: b's blocks not taken */
        KT_EXPECT(kt_intact(q, 16, 3));
        KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    }
}

/* Debug pools and KHEAP_F_NOCACHE pools hold nothing: a free goes back at once. */
KTEST(cache_none_in_debug_and_nocache_pools)
{
    static const unsigned flags[] = { KHEAP_F_DEBUG, KHEAP_F_NOCACHE };
    for (unsigned k = 0; k < 2; k++) {
        kheap_t *h = kt_pool_flags(POOL, 0, flags[k]);
        KT_ASSERT(h);
        void *a = kheap_alloc(h, 32), *b = kheap_alloc(h, 32);
        KT_ASSERT(a && b);
        KT_EXPECT_EQ(kheap_free(h, a), 0);
        KT_EXPECT_PTR_EQ(kheap_alloc(h, 1), a);         /* a's first block: its run */
        KT_EXPECT_EQ(kheap_free(h, a), 0);
        KT_EXPECT_EQ(kheap_free(h, a), KHEAP_EDOUBLE);
        KT_EXPECT_EQ(kheap_check(h), 0);
    }
}

/* A damaged cache entry: kheap_check finds it, and the allocation that takes it reports
 * it and is served elsewhere; the live allocation it names is left alone. */
KTEST(cache_damaged_entry_is_reported_never_handed_out)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    unsigned char *live = kheap_alloc(h, 32), *held = kheap_alloc(h, 32);
    KT_ASSERT(live && held);
    kt_fill(live, 32, 3);
    KT_EXPECT_EQ(kheap_free(h, held), 0);
    uint32_t *cls = kt_cache_class(h, 0, 2);
    KT_ASSERT(cls[0] == 1);
    cls[1] = 0;                                         /* names live's block 0 */
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    int before = kt_faults.count;
    struct kheap_stats st = kt_stats(h);                /* a query: the entry is passed over */
    KT_EXPECT_EQ(st.largest_free, st.capacity - 64);    /* the tail after held's blocks */
    KT_EXPECT_EQ(kt_faults.count, before);
    unsigned char *q = kheap_alloc(h, 32);
    KT_EXPECT(q != 0 && q != live && q != held);        /* the tail, past both */
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, cls);
    KT_EXPECT(kt_intact(live, 32, 3));
    KT_EXPECT_EQ(cls[0], 0);                            /* the entry was dropped */
}

/* kheap_check reads every class: a count over 8, the same allocation twice, a slot past the
 * count that is not zero; each is reported at the class (or the slot), and nothing else. */
KTEST(cache_check_finds_a_damaged_class)
{
    kheap_t *h = kt_pool(POOL, 0);
    KT_ASSERT(h);
    void *a = kheap_alloc(h, 32), *b = kheap_alloc(h, 32);
    KT_ASSERT(a && b);
    KT_EXPECT_EQ(kheap_free(h, a), 0);
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    uint32_t *cls = kt_cache_class(h, 0, 2);
    KT_ASSERT(cls[0] == 2);
    KT_EXPECT_EQ(kheap_check(h), 0);
    const struct { unsigned word; uint32_t value; uint32_t *reported; } cases[] = {
        { 0, DEPTH + 1, cls },                          /* more entries than a class holds */
        { 2, cls[1], cls },                             /* b's slot names a again */
        { 3, 5, &cls[3] },                              /* an empty slot not zero */
    };
    for (unsigned k = 0; k < 3; k++) {
        uint32_t saved = cls[cases[k].word];
        cls[cases[k].word] = cases[k].value;
        int before = kt_faults.count;
        KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
        KT_EXPECT_EQ(kt_faults.count, before + 1);
        KT_EXPECT_PTR_EQ(kt_faults.last.ptr, cases[k].reported);
        cls[cases[k].word] = saved;
        KT_EXPECT_EQ(kheap_check(h), 0);
    }
}
