/* test_cpu.c - quick caches per CPU (kheap_set_cpu): a pool made for 4 CPUs lays out 4 sets
 * in its own memory; each CPU frees into and allocates from its own; a free of what another
 * CPU's set holds is a double free; every set is emptied before a request fails; stats, walk
 * and kheap_check see every set. The CPU is a variable here, so each case picks it. */
#include "ktest.h"

#define POOL (64 * 1024)                    /* with 4 sets: classes of 1 .. 7 blocks */
#define DEPTH KT_CACHE_DEPTH
#define CPUS 4

static unsigned current;                    /* the CPU the next call runs on */

static unsigned cpu_index(void)
{
    return current;
}

static kheap_t *cpu_pool(size_t size)
{
    kheap_set_cpu(cpu_index, CPUS);
    current = 0;
    return kt_pool(size, 0);
}

KTEST(cpu_sets_lie_in_the_pool_and_count_in_its_overhead)
{
    size_t one = kt_stats(kt_pool(1 << 20, 0)).capacity;
    size_t four = kt_stats(cpu_pool(1 << 20)).capacity;
    size_t sets = 3 * KHEAP_CPU_SET_BYTES;  /* three more sets of 64 classes */
    KT_EXPECT(one - four >= sets * 16 / 17);            /* (each block also saves 3 bits) */
    KT_EXPECT(one - four <= sets + 16);
    kheap_set_cpu(0, 0);                                /* back to one set */
    KT_EXPECT_EQ(kt_stats(kt_pool(1 << 20, 0)).capacity, one);
    kheap_set_cpu(cpu_index, 1);                        /* one CPU: one set */
    KT_EXPECT_EQ(kt_stats(kt_pool(1 << 20, 0)).capacity, one);
    kheap_set_cpu(cpu_index, CPUS);                     /* debug pools keep one set */
    size_t debug = kt_stats(kt_pool_flags(1 << 20, 0, KHEAP_F_DEBUG)).capacity;
    kheap_set_cpu(0, 0);
    KT_EXPECT_EQ(kt_stats(kt_pool_flags(1 << 20, 0, KHEAP_F_DEBUG)).capacity, debug);
}

KTEST(cpu_a_free_is_held_in_the_freeing_cpus_set)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 48);              /* on CPU 0 */
    KT_ASSERT(p);
    current = 1;
    KT_EXPECT_EQ(kheap_free(h, p), 0);                  /* on CPU 1: held in its set */
    KT_EXPECT_EQ(kt_cache_class(h, 1, 3)[0], 1);
    KT_EXPECT_EQ(kt_cache_class(h, 0, 3)[0], 0);
    current = 0;
    unsigned char *q = kheap_alloc(h, 48);              /* CPU 0's set holds none */
    KT_EXPECT(q && q != p);
    current = 1;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 48), p);            /* CPU 1's does */
    current = 5;                                        /* past ncpus: 5 % 4 = set 1 */
    KT_EXPECT_EQ(kheap_free(h, q), 0);
    KT_EXPECT_EQ(kt_cache_class(h, 1, 3)[0], 1);
    current = 1;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 48), q);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(cpu_a_free_of_what_another_cpus_set_holds_is_a_double_free)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 64), *live = kheap_alloc(h, 64);
    KT_ASSERT(p && live);
    kt_fill(live, 64, 9);
    KT_EXPECT_EQ(kheap_free(h, p), 0);                  /* held in CPU 0's set */
    struct kheap_stats before = kt_stats(h);
    for (current = 0; current < CPUS; current++) {
        KT_EXPECT_EQ(kheap_free(h, p), KHEAP_EDOUBLE);  /* on every CPU */
        KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_DOUBLE_FREE);
        KT_EXPECT_PTR_EQ(kt_faults.last.ptr, p);
    }
    KT_EXPECT_EQ(kt_faults.count, CPUS);
    struct kheap_stats after = kt_stats(h);
    KT_EXPECT_EQ(after.used, before.used);              /* nothing changed but the faults */
    KT_EXPECT_EQ(after.total_frees, before.total_frees);
    KT_EXPECT_EQ(after.faults, before.faults + CPUS);
    KT_EXPECT(kt_intact(live, 64, 9));
    KT_EXPECT_EQ(kheap_check(h), 0);
    current = 2;
    KT_EXPECT(kheap_alloc(h, 64) != p);                 /* CPU 2's set does not hold it */
    current = 0;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 64), p);            /* CPU 0's does, once */
}

