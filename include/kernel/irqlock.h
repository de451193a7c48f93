/* irqlock.h - the kernel heap's default lock: save the interrupt flag and disable
 * interrupts; restore the saved flag. It nests, and never enables interrupts that were off. */
#ifndef KERNEL_IRQLOCK_H
#define KERNEL_IRQLOCK_H

#include <stdint.h>

uintptr_t irq_save(void);
void irq_restore(uintptr_t state);

#endif
