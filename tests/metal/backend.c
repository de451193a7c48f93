/* backend.c - the test harness's backend on the metal (tests/ktest.h): KTAP goes out
 * on COM1, scratch memory comes from a static arena that is emptied before every test. */
#include <stdint.h>
#include <kernel/serial.h>
#include "ktest.h"

static unsigned char arena[KT_SCRATCH_SIZE] __attribute__((aligned(4096)));
static size_t arena_used;

void ktest_write(const char *s)
{
    serial_write(s);
}

void *ktest_scratch(size_t size, size_t align)
{
    uintptr_t base = (uintptr_t)arena;
    uintptr_t at = (base + arena_used + align - 1) & ~(uintptr_t)(align - 1);
    if (at < base || at - base > sizeof arena || size > sizeof arena - (at - base))
        return 0;
    arena_used = at - base + size;
    return (void *)at;
}

void ktest_expose(const void *p, size_t n)
{
    (void)p, (void)n;                       /* no memory checker on the metal */
}

void ktest_scratch_reset(void)
{
    arena_used = 0;
}
