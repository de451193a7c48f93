/* irqlock.c - the stub kernel's locks: pushf; cli to lock, popf to unlock (one CPU; restoring
 * the whole flags word brings IF back exactly as it was, so these nest), a ticket spinlock
 * (many CPUs), and the kernel heap's lock, both at once. */
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

void spin_lock(struct spinlock *l)
{
    uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&l->serving, __ATOMIC_ACQUIRE) != ticket)
        __asm__ volatile("pause");
}

void spin_unlock(struct spinlock *l)
{
    __atomic_store_n(&l->serving, l->serving + 1, __ATOMIC_RELEASE);
}

static struct spinlock heap_spinlock;

uintptr_t heap_lock(void)
{
    uintptr_t state = irq_save();
    spin_lock(&heap_spinlock);
    return state;
}

void heap_unlock(uintptr_t state)
{
    spin_unlock(&heap_spinlock);
    irq_restore(state);
}
