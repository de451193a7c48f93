/* gdt.h - a flat global descriptor table: kernel code 0x08 and data 0x10, 0 to 4 GiB. */
#ifndef KERNEL_GDT_H
#define KERNEL_GDT_H

void gdt_init(void);

#endif
