/* pic.h - the two 8259A interrupt controllers, remapped to vectors 32-47. */
#ifndef KERNEL_PIC_H
#define KERNEL_PIC_H

#include <stdbool.h>

void pic_init(void);                /* remapped, every line masked */
void pic_unmask(unsigned irq);
void pic_eoi(unsigned irq);
bool pic_spurious(unsigned irq);    /* a spurious IRQ 7 or 15, which gets no EOI */

#endif
