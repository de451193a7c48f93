/* test_smp.c - (kernel only) every CPU the firmware lists is started, with its own index and
 * timer; and the timer interrupt of every CPU allocates and frees at 1 kHz while all the CPUs
 * share the pool. make test boots it on 4 CPUs in parallel (-smp 4 -accel tcg,thread=multi);
 * the heap on all of them at once without interrupts is tests/smp/test_cpus.c. */
#include <kernel/acpi.h>
#include <kernel/irqlock.h>
#include <kernel/pit.h>
#include <kernel/smp.h>
#include <kernel/smpstress.h>
#include "ktest.h"

struct seen {
    unsigned index[SMP_MAX_CPUS];           /* what cpu_index said on each CPU */
    uint32_t ticks[SMP_MAX_CPUS];           /* its timer count, twice, 100 ms apart */
    uint32_t later[SMP_MAX_CPUS];
};

static void look(unsigned cpu, void *arg)
{
    struct seen *s = arg;
    s->index[cpu] = cpu_index() + 1;
    s->ticks[cpu] = cpu ? smp_cpu(cpu)->ticks : pit_ticks();
    uint32_t start = pit_ticks();
    while (pit_ticks() - start < 100)       /* the PIT: the BSP's count, readable anywhere */
        __asm__ volatile("pause");
    s->later[cpu] = cpu ? smp_cpu(cpu)->ticks : pit_ticks();
}

KTEST(smp_every_cpu_of_the_madt_runs_with_its_index_and_its_timer)
{
    struct acpi_cpus found;
    unsigned listed = acpi_find_cpus(&found) ? found.count : 1;
    KT_EXPECT_EQ(smp_cpus(), listed);
    static struct seen s;
    s = (struct seen){0};
    smp_run(look, &s);
    for (unsigned c = 0; c < smp_cpus(); c++) {
        KT_EXPECT_EQ(s.index[c], c + 1);
        KT_EXPECT(s.later[c] - s.ticks[c] >= 10);   /* 100 at 1 kHz; ticks a busy host drops */
        for (unsigned d = 0; d < c; d++)
            KT_EXPECT(smp_cpu(c)->apic_id != smp_cpu(d)->apic_id);
    }
}

/* ---------------------------------------------------------------- interrupts on every CPU */

#define STORM_OPS    20000                  /* the main loops' allocations per CPU, a round */
#define STORM_SLOTS  8                      /* each CPU's interrupt allocations, at most */
#define STORM_ALLOCS 50                     /* rounds run until every CPU's interrupts made
                                               this many (at most STORM_ROUNDS rounds) */
#define STORM_ROUNDS 40

/* What each CPU's timer interrupt holds and did: its own slots, filled with its own tag. */
static struct storm_cpu {
    unsigned char *p[STORM_SLOTS];
    unsigned size[STORM_SLOTS];
    uint32_t rnd;
    unsigned allocs, frees, damaged, refused;
} storm[SMP_MAX_CPUS];
static kheap_t *storm_pool;

static bool storm_intact(const unsigned char *p, unsigned size, unsigned char tag)
{
    for (unsigned i = 0; i < size; i++)
        if (p[i] != tag)
            return false;
    return true;
}

/* One timer tick on CPU cpu, interrupts off: a free or an allocation in its own slots. */
static void storm_tick(unsigned cpu)
{
    struct storm_cpu *s = &storm[cpu];
    s->rnd ^= s->rnd << 13, s->rnd ^= s->rnd >> 17, s->rnd ^= s->rnd << 5;
    unsigned k = s->rnd % STORM_SLOTS;
    unsigned char tag = (unsigned char)(0xC0 | cpu);
    if (s->p[k]) {
        s->damaged += !storm_intact(s->p[k], s->size[k], tag);
        s->refused += kheap_free(storm_pool, s->p[k]) != 0;
        s->p[k] = 0;
        s->frees++;
        return;
    }
    unsigned size = 16 + (s->rnd >> 8) % 112;
    unsigned char *p = kheap_alloc(storm_pool, size);
    if (!p)
        return;
    for (unsigned i = 0; i < size; i++)
        p[i] = tag;
    s->p[k] = p, s->size[k] = size;
    s->allocs++;
}

static void storm_pit_tick(void)
{
    storm_tick(0);                          /* the PIT interrupts the BSP alone */
}

static bool storm_enough(void)
{
    for (unsigned c = 0; c < smp_cpus(); c++)
        if (storm[c].allocs < STORM_ALLOCS)
            return false;
    return true;
}

KTEST(smp_timer_interrupts_on_every_cpu_allocate_while_the_cpus_share_the_pool)
{
    kheap_set_cpu(cpu_index, smp_cpus());
    storm_pool = kt_pool(512 * 1024, 0);
    KT_ASSERT(storm_pool);
    kheap_set_lock(heap_lock, heap_unlock);     /* interrupts off while a CPU holds it */
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        storm[c] = (struct storm_cpu){ .rnd = 2654435761u * (c + 1) };
    smp_set_tick_hook(storm_tick);
    pit_set_hook(storm_pit_tick);
    static struct smp_stress r;
    struct smp_stress_count sum = {0};
    for (unsigned round = 0; round < STORM_ROUNDS && !storm_enough(); round++) {
        smp_stress(storm_pool, STORM_OPS, &r);
        sum.allocs += r.total.allocs, sum.frees += r.total.frees;
        sum.damaged += r.total.damaged, sum.refused += r.total.refused;
    }
    pit_set_hook(0);
    smp_set_tick_hook(0);
    unsigned allocs = 0;
    for (unsigned c = 0; c < smp_cpus(); c++) {
        KT_EXPECT(storm[c].allocs >= STORM_ALLOCS);     /* each CPU's interrupts allocated */
        KT_EXPECT_EQ(storm[c].damaged, 0u);
        KT_EXPECT_EQ(storm[c].refused, 0u);
        for (unsigned k = 0; k < STORM_SLOTS; k++)
            if (storm[c].p[k]) {
                KT_EXPECT(storm_intact(storm[c].p[k], storm[c].size[k], 0xC0 | c));
                KT_EXPECT_EQ(kheap_free(storm_pool, storm[c].p[k]), 0);
            }
        allocs += storm[c].allocs;
    }
    KT_EXPECT_EQ(sum.damaged, 0u);
    KT_EXPECT_EQ(sum.refused, 0u);
    KT_EXPECT_EQ(sum.frees, sum.allocs);
    struct kheap_stats st = kt_stats(storm_pool);
    KT_EXPECT_EQ(st.live_allocs, 0u);
    KT_EXPECT_EQ(st.faults, 0u);
    KT_EXPECT_EQ(kheap_check(storm_pool), 0);
    char n[12];
    ktest_write("# ");
    ktest_write(kt_utoa(n, smp_cpus()));
    ktest_write(" CPUs: ");
    ktest_write(kt_utoa(n, sum.allocs));
    ktest_write(" main-loop allocations, ");
    ktest_write(kt_utoa(n, allocs));
    ktest_write(" in timer interrupts\n");
}
