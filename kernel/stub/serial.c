/* serial.c - COM1 driver: 115200 baud, 8 data bits, no parity, 1 stop bit, polled.
 * Output only; the kernel never reads the port. */
#include <kernel/io.h>
#include <kernel/serial.h>

#define COM1            0x3F8
#define REG_DATA        0       /* with DLAB=1: divisor low byte */
#define REG_IER         1       /* with DLAB=1: divisor high byte */
#define REG_FCR         2
#define REG_LCR         3
#define REG_MCR         4
#define REG_LSR         5
#define LCR_DLAB        0x80
#define LCR_8N1         0x03
#define FCR_ENABLE_CLEAR 0xC7   /* FIFO on, both cleared, 14-byte threshold */
#define MCR_DTR_RTS_OUT2 0x0B
#define LSR_THR_EMPTY   0x20
#define BAUD_DIVISOR    1       /* 115200 / 115200 */

void serial_init(void)
{
    outb(COM1 + REG_IER, 0);                    /* no interrupts */
    outb(COM1 + REG_LCR, LCR_DLAB);
    outb(COM1 + REG_DATA, BAUD_DIVISOR & 0xFF);
    outb(COM1 + REG_IER, BAUD_DIVISOR >> 8);
    outb(COM1 + REG_LCR, LCR_8N1);
    outb(COM1 + REG_FCR, FCR_ENABLE_CLEAR);
    outb(COM1 + REG_MCR, MCR_DTR_RTS_OUT2);
}

static void put_raw(char c)
{
    while (!(inb(COM1 + REG_LSR) & LSR_THR_EMPTY))
        ;
    outb(COM1 + REG_DATA, (uint8_t)c);
}

void serial_putc(char c)
{
    if (c == '\n')
        put_raw('\r');
    put_raw(c);
}

void serial_write(const char *s)
{
    while (*s)
        serial_putc(*s++);
}
