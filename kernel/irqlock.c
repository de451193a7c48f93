/* irqlock.c - pushfd; cli to lock, popfd to unlock: the lock kheap_set_lock gets on one CPU.
 * Restoring the whole EFLAGS word brings IF back exactly as it was, so locks nest. */
#include <kernel/irqlock.h>

uintptr_t irq_save(void)
{
    uintptr_t flags;
    __asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
    return flags;
}

void irq_restore(uintptr_t flags)
{
    __asm__ volatile("pushl %0; popfl" : : "r"(flags) : "memory", "cc");
}
