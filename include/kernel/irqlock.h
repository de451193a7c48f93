/* irqlock.h - the stub kernel's locks. irq_save / irq_restore: save the interrupt flag and
 * disable interrupts, restore the saved flag; they nest, and never enable interrupts that were
 * off. A ticket spinlock for data shared between CPUs, and the kernel heap's lock: both
 * together, so neither another CPU nor an interrupt on this one enters the heap meanwhile. */
#ifndef KERNEL_IRQLOCK_H
#define KERNEL_IRQLOCK_H

#include <stdint.h>

uintptr_t irq_save(void);
uintptr_t cpu_flags(void);                  /* the flags word as it is (IF is bit 9) */
void irq_restore(uintptr_t state);

/* A ticket lock: CPUs get it in the order they asked. Not nestable. Zero is unlocked. */
struct spinlock {
    volatile uint32_t next, serving;
};
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);

/* kheap_set_lock's pair for the kernel heap: irq_save, then the heap's ticket lock. */
uintptr_t heap_lock(void);
void heap_unlock(uintptr_t state);

#endif
