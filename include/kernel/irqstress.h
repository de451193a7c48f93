/* irqstress.h - the kernel heap under fire: a timer interrupt allocating and freeing at
 * PIT_HZ while the main loop runs a random stress, with or without the heap's lock. */
#ifndef KERNEL_IRQSTRESS_H
#define KERNEL_IRQSTRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct irq_stress {
    unsigned irq_allocs, irq_frees, irq_failed;     /* in the interrupt handler */
    unsigned main_ops, main_failed;                 /* in the main loop */
    unsigned damaged;       /* allocations whose bytes changed under their owner */
    unsigned overlaps;      /* new allocations that overlapped a live one */
    unsigned bad_frees;     /* frees the heap refused */
    int check;              /* kheap_check at the end */
    uint32_t ticks;         /* timer ticks the run lasted */
};

/* Runs for ms milliseconds on a fresh kernel heap in pool: with locked, the IRQ-save lock
 * (irq_save/irq_restore) is set; without it, none is, to show what the lock prevents.
 * Interrupts must be enabled. Leaves the kernel heap empty and the lock unset. */
struct irq_stress irq_stress(bool locked, unsigned ms, void *pool, size_t size);

#endif
