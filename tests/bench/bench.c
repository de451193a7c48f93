/* bench.c - make bench: the same seeded traces of allocations and frees replayed on kheap,
 * glibc malloc and a plain bit-by-bit bitmap, for 1, 16 and 128 MiB pools, then one buffer
 * grown by realloc to 256 MiB, aligned requests past many holes, and operations per second
 * of 1 and 2 threads sharing one heap, on kheap and glibc. Prints figures. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdbool.h>
#include <stddef.h>
#include "kheap.h"
#include <kernel/irqlock.h>
#include "rng.h"

#define RUNS 5
#define STEADY_OPS 50000u
#define NAIVE_BUDGET_NS 3e9         /* a naive-bitmap replay gives up after this */

/* ---------------------------------------------------------------- traces */

enum { OP_ALLOC, OP_FREE };

struct op {
    uint32_t slot;
    uint32_t size;                  /* bytes, for OP_ALLOC */
    uint32_t align;                 /* bytes, for OP_ALLOC (16 = none) */
    uint8_t kind;
};

struct trace {
    const char *name;
    struct op *ops;
    size_t nops, nslots;
};

static uint32_t rng;

static uint32_t next(void)
{
    return xorshift32(&rng);
}

static uint32_t range(uint32_t lo, uint32_t hi)
{
    return lo + next() % (hi - lo + 1);
}

static void push(struct trace *t, uint8_t kind, uint32_t slot, uint32_t size, uint32_t align)
{
    t->ops[t->nops++] = (struct op){ slot, size, align, kind };
}

static struct trace new_trace(const char *name, size_t max_ops, size_t nslots)
{
    struct trace t = { name, calloc(max_ops, sizeof(struct op)), 0, nslots };
    if (!t.ops)
        abort();
    return t;
}

/* W1 small LIFO: a stack of 16-128 B allocations that grows and shrinks at random. */
static struct trace w1(size_t pool)
{
    (void)pool;
    struct trace t = new_trace("W1 small LIFO", STEADY_OPS, 64);
    size_t depth = 0;
    while (t.nops < STEADY_OPS) {
        if (depth == 0 || (depth < 64 && next() % 2))
            push(&t, OP_ALLOC, (uint32_t)depth++, range(16, 128), 16);
        else
            push(&t, OP_FREE, (uint32_t)--depth, 0, 16);
    }
    return t;
}

/* W2 kernel mix: 70% 16-256 B, 20% 257 B-2 KiB, 8% 4 KiB page-aligned, 2% 8-64 KiB, random
 * frees, live bytes kept about 40% of the pool. */
static struct trace w2(size_t pool)
{
    size_t nslots = pool / 1024 + 64, target = pool / 10 * 4, live = 0, steady = 0;
    struct trace t = new_trace("W2 kernel mix", nslots * 2 + STEADY_OPS * 2, nslots);
    uint32_t *size = calloc(nslots, sizeof *size);
    while (steady < STEADY_OPS) {
        uint32_t s = next() % nslots;
        if (live < target && !size[s]) {
            uint32_t r = next() % 100, align = 16;
            size[s] = r < 70 ? range(16, 256) : r < 90 ? range(257, 2048)
                    : r < 98 ? (align = 4096) : range(8192, 65536);
            push(&t, OP_ALLOC, s, size[s], align);
            live += size[s];
        } else if (live >= target && size[s]) {
            push(&t, OP_FREE, s, 0, 16);
            live -= size[s];
            size[s] = 0;
        } else {
            continue;
        }
        steady += live >= target / 2;           /* the fill does not count as steady */
    }
    free(size);
    return t;
}

/* W3 FIFO churn: a queue of 64-1024 B buffers, freed oldest first, about 30% of the pool. */
static struct trace w3(size_t pool)
{
    size_t queue = pool / 10 * 3 / 544;
    struct trace t = new_trace("W3 FIFO churn", queue + STEADY_OPS, queue);
    size_t head = 0, tail = 0;
    for (; tail < queue; tail++)
        push(&t, OP_ALLOC, (uint32_t)tail, range(64, 1024), 16);
    while (t.nops < queue + STEADY_OPS) {
        push(&t, OP_FREE, (uint32_t)(head++ % queue), 0, 16);
        push(&t, OP_ALLOC, (uint32_t)(tail++ % queue), range(64, 1024), 16);
    }
    return t;
}

