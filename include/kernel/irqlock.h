/* irqlock.h - the kernel heap's default lock: save the interrupt flag and disable
 * interrupts; restore the saved flag. It nests, and never enables interrupts that were off. */
#ifndef KERNEL_IRQLOCK_H
#define KERNEL_IRQLOCK_H

#include <stdint.h>

uintptr_t irq_save(void);
uintptr_t cpu_flags(void);                  /* the flags word as it is (IF is bit 9) */
void irq_restore(uintptr_t state);

#endif
