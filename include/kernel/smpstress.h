/* smpstress.h - the heap shared by every CPU at once: each allocates, fills the allocation
 * with a pattern naming it, and swaps it into a shared slot, freeing what it finds there
 * (often another CPU's allocation) after checking its bytes; then each frees a batch the
 * next CPU allocated. */
#ifndef KERNEL_SMPSTRESS_H
#define KERNEL_SMPSTRESS_H

#include <kheap.h>
#include <kernel/smp.h>

struct smp_stress_count {
    unsigned allocs, failed;                /* allocations made, and refused */
    unsigned frees, foreign;                /* frees, and those of another CPU's allocation */
    unsigned damaged;                       /* allocations whose bytes changed meanwhile */
    unsigned refused;                       /* frees the heap refused */
};

struct smp_stress {
    struct smp_stress_count cpu[SMP_MAX_CPUS], total;
};

#define SMP_STRESS_HANDED 64                /* allocations each CPU hands to the one before */

/* ops allocations per CPU on every online CPU at once (smp_run), from pool h, or with h NULL
 * from the kernel heap (kmalloc, kfree), through shared slots; then SMP_STRESS_HANDED more
 * each, which CPU c - 1 frees once every CPU has made them. What is left in the slots is
 * freed at the end, on CPU 0. The heap's lock must be one for many CPUs (heap_lock). */
void smp_stress(kheap_t *h, unsigned ops, struct smp_stress *out);

#endif
