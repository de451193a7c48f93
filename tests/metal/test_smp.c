/* test_smp.c - (kernel only) every CPU the firmware lists is started, with its own index and
 * timer. make test boots it on 4 CPUs in parallel (-smp 4 -accel tcg,thread=multi); the heap
 * on all of them at once is tests/smp/test_cpus.c. */
#include <kernel/acpi.h>
#include <kernel/pit.h>
#include <kernel/smp.h>
#include "ktest.h"

struct seen {
    unsigned index[SMP_MAX_CPUS];           /* what cpu_index said on each CPU */
    uint32_t ticks[SMP_MAX_CPUS];           /* its timer count, twice, 20 ms apart */
    uint32_t later[SMP_MAX_CPUS];
};

static void look(unsigned cpu, void *arg)
{
    struct seen *s = arg;
    s->index[cpu] = cpu_index() + 1;
    s->ticks[cpu] = cpu ? smp_cpu(cpu)->ticks : pit_ticks();
    uint32_t start = pit_ticks();
    while (pit_ticks() - start < 20)        /* the PIT: the BSP's count, readable anywhere */
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
        KT_EXPECT(s.later[c] - s.ticks[c] >= 10);       /* 20 ms at 1 kHz, with slack */
        for (unsigned d = 0; d < c; d++)
            KT_EXPECT(smp_cpu(c)->apic_id != smp_cpu(d)->apic_id);
    }
}