KTEST(cpu_every_set_is_emptied_before_a_request_fails)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    size_t cap = kt_stats(h).capacity;
    enum { N = 64 };
    void *p[N];
    for (unsigned i = 0; i < N; i++) {
        current = i % CPUS;
        KT_ASSERT((p[i] = kheap_alloc(h, 16 * (1 + i % 8))) != 0);
    }
    for (unsigned i = 0; i < N; i++) {
        current = (i / 3) % CPUS;                       /* freed on every CPU, mostly held */
        KT_EXPECT_EQ(kheap_free(h, p[i]), 0);
    }
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.used, 0u);                          /* held blocks are free to stats */
    KT_EXPECT_EQ(st.largest_free, cap);                 /* .. and to the largest run */
    KT_EXPECT_EQ(kheap_check(h), 0);
    current = 3;
    void *all = kheap_alloc(h, cap);                    /* only when every set is emptied */
    KT_EXPECT(all != 0);
    unsigned classes = (unsigned)((uintptr_t *)h)[CB_CLASSES];    /* 7: the sets took room */
    for (unsigned set = 0; set < CPUS; set++)
        for (unsigned n = 1; n <= classes; n++)
            KT_EXPECT_EQ(kt_cache_class(h, set, n)[0], 0);
    KT_EXPECT_EQ(kheap_free(h, all), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

static int count_used(void *ctx, void *p, size_t size, bool used)
{
    (void)p, (void)size;
    *(unsigned *)ctx += used;
    return 0;
}

KTEST(cpu_walk_and_check_see_every_set)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    void *p[CPUS];
    for (unsigned i = 0; i < CPUS; i++)
        KT_ASSERT((p[i] = kheap_alloc(h, 32)) != 0);
    for (current = 0; current < CPUS; current++)
        KT_EXPECT_EQ(kheap_free(h, p[current]), 0);     /* one held in each set */
    for (unsigned set = 0; set < CPUS; set++)
        KT_EXPECT_EQ(kt_cache_class(h, set, 2)[0], 1);
    unsigned used = 0;
    KT_EXPECT_EQ(kheap_walk(h, count_used, &used), 0);
    KT_EXPECT_EQ(used, 0u);                             /* held ones are free to the walk */
    for (unsigned i = 0; i < CPUS; i++)
        KT_ASSERT((p[i] = kheap_alloc(h, 32)) != 0);
    for (current = 0; current < CPUS; current++)
        KT_EXPECT_EQ(kheap_free(h, p[current]), 0);
    uint32_t *cls = kt_cache_class(h, 3, 2);            /* the last CPU's set */
    KT_ASSERT(cls[0] == 1);
    uint32_t saved = cls[1];
    cls[1] = kt_cache_class(h, 0, 2)[1];                /* the same allocation as set 0's */
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    cls[1] = saved;
    cls[2] = 5;                                         /* an empty slot not zero */
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, &cls[2]);
    cls[2] = 0;
    KT_EXPECT_EQ(kheap_check(h), 0);
}


