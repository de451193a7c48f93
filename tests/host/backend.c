/* backend.c - the test harness's backend on a host (tests/ktest.h): KTAP on stdout, and every
 * scratch request its own exact-size heap block, so ASan and Valgrind see each pool's bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <valgrind/memcheck.h>
#include "ktest.h"

#define MAX_SCRATCH 4096

static void *blocks[MAX_SCRATCH];
static size_t nblocks, total;

void ktest_write(const char *s)
{
    fputs(s, stdout);
    fflush(stdout);
}

void *ktest_scratch(size_t size, size_t align)
{
    void *p = 0;
    if (nblocks == MAX_SCRATCH || size > KT_SCRATCH_SIZE - total)
        return 0;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        return 0;
    total += size;
    return blocks[nblocks++] = p;
}

void ktest_scratch_reset(void)
{
    while (nblocks)
        free(blocks[--nblocks]);
    total = 0;
}

void ktest_expose(const void *p, size_t n)
{
    VALGRIND_MAKE_MEM_DEFINED(p, n);        /* nothing at all outside Valgrind */
}

/* Weak: a host program with arguments of its own (tests/host/threads.c) brings its main. */
__attribute__((weak)) int main(void)
{
    return ktest_run() == 0 ? 0 : 1;
}