/* W4 fragmenter: 32 B blocks over 60% of the pool, every other one freed, then requests of
 * 1-8 KiB that stay allocated. */
#define W4_LARGE 2000u
static struct trace w4(size_t pool)
{
    size_t small = pool / 10 * 6 / 32;
    struct trace t = new_trace("W4 fragmenter", small + small / 2 + W4_LARGE, small + W4_LARGE);
    for (size_t i = 0; i < small; i++)
        push(&t, OP_ALLOC, (uint32_t)i, 32, 16);
    for (size_t i = 0; i < small; i += 2)
        push(&t, OP_FREE, (uint32_t)i, 0, 16);
    for (size_t i = 0; i < W4_LARGE; i++)
        push(&t, OP_ALLOC, (uint32_t)(small + i), range(1024, 8192), 16);
    return t;
}

/* ---------------------------------------------------------------- allocators */

struct allocator {
    const char *name;
    void *(*open)(size_t pool);             /* a fresh heap of `pool` bytes */
    void *(*alloc)(void *heap, size_t size, size_t align);
    void (*free)(void *heap, void *p);
    size_t (*footprint)(void *heap, void *p); /* bytes p costs, for the peak */
    size_t (*overhead)(void *heap);         /* fixed bytes of the heap itself */
    void (*close)(void *heap);
};

/* kheap: a pool over malloc'd memory. */
static size_t kheap_pool_bytes;             /* the region of the open pool */

static void *kheap_open(size_t pool)
{
    void *mem = aligned_alloc(4096, pool);
    kheap_pool_bytes = pool;
    return mem ? kheap_create(mem, pool, 0) : 0;
}

static void *kheap_op_alloc(void *h, size_t size, size_t align)
{
    return align > 16 ? kheap_alloc_aligned(h, size, align) : kheap_alloc(h, size);
}

static void kheap_op_free(void *h, void *p)
{
    kheap_free(h, p);
}

static size_t kheap_op_footprint(void *h, void *p)
{
    return kheap_usable_size(h, p);
}

static size_t kheap_op_overhead(void *h)
{
    struct kheap_stats st;
    kheap_get_stats(h, &st);
    return kheap_pool_bytes - st.capacity;  /* the pool's metadata and pad */
}

static void kheap_close(void *h)
{
    free(h);                                /* the control block is at the pool's start */
}

/* glibc: the process heap; the pool size is not a limit. */
static void *glibc_open(size_t pool)
{
    (void)pool;
    return (void *)1;
}

static void *glibc_alloc(void *h, size_t size, size_t align)
{
    (void)h;
    return align > 16 ? aligned_alloc(align, (size + align - 1) / align * align) : malloc(size);
}

static void glibc_free(void *h, void *p)
{
    (void)h;
    free(p);
}

static size_t glibc_footprint(void *h, void *p)
{
    (void)h;
    return malloc_usable_size(p) + sizeof(size_t);  /* the chunk header */
}

static size_t glibc_overhead(void *h)
{
    (void)h;
    return 0;
}

static void glibc_close(void *h)
{
    (void)h;
    malloc_trim(0);
}

/* naive: what hobby kernels often write: 16 B blocks, a bitmap searched bit by bit from block
 * 0, the length of each allocation kept in a side array. */
struct naive {
    uintptr_t base;
    size_t nblocks;
    uint8_t *bits;
    uint32_t *length;
    void *mem;
};

static int naive_get(const struct naive *n, size_t i)
{
    return n->bits[i / 8] >> (i % 8) & 1;
}

static void naive_set(struct naive *n, size_t i, int v)
{
    if (v)
        n->bits[i / 8] |= (uint8_t)(1 << (i % 8));
    else
        n->bits[i / 8] &= (uint8_t)~(1 << (i % 8));
}

