/* irqlock.c - pushf; cli to lock, popf to unlock: the lock kheap_set_lock gets on one CPU.
 * Restoring the whole flags word brings IF back exactly as it was, so locks nest. */
#include <kernel/irqlock.h>

uintptr_t cpu_flags(void)
{
    uintptr_t flags;
#ifdef __x86_64__
    __asm__ volatile("pushfq; popq %0" : "=r"(flags));
#else
    __asm__ volatile("pushfl; popl %0" : "=r"(flags));
#endif
    return flags;
}

uintptr_t irq_save(void)
{
    uintptr_t flags;
#ifdef __x86_64__
    __asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
#else
    __asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
#endif
    return flags;
}

void irq_restore(uintptr_t flags)
{
#ifdef __x86_64__
    __asm__ volatile("pushq %0; popfq" : : "r"(flags) : "memory", "cc");
#else
    __asm__ volatile("pushl %0; popfl" : : "r"(flags) : "memory", "cc");
#endif
}
