/* demo.h - what `make run` shows: the kernel heap at work, printed over serial. */
#ifndef KERNEL_DEMO_H
#define KERNEL_DEMO_H

/* Runs on the kernel heap set up by kmain; panics if the heap misbehaves. */
void demo_run(void);

#endif