static void *naive_open(size_t pool)
{
    struct naive *n = calloc(1, sizeof *n);
    n->mem = aligned_alloc(4096, pool);
    n->base = (uintptr_t)n->mem;
    n->nblocks = pool / 16;
    n->bits = calloc(n->nblocks / 8 + 1, 1);
    n->length = calloc(n->nblocks, sizeof *n->length);
    return n;
}

static void *naive_alloc(void *heap, size_t size, size_t align)
{
    struct naive *n = heap;
    size_t want = (size + 15) / 16, step = align / 16;
    for (size_t i = 0; i + want <= n->nblocks; i += step) {
        size_t k = 0;
        while (k < want && !naive_get(n, i + k))
            k++;
        if (k == want) {
            for (k = 0; k < want; k++)
                naive_set(n, i + k, 1);
            n->length[i] = (uint32_t)want;
            return (void *)(n->base + i * 16);
        }
    }
    return 0;
}

static void naive_free(void *heap, void *p)
{
    struct naive *n = heap;
    size_t i = ((uintptr_t)p - n->base) / 16;
    for (size_t k = 0; k < n->length[i]; k++)
        naive_set(n, i + k, 0);
    n->length[i] = 0;
}

static size_t naive_footprint(void *heap, void *p)
{
    struct naive *n = heap;
    return n->length[((uintptr_t)p - n->base) / 16] * 16;
}

static size_t naive_overhead(void *heap)
{
    struct naive *n = heap;
    return n->nblocks / 8 + n->nblocks * sizeof *n->length;
}

static void naive_close(void *heap)
{
    struct naive *n = heap;
    free(n->mem);
    free(n->bits);
    free(n->length);
    free(n);
}

static const struct allocator allocators[] = {
    { "kheap", kheap_open, kheap_op_alloc, kheap_op_free, kheap_op_footprint,
      kheap_op_overhead, kheap_close },
    { "glibc", glibc_open, glibc_alloc, glibc_free, glibc_footprint, glibc_overhead,
      glibc_close },
    { "naive", naive_open, naive_alloc, naive_free, naive_footprint, naive_overhead,
      naive_close },
};

/* ---------------------------------------------------------------- replay */

struct cell {
    double ns[RUNS];
    int runs;
    size_t failed, peak;
};

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* One replay of t on a fresh heap; returns ns per operation, or -1 when it ran past
 * budget_ns. With `measure`, also counts failures and the peak footprint (outside the timed
 * runs: it costs a call per op). */
static double replay(const struct allocator *a, const struct trace *t, size_t pool, void **slot,
                     struct cell *c, int measure, double budget_ns)
{
    void *heap = a->open(pool);
    size_t live = 0;
    if (!heap)
        abort();
    memset(slot, 0, t->nslots * sizeof *slot);
    double start = now_ns();
    size_t i;
    for (i = 0; i < t->nops; i++) {
        const struct op *o = &t->ops[i];
        if (i % 256 == 0 && now_ns() - start > budget_ns)
            break;
        if (o->kind == OP_ALLOC) {
            void *p = a->alloc(heap, o->size, o->align);
            slot[o->slot] = p;
            if (measure) {
                if (!p)
                    c->failed++;
                else if ((live += a->footprint(heap, p)) > c->peak)
                    c->peak = live;
            }
        } else if (slot[o->slot]) {
            if (measure)
                live -= a->footprint(heap, slot[o->slot]);
            a->free(heap, slot[o->slot]);
            slot[o->slot] = 0;
        }
    }
    double ns = i < t->nops ? -1 : (now_ns() - start) / t->nops;
    for (size_t s = 0; s < t->nslots; s++)
        if (slot[s])
            a->free(heap, slot[s]);
    if (measure)
        c->peak += a->overhead(heap);
    a->close(heap);
    return ns;
}

