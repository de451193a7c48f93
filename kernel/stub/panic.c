/* panic.c - stop the machine: through isa-debug-exit under QEMU, else halt for good.
 * panic prints its message over serial first and ends the run as a failure. */
#include <stdarg.h>
#include <kernel/io.h>
#include <kernel/kprintf.h>
#include <kernel/panic.h>

#define DEBUG_EXIT_PORT 0xF4

void qemu_exit(unsigned code)
{
    outb(DEBUG_EXIT_PORT, (uint8_t)code);
    for (;;)                                    /* no debug-exit device: real hardware */
        __asm__ volatile("cli; hlt");
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kprintf("\nPANIC: ");
    kvprintf(fmt, ap);
    kprintf("\n");
    va_end(ap);
    qemu_exit(QEMU_EXIT_FAILURE);
}
