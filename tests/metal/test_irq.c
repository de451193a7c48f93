/* test_irq.c - (kernel only) the kernel heap shared with a 1 kHz timer interrupt that
 * allocates and frees, while the main loop runs a random stress for 2 seconds, locked. */
#include <kernel/irqlock.h>
#include <kernel/irqstress.h>
#include <kernel/pit.h>
#include "ktest.h"

KTEST(irq_allocations_race_the_main_loop_safely_with_the_lock)
{
    void *pool = kt_mem(512 * 1024, 4096);
    KT_ASSERT(pool);
    struct irq_stress r = irq_stress(true, 2000, pool, 512 * 1024);
    char n[12];
    ktest_write("# irq stress, locked: ");
    ktest_write(kt_utoa(n, r.irq_allocs));
    ktest_write(" allocations and ");
    ktest_write(kt_utoa(n, r.irq_frees));
    ktest_write(" frees in the timer interrupt, ");
    ktest_write(kt_utoa(n, r.main_ops));
    ktest_write(" main-loop operations, ");
    ktest_write(kt_utoa(n, r.ticks));
    ktest_write(" ticks\n");
    KT_EXPECT(r.ticks >= 2000);
    KT_EXPECT(r.irq_allocs >= 500);                 /* the interrupt side really ran */
    KT_EXPECT(r.main_ops >= 1000);
    KT_EXPECT(r.damaged == 0);
    KT_EXPECT(r.overlaps == 0);
    KT_EXPECT(r.bad_frees == 0);
    KT_EXPECT(r.check == 0);
}

KTEST(irq_lock_nests_and_keeps_interrupts_as_they_were)
{
    uintptr_t flags = cpu_flags();
    KT_ASSERT(flags & 0x200);                       /* interrupts are on in the tests */
    uintptr_t outer = irq_save(), inner = irq_save();
    flags = cpu_flags();
    KT_EXPECT(!(flags & 0x200));
    irq_restore(inner);                             /* inner: IF was already off */
    flags = cpu_flags();
    KT_EXPECT(!(flags & 0x200));
    irq_restore(outer);
    flags = cpu_flags();
    KT_EXPECT(flags & 0x200);
    uint32_t t = pit_ticks();
    while (pit_ticks() == t)                        /* and the timer still ticks */
        __asm__ volatile("hlt");
    KT_EXPECT(pit_ticks() != t);
}
