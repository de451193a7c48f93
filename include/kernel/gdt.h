/* gdt.h - a flat global descriptor table per CPU: kernel code 0x08 and data 0x10, 0 to 4 GiB,
 * and the CPU's own data (struct cpu, smp.h) where cpu_index reads it: i386, the segment 0x18
 * that fs holds; x86-64, the GS base register. */
#ifndef KERNEL_GDT_H
#define KERNEL_GDT_H

/* Loads the GDT of CPU index (< SMP_MAX_CPUS) and points its per-CPU register at self. */
void gdt_init_cpu(unsigned index, void *self);

#endif
