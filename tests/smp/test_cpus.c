/* test_cpus.c - the heap on every CPU at once (smp_run), each CPU with its own quick caches
 * (kheap_set_cpu): a pool shared under the heap's lock with each CPU freeing the others'
 * allocations, contents checked; every CPU freeing the same pointer at once. On the metal (tests/metal, -smp 4) the CPUs are QEMU's, the lock is the
 * kernel's (IRQ-save + ticket spinlock); on a host (tests/host/threads.c) they are threads and
 * the lock a mutex, run under ThreadSanitizer too. On one CPU the cases run on it alone. */
#include <kernel/irqlock.h>
#include <kernel/smp.h>
#include <kernel/smpstress.h>
#include "ktest.h"

#define SHARE_ALLOCS 500000                 /* in all, each freed: 1M heap calls */
#define RACE_ROUNDS 200

/* A sense-reversing barrier for the CPUs of one smp_run. */
struct barrier {
    volatile uint32_t arrived, sense;
};

static void barrier_wait(struct barrier *b, uint32_t *my_sense)
{
    uint32_t sense = *my_sense ^= 1;
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == smp_cpus()) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, sense, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != sense)
            cpu_relax();
    }
}

/* ---------------------------------------------------------------- one pool, every CPU */

KTEST(smp_cpus_share_a_pool_under_the_heap_lock_and_free_each_others_allocations)
{
    kheap_set_cpu(cpu_index, smp_cpus());           /* a quick-cache set per CPU */
    kheap_t *h = kt_pool(256 * 1024, 0);
    KT_ASSERT(h);
    kheap_set_lock(heap_lock, heap_unlock);
    static struct smp_stress r;
    unsigned each = SHARE_ALLOCS / smp_cpus();
    smp_stress(h, each, &r);
    for (unsigned c = 0; c < smp_cpus(); c++)       /* the pool never runs out */
        KT_EXPECT_EQ(r.cpu[c].allocs, each + SMP_STRESS_HANDED);
    KT_EXPECT_EQ(r.total.damaged, 0u);
    KT_EXPECT_EQ(r.total.refused, 0u);
    KT_EXPECT_EQ(r.total.frees, r.total.allocs);
    if (smp_cpus() > 1)                             /* the hand-over's at least */
        KT_EXPECT(r.total.foreign >= smp_cpus() * SMP_STRESS_HANDED);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT_EQ(st.live_allocs, 0u);
    KT_EXPECT_EQ(st.total_allocs, (size_t)r.total.allocs);
    KT_EXPECT_EQ(st.faults, 0u);
    KT_EXPECT_EQ(kheap_check(h), 0);
    char n[12];
    ktest_write("# ");
    ktest_write(kt_utoa(n, smp_cpus()));
    ktest_write(" CPUs: ");
    ktest_write(kt_utoa(n, r.total.allocs));
    ktest_write(" allocations and as many frees, ");
    ktest_write(kt_utoa(n, r.total.foreign));
    ktest_write(" freed by another CPU\n");
}

/* ---------------------------------------------------------------- one pointer, every CPU */

static volatile uint32_t race_faults;     /* the fault hook runs on every CPU */

static void count_fault(const struct kheap_fault *f)
{
    (void)f;
    __atomic_fetch_add(&race_faults, 1, __ATOMIC_RELAXED);
}

struct race {
    kheap_t *h;
    struct barrier b;
    void *volatile p;
    volatile uint32_t freed, doubled, other;
};

static void race_work(unsigned cpu, void *arg)
{
    struct race *r = arg;
    uint32_t sense = 0;
    for (unsigned round = 0; round < RACE_ROUNDS; round++) {
        if (cpu == 0)
            r->p = kheap_alloc(r->h, 16 + 16 * (round % 8));
        barrier_wait(&r->b, &sense);
        int err = kheap_free(r->h, r->p);
        __atomic_fetch_add(err == 0 ? &r->freed : err == KHEAP_EDOUBLE ? &r->doubled
                                                                        : &r->other, 1,
                           __ATOMIC_RELAXED);
        barrier_wait(&r->b, &sense);
    }
}

KTEST(smp_cpus_freeing_one_pointer_at_once_one_succeeds_the_others_get_edouble)
{
    static struct race r;
    kheap_set_cpu(cpu_index, smp_cpus());
    r = (struct race){ .h = kt_pool(64 * 1024, 0) };
    KT_ASSERT(r.h);
    race_faults = 0;
    kheap_set_fault_handler(count_fault);
    kheap_set_lock(heap_lock, heap_unlock);
    smp_run(race_work, &r);
    KT_EXPECT_EQ(r.freed, (uint32_t)RACE_ROUNDS);
    KT_EXPECT_EQ(r.doubled, (uint32_t)(RACE_ROUNDS * (smp_cpus() - 1)));
    KT_EXPECT_EQ(r.other, 0u);
    KT_EXPECT_EQ(race_faults, RACE_ROUNDS * (smp_cpus() - 1));   /* one per EDOUBLE */
    struct kheap_stats st = kt_stats(r.h);
    KT_EXPECT_EQ(st.live_allocs, 0u);
    KT_EXPECT_EQ(kheap_check(r.h), 0);
}
