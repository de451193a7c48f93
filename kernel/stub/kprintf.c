/* kprintf.c - a small printf for the stub kernel: one formatter, two sinks (serial, buffer).
 * 32-bit integers only, so no libgcc helpers are needed. A line to serial is written whole:
 * under a lock that CPUs take in turn, and that a CPU already holding it (an exception while
 * it prints) passes through. */
#include <stdint.h>
#include <stdbool.h>
#include <kernel/kprintf.h>
#include <kernel/irqlock.h>
#include <kernel/serial.h>
#include <kernel/smp.h>

struct sink {
    char *buf;                  /* NULL: write to the serial port */
    size_t size, len;
};

static void emit(struct sink *out, char c)
{
    if (!out->buf)
        serial_putc(c);
    else if (out->len + 1 < out->size)
        out->buf[out->len] = c;
    out->len++;
}

/* An unsigned number in base 10 or 16, right-aligned in width, padded with pad. */
static void emit_number(struct sink *out, unsigned long v, unsigned base, bool upper,
                        bool negative, int width, char pad)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + (negative ? 1 : 0);
    if (negative && pad == '0')
        emit(out, '-');
    for (; width > len; width--)
        emit(out, pad);
    if (negative && pad != '0')
        emit(out, '-');
    while (n)
        emit(out, tmp[--n]);
}

static void format(struct sink *out, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(out, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        int size = 0;                           /* 0: int, 1: long, 2: size_t */
        if (*fmt == 'l')
            size = 1, fmt++;
        else if (*fmt == 'z')
            size = 2, fmt++;
        switch (*fmt) {
        case 'd': case 'i': {
            long v = size == 0 ? va_arg(ap, int) : size == 1 ? va_arg(ap, long)
                                                              : (long)va_arg(ap, size_t);
            unsigned long mag = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
            emit_number(out, mag, 10, false, v < 0, width, pad);
            break;
        }
        case 'u': case 'x': case 'X': {
            unsigned long v = size == 0 ? va_arg(ap, unsigned) : size == 1
                              ? va_arg(ap, unsigned long) : va_arg(ap, size_t);
            emit_number(out, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad);
            break;
        }
        case 'p':
            emit(out, '0'), emit(out, 'x');
            emit_number(out, (uintptr_t)va_arg(ap, void *), 16, false, false,
                        2 * sizeof(void *), '0');
            break;
        case 'c':
            emit(out, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = 0;
            while (s[len])
                len++;
            for (; width > len; width--)
                emit(out, ' ');
            while (*s)
                emit(out, *s++);
            break;
        }
        case '%':
            emit(out, '%');
            break;
        case '\0':
            return;
        default:                                /* unknown: print it as written */
            emit(out, '%');
            emit(out, *fmt);
        }
    }
}

static struct spinlock print_lock;
static volatile unsigned print_holder;      /* the holding CPU's index + 1, or 0 */

void kvprintf(const char *fmt, va_list ap)
{
    uintptr_t flags = irq_save();
    unsigned me = cpu_index() + 1;
    bool nested = print_holder == me;
    if (!nested) {
        spin_lock(&print_lock);
        print_holder = me;
    }
    struct sink out = {0};
    format(&out, fmt, ap);
    if (!nested) {
        print_holder = 0;
        spin_unlock(&print_lock);
    }
    irq_restore(flags);
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}

size_t ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    struct sink out = { buf, size, 0 };
    va_list ap;
    va_start(ap, fmt);
    format(&out, fmt, ap);
    va_end(ap);
    if (size)
        buf[out.len < size ? out.len : size - 1] = '\0';
    return out.len;
}