static int by_value(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* ---------------------------------------------------------------- best fit, for W4 */

/* Failures a best-fit search would have on W4's large requests, on 16 B blocks: simulated on
 * the list of free runs the first two phases leave (the same for any exact allocator). */
static size_t w4_best_fit_failures(const struct trace *t, size_t pool)
{
    size_t nblocks = pool / 16, nruns = 0, failed = 0;
    size_t small = 0;
    while (small < t->nops && t->ops[small].kind == OP_ALLOC && t->ops[small].size == 32)
        small++;
    size_t *run = malloc((small / 2 + 2) * sizeof *run);
    for (size_t i = 0; i < small; i += 2)
        run[nruns++] = 2;                   /* each freed 32 B block: a 2-block hole */
    run[nruns++] = nblocks - small * 2;     /* the free tail */
    for (size_t i = small + (small + 1) / 2; i < t->nops; i++) {
        size_t want = (t->ops[i].size + 15) / 16, best = SIZE_MAX;
        for (size_t r = 0; r < nruns; r++)
            if (run[r] >= want && (best == SIZE_MAX || run[r] < run[best]))
                best = r;
        if (best == SIZE_MAX)
            failed++;
        else
            run[best] -= want;
    }
    free(run);
    return failed;
}

static struct trace (*const make[])(size_t) = { w1, w2, w3, w4 };

/* bench --one W MIB ALLOCATOR: one untimed replay, for callgrind (make bench-cg); prints
 * how many allocations and frees it made, to divide the instruction counts by. */
static int one(int argc, char **argv)
{
    unsigned w = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    size_t pool = argc > 3 ? (size_t)atoi(argv[3]) << 20 : 0;
    const struct allocator *a = 0;
    for (unsigned i = 0; argc > 4 && i < 3; i++)
        if (strcmp(argv[4], allocators[i].name) == 0)
            a = &allocators[i];
    if (w < 1 || w > 4 || !pool || !a) {
        fprintf(stderr, "usage: bench --one 1-4 MIB kheap|glibc|naive\n");
        return 2;
    }
    rng = 2026 + (w - 1);
    struct trace t = make[w - 1](pool);
    void **slot = calloc(t.nslots, sizeof *slot);
    struct cell c = {0};
    size_t allocs = 0;
    for (size_t i = 0; i < t.nops; i++)
        allocs += t.ops[i].kind == OP_ALLOC;
    replay(a, &t, pool, slot, &c, 1, 1e18);
    /* every allocation made is freed, in the trace or at its end */
    printf("allocs %zu frees %zu\n", allocs, allocs - c.failed);
    return 0;
}

/* ---------------------------------------------------------------- realloc growth */

/* One buffer grown GROW_STEP bytes at a time to GROW_TOP by realloc, as a program reading a
 * file into memory does: seconds for the whole growth, kheap (a pool with room for it) or
 * glibc. Each step must keep the buffer's first byte. The pool's memory is touched before
 * the clock starts, as a kernel's RAM is mapped before it makes a pool: else each step's
 * free-run header, written a page further on, would time the host's page faults. */
#define GROW_STEP 4096u
#define GROW_TOP (256u << 20)

static double grow_seconds(bool kheap)
{
    size_t pool = GROW_TOP + (GROW_TOP >> 2);
    void *mem = kheap ? aligned_alloc(4096, pool) : 0;
    if (mem)
        memset(mem, 0, pool);
    kheap_t *h = mem ? kheap_create(mem, pool, 0) : 0;
    if (kheap && !h)
        return -1;
    double t0 = now_ns();
    unsigned char *p = kheap ? kheap_alloc(h, GROW_STEP) : malloc(GROW_STEP);
    if (!p)
        return -1;
    p[0] = 0x5A;
    for (size_t size = 2 * GROW_STEP; size <= GROW_TOP; size += GROW_STEP) {
        unsigned char *q = kheap ? kheap_realloc(h, p, size) : realloc(p, size);
        if (!q || q[0] != 0x5A)
            return -1;
        p = q;
    }
    double t = (now_ns() - t0) / 1e9;
    if (kheap)
        kheap_free(h, p);
    else
        free(p);
    free(mem);
    return t;
}

/* ---------------------------------------------------------------- aligned past holes */

/* HOLES one-block holes, each off a 32-byte boundary, in front of the free space; then
 * ALIGNED_TRIES requests of 16 bytes at a 32-byte boundary, each freed again: microseconds a
 * request, kheap or glibc (aligned_alloc over the same pattern of frees). */
#define HOLES 100000u
#define ALIGNED_TRIES 2000u

static double aligned_us(bool kheap)
{
    size_t pool = 8u << 20, n = 2 * HOLES + 2;
    void *mem = kheap ? aligned_alloc(4096, pool) : 0;
    kheap_t *h = mem ? kheap_create(mem, pool, 16) : 0;
    void **p = calloc(n, sizeof *p);
    if ((kheap && !h) || !p)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] = kheap ? kheap_alloc(h, 16) : malloc(16)))
            return -1;
    for (size_t i = 0; i < n; i++)          /* free the blocks off a 32-byte boundary */
        if ((uintptr_t)p[i] % 32 != 0) {
            kheap ? (void)kheap_free(h, p[i]) : free(p[i]);
            p[i] = 0;
        }
    double t0 = now_ns();
    for (unsigned k = 0; k < ALIGNED_TRIES; k++) {
        void *q = kheap ? kheap_alloc_aligned(h, 16, 32) : aligned_alloc(32, 32);
        if (!q || (uintptr_t)q % 32)
            return -1;
        kheap ? (void)kheap_free(h, q) : free(q);
    }
    double us = (now_ns() - t0) / 1e3 / ALIGNED_TRIES;
    for (size_t i = 0; i < n; i++)
        if (p[i])
            kheap ? (void)kheap_free(h, p[i]) : free(p[i]);
    free(p);
    free(mem);
    return us;
}

