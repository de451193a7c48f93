/* perf.h - the kernel's own speed figure: rdtsc cycles per kmalloc/kfree pair on a W2-like
 * workload (make bench's kernel mix) over a 16 MiB pool. A report, not a test. */
#ifndef KERNEL_PERF_H
#define KERNEL_PERF_H

/* Prints "# ..." lines over serial: cycles per pair, and whether the CPU is emulated. */
void perf_report(void);

#endif
