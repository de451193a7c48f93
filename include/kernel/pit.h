/* pit.h - the 8253/8254 timer on IRQ 0: a tick count, and one optional hook per tick. */
#ifndef KERNEL_PIT_H
#define KERNEL_PIT_H

#include <stdint.h>

#define PIT_HZ 1000u                        /* ticks per second */

void pit_init(void);                        /* PIT_HZ, IRQ 0 unmasked */
uint32_t pit_ticks(void);
/* fn runs in the timer interrupt after each tick (interrupts off); NULL removes it. */
void pit_set_hook(void (*fn)(void));

#endif