/* bench --grow: the growth's and the aligned requests' lines alone (make bench prints them
 * after the table). */
static int grow(void)
{
    double gk = grow_seconds(true), gg = grow_seconds(false);
    printf("\nrealloc growth: one buffer grown %u bytes at a time to %u MiB: kheap %.3f s, "
           "glibc %.3f s (%.2fx)\n", GROW_STEP, GROW_TOP >> 20, gk, gg, gk / gg);
    double ak = aligned_us(true), ag = aligned_us(false);
    printf("aligned past holes: a 32-byte-aligned request past %u free holes: kheap %.2f us, "
           "glibc %.2f us (%.2fx)\n", HOLES, ak, ag, ak / ag);
    return gk < 0 || gg < 0 || ak < 0 || ag < 0;
}

/* ---------------------------------------------------------------- threads */

#define THREAD_MS    100                    /* each run: that long, counting operations */
#define THREAD_CHUNK 1024                   /* operations between looks at the stop flag */
#define THREAD_SLOTS 64                     /* each thread's live allocations, at most */
#define THREAD_POOL  (16u << 20)
#define THREAD_RUNS  9

/* The heap's lock in the threads rows: the stub kernel's ticket spinlock (what the SMP
 * kernel takes, without the interrupt flag, which a host thread cannot touch). */
static struct spinlock kheap_spinlock;

static uintptr_t ticket_lock(void)
{
    spin_lock(&kheap_spinlock);
    return 0;
}

static void ticket_unlock(uintptr_t state)
{
    (void)state;
    spin_unlock(&kheap_spinlock);
}

static __thread unsigned thread_index;     /* kheap_set_cpu's CPU: the worker's number */

static unsigned thread_cpu(void)
{
    return thread_index;
}

struct worker {
    pthread_t thread;
    unsigned index;
    kheap_t *h;                             /* NULL: glibc */
    bool no_heap;                           /* the machine's own row: arithmetic only */
    uint32_t seed;
    volatile unsigned *ready;               /* the start line */
    volatile bool *stop;                    /* the finish line */
    unsigned threads;
    double ops;                             /* done by the finish line */
};