KTEST(cpu_a_set_held_elsewhere_is_passed_over_and_check_names_it)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    current = 1;
    unsigned char *p = kheap_alloc(h, 32), *q = kheap_alloc(h, 32);
    KT_ASSERT(p && q);
    kt_fill(q, 32, 4);
    uintptr_t *busy = kt_cache_set(h, 1);
    KT_ASSERT(*busy == 0);
    *busy = 1;                                          /* as if CPU 1 were inside its set */
    KT_EXPECT_EQ(kheap_free(h, p), 0);                  /* into the bitmaps instead */
    KT_EXPECT_EQ(kt_cache_class(h, 1, 2)[0], 0);
    KT_EXPECT(kheap_alloc(h, 32) != 0);                 /* from the index, not the set */
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);       /* a set held past the wait */
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, busy);
    *busy = 0;
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kheap_free(h, q), 0);                  /* now held in CPU 1's set */
    KT_EXPECT_EQ(kt_cache_class(h, 1, 2)[0], 1);
    KT_EXPECT_EQ(kt_stats(h).live_allocs, 1u);          /* its free counted (folded in) */
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(cpu_hits_without_the_lock_count_in_stats_and_peak)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    void *a = kheap_alloc(h, 32), *b = kheap_alloc(h, 32);
    KT_ASSERT(a && b);
    KT_EXPECT_EQ(kheap_free(h, a), 0);                  /* both into CPU 0's set */
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    void *c = kheap_alloc(h, 48);                       /* 3 blocks: from the index */
    KT_ASSERT(c);
    KT_EXPECT_EQ(kt_stats(h).peak_used, 64u);           /* two allocations of 32 at most */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 32), b);            /* both back, without the lock */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 32), a);
    struct kheap_stats st = kt_stats(h);                /* folded: 112 bytes live */
    KT_EXPECT_EQ(st.used, 112u);
    KT_EXPECT_EQ(st.peak_used, 112u);
    KT_EXPECT_EQ(st.live_allocs, 3u);
    KT_EXPECT_EQ(st.total_allocs, 5u);
    KT_EXPECT_EQ(st.total_frees, 2u);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(cpu_a_held_set_keeps_its_entries_through_a_failing_request)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    size_t cap = kt_stats(h).capacity;
    current = 2;
    void *p = kheap_alloc(h, 32);
    KT_ASSERT(p);
    KT_EXPECT_EQ(kheap_free(h, p), 0);                  /* held in CPU 2's set */
    KT_EXPECT_EQ(kt_stats(h).used, 0u);                 /* (its count folded: free) */
    uintptr_t *busy = kt_cache_set(h, 2);
    *busy = 1;                                          /* CPU 2 inside its set */
    current = 0;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, cap), 0);           /* its 2 blocks cannot be had now */
    KT_EXPECT_EQ(kt_cache_class(h, 2, 2)[0], 1);              /* still held there */
    *busy = 0;
    void *all = kheap_alloc(h, cap);                    /* now every set is emptied */
    KT_EXPECT(all != 0);
    KT_EXPECT_EQ(kheap_free(h, all), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(cpu_kmalloc_and_kfree_use_the_cpus_set_too)
{
    kheap_set_cpu(cpu_index, CPUS);
    current = 3;
    void *mem = kt_mem(POOL, 16);
    KT_ASSERT(mem && kmalloc_init(mem, POOL) == 0);
    void *p = kmalloc(40), *q = kmalloc(40);
    KT_ASSERT(p && q);
    kfree(p);                                           /* into CPU 3's set */
    KT_EXPECT_EQ(kt_cache_class(kmalloc_heap(), 3, 3)[0], 1);
    current = 1;
    KT_EXPECT(kmalloc(40) != p);                        /* CPU 1's set holds none */
    current = 3;
    KT_EXPECT_PTR_EQ(kmalloc(40), p);                   /* CPU 3's does */
    kfree(q);
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
}

static int cpu_locks;                       /* calls of the counting lock below */

static uintptr_t counting_lock(void)
{
    cpu_locks++;
    return 0;
}

static void counting_unlock(uintptr_t state)
{
    (void)state;
}

/* Frees p with the counting lock set: true when it went into the CPU's set without it. */
static bool freed_without_lock(kheap_t *h, void *p)
{
    cpu_locks = 0;
    kheap_set_lock(counting_lock, counting_unlock);
    int err = kheap_free(h, p);
    kheap_set_lock(0, 0);
    return err == 0 && cpu_locks == 0;
}

/* A hole of 3 blocks at block `first` of a full pool: one allocation from block 0 to it, one
 * from past it to the end (longer than any class: placed by kh_take, never cached). */
static void *three_at(kheap_t *h, uintptr_t first, void **low, void **high)
{
    uintptr_t *cb = (uintptr_t *)h, shift = cb[CB_SHIFT], all = cb[CB_NBLOCKS];
    *low = kheap_alloc(h, all << shift);                /* block 0: the only place */
    *high = 0;
    if (!*low || !kheap_realloc(h, *low, (first + 3) << shift))
        return 0;
    *high = kheap_alloc(h, (all - first - 3) << shift); /* the rest, to the end */
    if (!*high || !kheap_realloc(h, *low, first << shift))
        return 0;
    return kheap_alloc(h, 3u << shift);                 /* the only fit */
}

/* The length a free without the lock reads (lf_length) steps from one bitmap word to the
 * next: an allocation starting at a word's last block, and one ending at a word's end, are
 * freed into the set like any other. */
KTEST(cpu_a_free_whose_length_meets_a_bitmap_word_edge_needs_no_lock)
{
    kheap_t *h = cpu_pool(POOL);
    KT_ASSERT(h);
    uintptr_t *cb = (uintptr_t *)h, bits = 8 * sizeof(uintptr_t);
    KT_ASSERT(cb[CB_NBLOCKS] > 2 * bits + 3 + cb[CB_CLASSES]);
    uintptr_t edge[2] = { bits - 1, 2 * bits - 3 };     /* a word's last block; its end */
    for (unsigned k = 0; k < 2; k++) {
        void *low, *high, *p = three_at(h, edge[k], &low, &high);
        KT_ASSERT(p);
        KT_EXPECT_PTR_EQ(p, (unsigned char *)cb[CB_BASE] + (edge[k] << cb[CB_SHIFT]));
        KT_EXPECT(freed_without_lock(h, p));
        KT_EXPECT_EQ(kt_cache_class(h, 0, 3)[0], 1);
        KT_EXPECT_EQ(kheap_free(h, low), 0);
        KT_EXPECT_EQ(kheap_free(h, high), 0);
        KT_EXPECT_EQ(kheap_check(h), 0);                /* (the next pass's first call */
    }                                                   /* empties the set: it needs all) */
}

/* What a CPU's set cannot serve goes to that CPU's window: the blocks of one cache line of
 * the cached bitmap (the bitmap lock-free calls write), so two CPUs allocating in turn, each
 * nearly a window's worth, never write one line; the window word out of range is damage. */
#define TURNS 160                           /* allocations per CPU: 480 blocks */

static uintptr_t cached_line(kheap_t *h, const void *p)
{
    uintptr_t *cb = (uintptr_t *)h;
    uintptr_t b = ((uintptr_t)p - cb[CB_BASE]) >> cb[CB_SHIFT];
    return (cb[CB_CACHED] + b / KT_WORD_BITS * sizeof(uintptr_t)) / 64;
}

KTEST(cpu_allocations_of_two_cpus_lie_in_windows_of_their_own)
{
    kheap_t *h = cpu_pool(256 * 1024);
    KT_ASSERT(h);
    static void *p[2][TURNS];
    for (unsigned k = 0; k < TURNS; k++)
        for (unsigned cpu = 0; cpu < 2; cpu++) {
            current = cpu;
            p[cpu][k] = kheap_alloc(h, 16 + 16 * (k % 5));      /* 1 .. 5 blocks */
            KT_ASSERT(p[cpu][k]);
        }
    unsigned shared = 0;
    for (unsigned i = 0; i < TURNS; i++)
        for (unsigned k = 0; k < TURNS; k++)
            shared += cached_line(h, p[0][i]) == cached_line(h, p[1][k]);
    KT_EXPECT_EQ(shared, 0u);
    uintptr_t *word = kt_cache_set(h, 1) + 4, saved = *word;
    KT_EXPECT(saved != 0);
    *word = ~(uintptr_t)0;
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    *word = saved;
    for (unsigned cpu = 0; cpu < 2; cpu++)
        for (unsigned k = 0; k < TURNS; k++) {
            current = 1 - cpu;                                  /* freed on the other CPU */
            KT_EXPECT_EQ(kheap_free(h, p[cpu][k]), 0);
        }
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* A CPU without a window starts one where kh_take puts its allocation at a window's
 * multiple of address, by the index's class heads alone: here the only such free block
 * lies in an older hole of the class whose head (a newer hole) holds none, so the
 * allocation goes where kh_take puts it unaligned, the head, and no run is walked. */
#define CHUNK 100                           /* blocks: above the classes, never cached */

KTEST(cpu_a_new_window_is_sought_by_the_class_heads_alone)
{
    kheap_t *h = cpu_pool(256 * 1024);
    KT_ASSERT(h);
    uintptr_t *cb = (uintptr_t *)h, window = (uintptr_t)512 << cb[CB_SHIFT];
    static unsigned char *chunk[256];
    unsigned n = 0;
    while (n < 256 && (chunk[n] = kheap_alloc(h, CHUNK * 16)))
        n++;
    struct kheap_stats st = kt_stats(h);
    void *rest = st.capacity > st.used ? kheap_alloc(h, st.capacity - st.used) : 0;
    KT_ASSERT(kt_stats(h).used == st.capacity);             /* full */
    int aligned = -1, plain = -1;       /* a chunk with such a block, and one without */
    for (unsigned k = 0; k < n; k++) {  /* not next to it (the holes would be one run) */
        uintptr_t a = (uintptr_t)chunk[k], next = (a + window - 1) / window * window;
        if (next < a + CHUNK * 16)
            aligned = aligned < 0 ? (int)k : aligned;
        else if (aligned >= 0 && (int)k > aligned + 1 && plain < 0)
            plain = (int)k;
    }
    KT_ASSERT(aligned >= 0 && plain >= 0);
    KT_EXPECT_EQ(kheap_free(h, chunk[aligned]), 0);         /* the older hole */
    KT_EXPECT_EQ(kheap_free(h, chunk[plain]), 0);           /* the newer: its class's head */
    current = 1;
    void *p = kheap_alloc(h, 16);
    KT_EXPECT_PTR_EQ(p, chunk[plain]);
    KT_EXPECT_EQ(kheap_check(h), 0);
    current = 0;
    KT_EXPECT_EQ(kheap_free(h, p), 0);
    for (unsigned k = 0; k < n; k++)
        if ((int)k != aligned && (int)k != plain)
            KT_EXPECT_EQ(kheap_free(h, chunk[k]), 0);
    KT_EXPECT_EQ(kheap_free(h, rest), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}
