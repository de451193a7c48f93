/* debug_cost.c - what KHEAP_F_DEBUG costs: the same seeded random workload on a plain pool
 * and on a debug pool, printing time per operation and memory per allocation. A benchmark
 * that reports figures (make debug-cost), not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kheap.h"
#include "rng.h"

#define POOL (4u << 20)
#define SLOTS 1024
#define OPS 1000000
#define RUNS 5

static uint32_t rng;

static uint32_t next(void)
{
    return xorshift32(&rng);
}

struct result {
    double ns_per_op;
    size_t capacity, used, live;
};

/* OPS random allocations and frees over SLOTS slots, sizes 1 B to 1 KiB (a few to 8 KiB);
 * the memory figures are taken at the end of the run. */
static struct result run(unsigned flags)
{
    static unsigned char mem[POOL] __attribute__((aligned(16)));
    static void *slot[SLOTS];
    struct result r = {0};
    kheap_t *h = kheap_create_flags(mem, POOL, 0, flags);
    if (!h)
        abort();
    memset(slot, 0, sizeof slot);
    rng = 2026;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned op = 0; op < OPS; op++) {
        uint32_t k = next() % SLOTS, size = next() % 100 < 97 ? 1 + next() % 1024 : 1 + next() % 8192;
        if (slot[k]) {
            kheap_free(h, slot[k]);
            slot[k] = 0;
        } else {
            slot[k] = kheap_alloc(h, size);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct kheap_stats st;
    kheap_get_stats(h, &st);
    r.ns_per_op = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / OPS;
    r.capacity = st.capacity, r.used = st.used, r.live = st.live_allocs;
    return r;
}

static int by_time(const void *a, const void *b)
{
    double x = ((const struct result *)a)->ns_per_op, y = ((const struct result *)b)->ns_per_op;
    return (x > y) - (x < y);
}

static struct result median(unsigned flags)
{
    struct result r[RUNS];
    for (int i = 0; i < RUNS; i++)
        r[i] = run(flags);
    qsort(r, RUNS, sizeof r[0], by_time);
    return r[RUNS / 2];
}

int main(void)
{
    struct result plain = median(0), debug = median(KHEAP_F_DEBUG);
    printf("debug-mode cost: %u random alloc/free on a %u MiB pool, 16-byte blocks, median of %d\n",
           (unsigned)OPS, POOL >> 20, RUNS);
    printf("%-8s %10s %12s %12s %14s\n", "pool", "ns/op", "capacity", "live", "bytes/alloc");
    printf("%-8s %10.1f %12zu %12zu %14.1f\n", "plain", plain.ns_per_op, plain.capacity,
           plain.live, (double)plain.used / plain.live);
    printf("%-8s %10.1f %12zu %12zu %14.1f\n", "debug", debug.ns_per_op, debug.capacity,
           debug.live, (double)debug.used / debug.live);
    printf("slowdown: %.2fx; capacity given to the side table: %.1f%% of the pool "
           "(%zu bytes per 16-byte block); guard bytes: %+.1f bytes per allocation\n",
           debug.ns_per_op / plain.ns_per_op,
           100.0 * (plain.capacity - debug.capacity) / plain.capacity, 2 * sizeof(void *),
           (double)debug.used / debug.live - (double)plain.used / plain.live);
    return 0;
}