/* One thread's work until the finish line, THREAD_CHUNK operations at a time: small sizes,
 * each picking a random slot of its own and freeing what is there or filling it; or, with
 * no_heap, a chain of 8 multiplies per operation. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    thread_index = w->index;
    void *slot[THREAD_SLOTS] = {0};
    uint32_t x = w->seed;
    uint64_t v = x;
    __atomic_add_fetch(w->ready, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(w->ready, __ATOMIC_ACQUIRE) < w->threads)
        ;
    for (; !*w->stop; w->ops += THREAD_CHUNK) {
        if (w->no_heap) {
            for (unsigned n = 0; n < 8 * THREAD_CHUNK; n++) {
                v = v * 6364136223846793005u + 1442695040888963407u;
                __asm__ volatile("" : "+r"(v));
            }
            continue;
        }
        for (unsigned n = 0; n < THREAD_CHUNK; n++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            void **s = &slot[x % THREAD_SLOTS];
            if (*s) {
                w->h ? (void)kheap_free(w->h, *s) : free(*s);
                *s = 0;
            } else {
                size_t size = 16 + (x >> 8) % 112;
                *s = w->h ? kheap_alloc(w->h, size) : malloc(size);
                if (*s)
                    *(volatile char *)*s = 1;   /* the caller touches what it gets */
            }
        }
    }
    for (unsigned i = 0; i < THREAD_SLOTS; i++)
        if (slot[i])
            w->h ? (void)kheap_free(w->h, slot[i]) : free(slot[i]);
    return (void *)(uintptr_t)(v == 0);
}

/* Millions of operations per second that `threads` threads at once on h (NULL: glibc; with
 * no_heap, no heap call at all) complete together in one run of THREAD_MS: a fixed time, not
 * a fixed count, so a thread the machine slows does not leave the other idle at the end;
 * -1 when a thread could not start. */
static double threads_mops(kheap_t *h, bool no_heap, unsigned threads)
{
    struct worker w[2];
    volatile unsigned ready = 0;
    volatile bool stop = false;
    for (unsigned i = 0; i < threads; i++) {
        w[i] = (struct worker){ .h = h, .no_heap = no_heap, .index = i,
                                .seed = 2463534242u + 7919u * i, .ready = &ready,
                                .stop = &stop, .threads = threads };
        if (pthread_create(&w[i].thread, 0, worker_main, &w[i]) != 0)
            return -1;
    }
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < threads)
        ;
    double t0 = now_ns();
    nanosleep(&(struct timespec){ 0, THREAD_MS * 1000000L }, 0);
    stop = true;
    double ops = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(w[i].thread, 0);
        ops += w[i].ops;
    }
    return ops / ((now_ns() - t0) / 1e3);
}

/* One line: the best of THREAD_RUNS runs each of 1 and 2 threads on h (NULL: glibc;
 * no_heap: none), taken in turn so both see the machine as it is at the time (its speed
 * drifts by a quarter over minutes). False when a thread could not start. */
static bool threads_line(const char *name, kheap_t *h, bool no_heap)
{
    double one = 0, two = 0;
    for (int run = 0; run < THREAD_RUNS; run++) {
        double a = threads_mops(h, no_heap, 1), b = threads_mops(h, no_heap, 2);
        if (a < 0 || b < 0)
            return false;
        one = a > one ? a : one;
        two = b > two ? b : two;
    }
    printf("  %-44s 1 thread %6.1f, 2 threads %6.1f (%.2fx)\n", name, one, two, two / one);
    return true;
}

/* bench --threads: 1 and 2 threads sharing one heap (make bench prints it last): a kheap
 * pool with one quick-cache set, one with a set per thread (kheap_set_cpu), glibc; and a
 * row without a heap, what two threads of plain arithmetic gain on this machine. */
