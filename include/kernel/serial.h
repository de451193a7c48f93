/* serial.h - the COM1 serial port (0x3F8, 115200 8N1): the kernel's only console. */
#ifndef KERNEL_SERIAL_H
#define KERNEL_SERIAL_H

void serial_init(void);
void serial_putc(char c);            /* "\n" goes out as "\r\n" */
void serial_write(const char *s);

#endif
