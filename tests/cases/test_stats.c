/* test_stats.c - kheap_get_stats, kheap_walk and kheap_check on healthy pools: counters
 * follow every operation, the walk tiles the pool in address order, check stays clean. */
#include "ktest.h"

KTEST(stats_follow_every_operation)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    void *a = kheap_alloc(h, 10), *b = kheap_alloc(h, 100), *c = kheap_alloc(h, 1000);
    KT_ASSERT(a);
    KT_ASSERT(b);
    KT_ASSERT(c);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT(st.used == 16 + 112 + 1008);
    KT_EXPECT_EQ(st.live_allocs, 3);
    KT_EXPECT_EQ(st.total_allocs, 3);
    KT_EXPECT_EQ(st.total_frees, 0);
    KT_EXPECT(st.peak_used == st.used);
    KT_EXPECT(kheap_free(h, c) == 0);
    st = kt_stats(h);
    KT_EXPECT_EQ(st.used, 16 + 112);
    KT_EXPECT_EQ(st.peak_used, 16 + 112 + 1008);
    KT_EXPECT_EQ(st.live_allocs, 2);
    KT_EXPECT_EQ(st.total_frees, 1);
    KT_EXPECT(kheap_alloc(h, 70000) == 0);
    KT_EXPECT(kheap_free(h, c) == KHEAP_EDOUBLE);
    st = kt_stats(h);
    KT_EXPECT_EQ(st.failed_allocs, 1);
    KT_EXPECT_EQ(st.faults, 1);
    KT_EXPECT(st.largest_free == st.capacity - 128);
}

KTEST(stats_largest_free_is_the_largest_hole)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    struct kheap_stats st = kt_stats(h);
    void *a = kheap_alloc(h, 1024), *b = kheap_alloc(h, 4096), *c = kheap_alloc(h, 16);
    void *rest = kheap_alloc(h, st.capacity - 1024 - 4096 - 16);
    KT_ASSERT(a);
    KT_ASSERT(b);
    KT_ASSERT(c);
    KT_ASSERT(rest);
    KT_EXPECT(kt_stats(h).largest_free == 0);
    KT_EXPECT(kheap_free(h, a) == 0);
    KT_EXPECT(kt_stats(h).largest_free == 1024);
    KT_EXPECT(kheap_free(h, b) == 0);                     /* merges with a's hole */
    KT_EXPECT(kt_stats(h).largest_free == 1024 + 4096);
    KT_EXPECT(kheap_free(h, rest) == 0);
    KT_EXPECT(kt_stats(h).largest_free == st.capacity - 1024 - 4096 - 16);
}

KTEST(stats_of_null_heap_are_zero)
{
    struct kheap_stats st = { .capacity = 123, .used = 9 };
    kheap_get_stats(0, &st);
    KT_EXPECT_EQ(st.capacity, 0);
    KT_EXPECT_EQ(st.used, 0);
    KT_EXPECT_EQ(st.block_size, 0);
    KT_EXPECT(kheap_check(0) == KHEAP_EINVAL);
}

struct walk_log {
    uintptr_t next;             /* where the next run must begin */
    size_t total, used_runs, used_bytes;
    bool last_free, adjacent_free, bad_used;
    kheap_t *h;
};

static int log_run(void *ctx, void *p, size_t size, bool used)
{
    struct walk_log *w = ctx;
    kt_expect((uintptr_t)p == w->next, __FILE__, __LINE__, "runs are contiguous and ordered");
    w->next = (uintptr_t)p + size;
    w->total += size;
    if (!used && w->last_free)
        w->adjacent_free = true;
    if (used) {
        w->used_runs++;
        w->used_bytes += size;
        if (kheap_usable_size(w->h, p) != size)
            w->bad_used = true;
    }
    w->last_free = !used;
    return 0;
}

KTEST(walk_tiles_the_pool_in_address_order)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    void *p[100];
    for (unsigned i = 0; i < 100; i++)
        p[i] = kheap_alloc(h, kt_range(1, 300));
    for (unsigned i = 0; i < 100; i += 3)
        KT_EXPECT(kheap_free(h, p[i]) == 0);
    for (unsigned i = 1; i < 100; i += 7)
        if (i % 3 != 0)                                   /* those went in the first pass */
            KT_EXPECT(kheap_free(h, p[i]) == 0);
    struct kheap_stats st = kt_stats(h);
    struct walk_log w = { .h = h };
    w.next = (uintptr_t)p[0];                             /* p[0] was block 0 */
    KT_EXPECT(kheap_walk(h, log_run, &w) == 0);
    KT_EXPECT(w.total == st.capacity);
    KT_EXPECT(w.used_runs == st.live_allocs);
    KT_EXPECT(w.used_bytes == st.used);
    KT_EXPECT(!w.adjacent_free);                          /* free runs are maximal */
    KT_EXPECT(!w.bad_used);
}

static int stop_at_second(void *ctx, void *p, size_t size, bool used)
{
    (void)p, (void)size, (void)used;
    return ++*(int *)ctx == 2 ? 7 : 0;
}

KTEST(walk_stops_when_fn_says_so)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    void *a = kheap_alloc(h, 16), *b = kheap_alloc(h, 16), *c = kheap_alloc(h, 16);
    KT_ASSERT(a);
    KT_ASSERT(b);
    KT_ASSERT(c);
    KT_EXPECT(kheap_free(h, b) == 0);                     /* runs: a, hole, c, rest */
    int calls = 0;
    KT_EXPECT(kheap_walk(h, stop_at_second, &calls) == 7);
    KT_EXPECT(calls == 2);
    KT_EXPECT(kheap_walk(0, stop_at_second, &calls) == KHEAP_EINVAL);
    KT_EXPECT(kheap_walk(h, 0, 0) == KHEAP_EINVAL);
}

KTEST(check_stays_clean_through_mixed_calls)
{
    kheap_t *h = kt_pool(32 * 1024, 32);
    KT_ASSERT(h);
    void *p[40] = {0};
    for (unsigned round = 0; round < 400; round++) {
        unsigned i = kt_range(0, 39);
        switch (kt_range(0, 3)) {
        case 0: kheap_free(h, p[i]); p[i] = kheap_alloc(h, kt_range(1, 900)); break;
        case 1: kheap_free(h, p[i]); p[i] = kheap_alloc_aligned(h, 40, 256); break;
        case 2: { void *q = kheap_realloc(h, p[i], kt_range(0, 1500));
                  if (q || !p[i]) p[i] = q;
                  else if (kheap_usable_size(h, p[i]) == 0) p[i] = 0;
                  break; }
        default: kheap_free(h, p[i]); p[i] = 0; break;
        }
        KT_ASSERT(kheap_check(h) == 0);
    }
    KT_EXPECT(kt_faults.count == 0);
}