static int threads(void)
{
    void *mem = aligned_alloc(4096, THREAD_POOL), *mem2 = aligned_alloc(4096, THREAD_POOL);
    kheap_t *one = mem ? kheap_create(mem, THREAD_POOL, 0) : 0;
    kheap_set_cpu(thread_cpu, 2);
    kheap_t *per_cpu = mem2 ? kheap_create(mem2, THREAD_POOL, 0) : 0;
    if (!one || !per_cpu)
        return 1;
    kheap_set_lock(ticket_lock, ticket_unlock);
    printf("\nthreads: all threads on one heap for %d ms (16-127 B, %u live at most per thread); "
           "millions of operations per second, best of %d:\n",
           THREAD_MS, THREAD_SLOTS, THREAD_RUNS);
    bool ok = threads_line("kheap, a ticket lock, one cache set", one, false)
              & threads_line("kheap, a ticket lock, a cache set per thread", per_cpu, false)
              & threads_line("glibc", 0, false)
              & threads_line("no heap: 8 multiplies per operation", 0, true);
    kheap_set_lock(0, 0);
    kheap_set_cpu(0, 0);
    free(mem);
    free(mem2);
    return !ok;
}

/* bench [DATA_FILE]: the table on stdout; with DATA_FILE, also "workload pool_MiB allocator
 * median_ns" lines for the plot (make bench draws build/bench/bench.png from them). */
int main(int argc, char **argv)
{
    static const size_t pools[] = { 1u << 20, 16u << 20, 128u << 20 };
    if (argc > 1 && strcmp(argv[1], "--one") == 0)
        return one(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--grow") == 0)
        return grow();
    if (argc > 1 && strcmp(argv[1], "--threads") == 0)
        return threads();
    FILE *data = argc > 1 ? fopen(argv[1], "w") : 0;
    printf("make bench: median ns/op [min-max] of %d runs; ns per alloc+free pair (twice the\n"
           "median: every operation of a trace is one of the two); failed allocations; peak\n"
           "footprint\n", RUNS);
    printf("(%u steady operations per trace after any fill; the naive bitmap stops a cell "
           "after %.0f s)\n\n", STEADY_OPS, NAIVE_BUDGET_NS / 1e9);
    printf("%-15s %7s |", "workload", "pool");
    for (unsigned a = 0; a < 3; a++)
        printf(" %-44s|", allocators[a].name);
    printf("\n");
    printf("%-15s %7s |", "", "");
    for (unsigned a = 0; a < 3; a++)
        printf(" %8s %-18s %7s %5s %7s |", "ns/op", "[min-max]", "ns/pair", "fails", "peak");
    printf("\n");
    for (unsigned w = 0; w < 4; w++)
        for (unsigned p = 0; p < 3; p++) {
            rng = 2026 + w;
            struct trace t = make[w](pools[p]);
            void **slot = calloc(t.nslots, sizeof *slot);
            printf("%-15s %4zu MiB |", t.name, pools[p] >> 20);
            for (unsigned a = 0; a < 3; a++) {
                struct cell c = {0};
                double budget = a == 2 ? NAIVE_BUDGET_NS : 1e18;
                if (replay(&allocators[a], &t, pools[p], slot, &c, 1, budget) < 0) {
                    printf(" %-44s|", " too slow: stopped after 3 s");
                    if (data)
                        fprintf(data, "W%u %zu %s NaN\n", w + 1, pools[p] >> 20, allocators[a].name);
                    continue;
                }
                for (; c.runs < RUNS; c.runs++)
                    c.ns[c.runs] = replay(&allocators[a], &t, pools[p], slot, &c, 0, 1e18);
                qsort(c.ns, c.runs, sizeof c.ns[0], by_value);
                printf(" %8.1f [%7.1f-%8.1f] %7.1f %5zu %6zuK |", c.ns[c.runs / 2], c.ns[0],
                       c.ns[c.runs - 1], 2 * c.ns[c.runs / 2],
                       c.failed, c.peak >> 10);
                if (data)
                    fprintf(data, "W%u %zu %s %.1f\n", w + 1, pools[p] >> 20,
                            allocators[a].name, c.ns[c.runs / 2]);
                fflush(stdout);
            }
            if (w == 3)
                printf(" best fit would fail %zu", w4_best_fit_failures(&t, pools[p]));
            printf("\n");
            free(slot);
            free(t.ops);
        }
    grow();
    threads();
    if (data)
        fclose(data);
    return 0;
}
