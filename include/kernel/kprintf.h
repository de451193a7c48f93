/* kprintf.h - formatted output to the serial console.
 * Conversions: %s %c %d %i %u %x %X %p %% with l/z size prefixes, a width and the 0 flag. */
#ifndef KERNEL_KPRINTF_H
#define KERNEL_KPRINTF_H

#include <stdarg.h>
#include <stddef.h>

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
/* The same into buf (always NUL-terminated, cut at size-1); returns the length written. */
size_t ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
