/* fuzz_kheap.c - the differential fuzzer: decodes its input into API calls on three pools and
 * makes each call on kheap and on the model (model.c); any difference aborts with the trace.
 * With fuzz_cpus(n) (replay --cpus n; KHEAP_FUZZ_CPUS=n for libFuzzer) the pools are made
 * after kheap_set_cpu names n CPUs, 16 times larger so their sets fit, and each call runs
 * on the CPU its op byte names: one thread, so the model follows every set exactly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sanitizer/asan_interface.h>      /* (its macros do nothing without ASan) */
#include "kheap.h"
#include "model.h"

#define POOLS 3
#define SLOTS 24
#define FREED 8
#define TRACE_MAX (256 * 1024)
#define FULL_CHECK_EVERY 16
#define RAW_ALIGN ((size_t)1 << 24)     /* each pool's region at a multiple of it, past every
                                           alignment a call asks (2^23): so where an input's
                                           pools lie, to that, and every placement, is the
                                           same on every run */
#define RAW_BYTES ((9000 + 15 * 8) * 16 + 16)   /* the largest pool make_pool makes */

struct slot {
    unsigned char *p;                   /* live allocation, or NULL */
    size_t size;                        /* bytes asked for, all holding the tag's pattern */
    uint32_t tag;
};

struct pool {
    unsigned char *raw;                 /* its region; ASan sees the pool's bounds alone */
    unsigned char *mem;
    size_t size, block;
    kheap_t *h;
    struct model m;
    unsigned char *state;
    size_t *asked;
    uint64_t *stamp;
    struct slot slot[SLOTS];
    uintptr_t freed[FREED];             /* recently freed pointers, for double frees */
    unsigned nfreed;
};

static struct pool pools[POOLS];
static unsigned char foreign[64];      /* memory of no pool */
static char trace[TRACE_MAX];
static size_t trace_len;
static uint32_t op_count;
static struct { int count; struct kheap_fault last; } seen;
static unsigned cpus = 1, current_cpu;    /* fuzz_cpus; the CPU of the call running */

static unsigned cpu_index(void)
{
    return current_cpu;
}

void fuzz_cpus(unsigned n);

void fuzz_cpus(unsigned n)
{
    cpus = n < 2 ? 1 : n > MODEL_SETS ? MODEL_SETS : n;
}

/* ---------------------------------------------------------------- trace and failure */

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (trace_len < TRACE_MAX) {
        int n = vsnprintf(trace + trace_len, TRACE_MAX - trace_len, fmt, ap);
        trace_len += n > 0 ? (size_t)n : 0;
        if (trace_len >= TRACE_MAX)
            trace_len = TRACE_MAX - 1;
    }
    va_end(ap);
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n==== kheap differs from the model. The calls, in order:\n%s", trace);
    fprintf(stderr, "==== mismatch: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

#define EXPECT(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

static void on_fault(const struct kheap_fault *f)
{
    seen.count++;
    seen.last = *f;
}

/* ---------------------------------------------------------------- input */

struct input {
    const uint8_t *d;
    size_t n, at;
};

static unsigned u8(struct input *in)
{
    return in->at < in->n ? in->d[in->at++] : 0;
}

static unsigned u16(struct input *in)
{
    unsigned lo = u8(in);
    return lo | u8(in) << 8;
}

/* A request size: mostly small, sometimes large, now and then absurd. */
static size_t size_of(struct input *in, const struct pool *pl)
{
    unsigned sel = u8(in);
    switch (sel >> 6) {
    case 0: return sel & 63;                                    /* 0 .. 63 */
    case 1: return u16(in) % 1024;
    case 2: return u16(in) % (pl->size + 64);
    default:
        if (sel & 1)
            return SIZE_MAX - (sel & 31);                       /* overflows on rounding */
        return (size_t)u16(in) * 97;
    }
}

/* ---------------------------------------------------------------- checks */

static unsigned char pattern(uint32_t tag, size_t i)
{
    uint32_t x = tag * 2654435761u + (uint32_t)i * 40503u;
    return (unsigned char)(x ^ (x >> 13));
}

static void fill(struct slot *s, unsigned char *p, size_t size, uint32_t tag)
{
    s->p = p;
    s->size = size;
    s->tag = tag;
    for (size_t i = 0; i < size; i++)
        p[i] = pattern(tag, i);
}

static void expect_intact(const struct slot *s, size_t upto, const char *what)
{
    for (size_t i = 0; i < upto && i < s->size; i++)
        EXPECT(s->p[i] == pattern(s->tag, i), "%s: byte %zu of %p changed", what, i,
               (void *)s->p);
}

static void expect_stats(struct pool *pl, const char *what)
{
    struct kheap_stats a, b;
    kheap_get_stats(pl->h, &a);
    model_stats(&pl->m, &b);
    if (pl->m.sets > 1) {                   /* the peak as the lock saw it: a lower bound */
        EXPECT(a.peak_used <= b.peak_used && a.peak_used >= a.used,
               "%s: peak %zu, the model's %zu, used %zu", what, a.peak_used, b.peak_used,
               a.used);
        b.peak_used = a.peak_used;
    }
    EXPECT(memcmp(&a, &b, sizeof a) == 0,
           "%s: stats differ: kheap used %zu peak %zu largest %zu live %zu allocs %zu "
           "frees %zu failed %zu faults %zu; model %zu %zu %zu %zu %zu %zu %zu %zu", what,
           a.used, a.peak_used, a.largest_free, a.live_allocs, a.total_allocs, a.total_frees,
           a.failed_allocs, a.faults, b.used, b.peak_used, b.largest_free, b.live_allocs,
           b.total_allocs, b.total_frees, b.failed_allocs, b.faults);
    EXPECT(kheap_check(pl->h) == 0, "%s: kheap_check failed", what);
}

/* A call that should have reported `err` (0: nothing) did so exactly once, for p. */
static void expect_fault(const struct pool *pl, int before, int err, const void *p)
{
    static const enum kheap_fault_kind kind[] = { 0, KHEAP_FAULT_INVALID,
        KHEAP_FAULT_DOUBLE_FREE, KHEAP_FAULT_INTERIOR };
    if (err == 0) {
        EXPECT(seen.count == before, "a fault was reported for a good call");
        return;
    }
    EXPECT(seen.count == before + 1, "expected one fault, saw %d", seen.count - before);
    EXPECT(seen.last.kind == kind[-err] && seen.last.ptr == p && seen.last.heap == pl->h,
           "fault report: kind %d ptr %p heap %p", seen.last.kind, seen.last.ptr,
           (void *)seen.last.heap);
}

struct walk_state {
    const struct model *m;
    size_t i;
};

static int compare_run(void *ctx, void *p, size_t size, bool used)
{
    struct walk_state *w = ctx;
    uintptr_t mp;
    size_t msize;
    bool mused;
    EXPECT(model_run(w->m, w->i, &mp, &msize, &mused), "walk: kheap has an extra run %p", p);
    EXPECT((uintptr_t)p == mp && size == msize && used == mused,
           "walk run %zu: kheap %p %zu %d, model %p %zu %d", w->i, p, size, used,
           (void *)mp, msize, mused);
    w->i++;
    return 0;
}

static void expect_walk(struct pool *pl)
{
    model_flush(&pl->m);                    /* kheap_walk empties the quick caches first */
    struct walk_state w = { &pl->m, 0 };
    uintptr_t p;
    size_t size;
    bool used;
    EXPECT(kheap_walk(pl->h, compare_run, &w) == 0, "walk did not finish");
    EXPECT(!model_run(&pl->m, w.i, &p, &size, &used), "walk: kheap misses run %zu", w.i);
}

static void expect_all_intact(const struct pool *pl)
{
    for (unsigned i = 0; i < SLOTS; i++)
        if (pl->slot[i].p)
            expect_intact(&pl->slot[i], pl->slot[i].size, "live allocation");
}

/* ---------------------------------------------------------------- the calls */

static void remember_freed(struct pool *pl, unsigned char *p)
{
    pl->freed[pl->nfreed++ % FREED] = (uintptr_t)p;
}

/* The slot holding p, or NULL. */
static struct slot *slot_of(struct pool *pl, uintptr_t p)
{
    for (unsigned i = 0; i < SLOTS; i++)
        if (pl->slot[i].p && (uintptr_t)pl->slot[i].p == p)
            return &pl->slot[i];
    return 0;
}

static void do_alloc(struct pool *pl, struct slot *s, size_t size, size_t align, int how,
                     size_t n)
{
    unsigned char *p;
    uintptr_t mp;
    if (how == 0) {
        p = kheap_alloc(pl->h, size);
        mp = model_alloc(&pl->m, size, 1);
        note("alloc(%zu) = %p\n", size, (void *)p);
    } else if (how == 1) {
        p = kheap_alloc_aligned(pl->h, size, align);
        mp = model_alloc(&pl->m, size, align);
        note("alloc_aligned(%zu, %zu) = %p\n", size, align, (void *)p);
    } else {
        p = kheap_calloc(pl->h, n, size);
        mp = model_calloc(&pl->m, n, size);
        note("calloc(%zu, %zu) = %p\n", n, size, (void *)p);
        for (size_t i = 0; p && i < kheap_usable_size(pl->h, p); i++)
            EXPECT(p[i] == 0, "calloc: byte %zu is not zero", i);
    }
    EXPECT((uintptr_t)p == mp, "returned %p, the model %p", (void *)p, (void *)mp);
    if (p) {
        size_t bytes = how == 2 ? n * size : size;
        fill(s, p, bytes, op_count);
    }
}

static void do_realloc(struct pool *pl, struct slot *s, size_t size)
{
    int err, before = seen.count;
    unsigned char *old = s->p;
    unsigned char *p = kheap_realloc(pl->h, old, size);
    uintptr_t mp = model_realloc(&pl->m, (uintptr_t)old, size, &err);
    note("realloc(%p, %zu) = %p\n", (void *)old, size, (void *)p);
    EXPECT((uintptr_t)p == mp, "realloc returned %p, the model %p", (void *)p, (void *)mp);
    expect_fault(pl, before, err, old);
    if (p) {
        size_t keep = size < s->size ? size : s->size;
        if (old)
            expect_intact(&(struct slot){ p, s->size, s->tag }, keep, "realloc contents");
        if (old && p != old)
            remember_freed(pl, old);
        s->p = 0;
        fill(s, p, size, op_count);
    } else if (old && size == 0) {
        remember_freed(pl, old);
        s->p = 0;
    } else if (old) {
        expect_intact(s, s->size, "failed realloc");
    }
}

/* Frees any pointer, good or bad, on both sides; keeps the slots true. */
static void do_free(struct pool *pl, uintptr_t p, const char *what)
{
    int before = seen.count;
    struct slot *s = slot_of(pl, p);
    if (s)                                  /* before the free: a debug pool poisons it */
        expect_intact(s, s->size, "allocation to be freed");
    int err = kheap_free(pl->h, (void *)p);
    int merr = model_free(&pl->m, p);
    note("free(%p) [%s] = %d\n", (void *)p, what, err);
    EXPECT(err == merr, "free returned %d, the model %d", err, merr);
    expect_fault(pl, before, err, (void *)p);
    if (err == 0 && p) {
        EXPECT(s != 0, "freed a live start no slot knows");
        s->p = 0;
        remember_freed(pl, (unsigned char *)p);
    }
}

/* A debug pool's overflow by one byte, then the free that must report it. */
static void do_overflow(struct pool *pl, struct slot *s)
{
    int before = seen.count;
    unsigned char *p = s->p;
    note("overflow(%p + %zu), free\n", (void *)p, s->size);
    p[s->size] ^= 0x5A;
    int err = kheap_free(pl->h, p);
    EXPECT(model_free(&pl->m, (uintptr_t)p) == 0, "the model could not free %p", (void *)p);
    EXPECT(err == KHEAP_ECORRUPT, "an overflow freed with %d", err);
    EXPECT(seen.count == before + 1 && seen.last.kind == KHEAP_FAULT_CORRUPT &&
           seen.last.ptr == p + s->size, "overflow report: %d faults, kind %d at %p",
           seen.count - before, seen.last.kind, seen.last.ptr);
    pl->m.faults++;                         /* the model does not see guards */
    s->p = 0;
    remember_freed(pl, p);
}

static void one_call(struct input *in)
{
    unsigned op = u8(in);
    struct pool *pl = &pools[op % POOLS];
    struct slot *s = &pl->slot[u8(in) % SLOTS];
    unsigned kind = (op / POOLS) % 15;
    current_cpu = op / (POOLS * 15) % cpus;             /* (the op byte's last values) */
    model_cpu(&pl->m, current_cpu);
    op_count++;
    size_t mark = trace_len;
    note("#%u pool %u cpu %u: ", op_count, op % POOLS, current_cpu);
    size_t prefixed = trace_len;
    switch (kind) {
    case 0: case 1: case 2:                             /* a new allocation */
        if (s->p) {
            do_free(pl, (uintptr_t)s->p, "make room");
            break;
        }
        if (kind == 0) {
            do_alloc(pl, s, size_of(in, pl), 1, 0, 0);
        } else if (kind == 1) {
            unsigned a = u8(in);
            size_t align = (a & 0x80) ? a & 0x7F : (size_t)1 << (a % 24);
            do_alloc(pl, s, size_of(in, pl), align, 1, 0);
        } else {
            unsigned n = u8(in);                        /* n elements, or an overflow */
            do_alloc(pl, s, size_of(in, pl), 0, 2, n & 0x80 ? SIZE_MAX / 3 : n % 9);
        }
        break;
    case 3: case 4:
        do_realloc(pl, s, size_of(in, pl));
        break;
    case 5: case 6:
        if (s->p)
            do_free(pl, (uintptr_t)s->p, "live");
        break;
    case 7:                                             /* interior */
        if (s->p)
            do_free(pl, (uintptr_t)s->p + pl->block * (1 + u8(in) % 4), "interior");
        break;
    case 8: {                                           /* double, when still free */
        uintptr_t p = pl->freed[u8(in) % FREED];
        if (p && model_usable(&pl->m, p) == 0)
            do_free(pl, p, "again");
        break;
    }
    case 9: {                                           /* foreign */
        unsigned w = u8(in) % 3;
        uintptr_t p = w == 0 ? (uintptr_t)foreign : w == 1 ? (uintptr_t)pl->h
                    : (uintptr_t)pools[(op + 1) % POOLS].mem + u16(in) % 512;
        if (!kheap_owns(pl->h, (void *)p))
            do_free(pl, p, "foreign");
        break;
    }
    case 10:                                            /* misaligned */
        if (s->p && pl->block > 1)
            do_free(pl, (uintptr_t)s->p + 1 + u8(in) % (pl->block - 1), "misaligned");
        break;
    case 11: {                                          /* anywhere in the region */
        uintptr_t p = (uintptr_t)pl->mem + u16(in) % pl->size;
        if (u8(in) & 1)
            p &= ~(uintptr_t)(pl->block - 1);
        note("usable_size(%p) / owns\n", (void *)p);
        EXPECT(kheap_usable_size(pl->h, (void *)p) == model_usable(&pl->m, p),
               "usable_size(%p) differs", (void *)p);
        EXPECT(kheap_owns(pl->h, (void *)p) ==
               (p >= pl->m.base && p - pl->m.base < pl->m.nblocks * pl->block),
               "owns(%p) differs", (void *)p);
        if (u8(in) & 1)
            do_free(pl, p, "anywhere");
        break;
    }
    case 12:
        note("walk\n");
        expect_walk(pl);
        break;
    case 13:
        if (s->p && pl->m.debug)
            do_overflow(pl, s);
        break;
    default:
        note("check\n");
        expect_all_intact(pl);
        break;
    }
    if (trace_len == prefixed) {                        /* the call did nothing: no line */
        trace_len = mark;
        trace[mark] = '\0';
    }
    expect_stats(pl, "after the call");
    if (s->p)
        expect_intact(s, s->size, "the slot just used");
    if (op_count % FULL_CHECK_EVERY == 0)
        expect_all_intact(pl);
}

/* ---------------------------------------------------------------- set-up and the end */

static bool make_pool(struct pool *pl, struct input *in)
{
    static const size_t sizes[] = { 300, 1024, 2048, 4096, 9000 };
    static const size_t blocks[] = { 4, 8, 16, 32, 64, 256 };
    unsigned a = u8(in), b = u8(in), c = u8(in);
    *pl = (struct pool){0};
    pl->size = (sizes[a % 5] + (b >> 4) * 8) * (cpus > 1 ? 16 : 1);
    pl->block = blocks[(a / 5) % 6];
    size_t offset = b & 15;
    static void *region[POOLS];         /* made once, each pool's at the same place */
    void **raw = &region[pl - pools];
    if (!*raw && posix_memalign(raw, RAW_ALIGN, RAW_BYTES) != 0)
        abort();
    pl->raw = *raw;
    ASAN_POISON_MEMORY_REGION(pl->raw, RAW_BYTES);
    ASAN_UNPOISON_MEMORY_REGION(pl->raw + offset, pl->size);
    pl->state = malloc(pl->size);
    pl->asked = malloc(pl->size * sizeof(size_t));
    pl->stamp = malloc(pl->size * sizeof(uint64_t));
    if (!pl->raw || !pl->state || !pl->asked || !pl->stamp)
        abort();
    pl->mem = pl->raw + offset;
    bool debug = c & 1;
    pl->h = kheap_create_flags(pl->mem, pl->size, pl->block, debug ? KHEAP_F_DEBUG : 0);
    uintptr_t base;
    size_t n;
    /* kheap_create's choice: a set per CPU where classes can be, and they fit; else one */
    size_t sets = cpus > 1 && !debug && pl->size / pl->block >> KHEAP_QCLASS_SHIFT ? cpus : 1;
    bool fits = model_geometry_sets((uintptr_t)pl->mem, pl->size, pl->block, debug, sets,
                                    &base, &n);
    if (!fits && sets > 1) {
        sets = 1;
        fits = model_geometry((uintptr_t)pl->mem, pl->size, pl->block, debug, &base, &n);
    }
    note("create(%p, %zu, %zu%s) = %p\n", (void *)pl->mem, pl->size, pl->block,
         debug ? ", debug" : "", (void *)pl->h);
    EXPECT((pl->h != 0) == fits, "create: kheap %p, the model %s", (void *)pl->h,
           fits ? "fits" : "does not fit");
    if (!pl->h)
        return false;
    model_init(&pl->m, base, pl->block, n, debug, pl->state, pl->asked, pl->stamp);
    if (sets > 1)
        model_cpus(&pl->m, (uintptr_t)pl->mem, sets);
    note("  (%zu sets of quick caches)\n", sets);
    expect_stats(pl, "create");
    expect_walk(pl);
    return true;
}

static void finish(struct pool *pl)
{
    if (pl->h) {
        note("end: free everything in pool %p\n", (void *)pl->h);
        expect_walk(pl);
        expect_all_intact(pl);
        for (unsigned i = 0; i < SLOTS; i++)
            if (pl->slot[i].p)
                do_free(pl, (uintptr_t)pl->slot[i].p, "end");
        expect_stats(pl, "end");
        struct kheap_stats st;
        kheap_get_stats(pl->h, &st);
        EXPECT(st.used == 0 && st.largest_free == st.capacity, "not empty at the end");
        /* (a debug pool of one 4-byte block has no room for a byte after its guard) */
        size_t want = st.capacity - (pl->m.debug ? KHEAP_GUARD_MIN : 0);
        void *all = want ? kheap_alloc(pl->h, want) : 0;
        EXPECT((all != 0 || want == 0) && kheap_check(pl->h) == 0, "no full recovery");
    }
    if (pl->raw)
        ASAN_POISON_MEMORY_REGION(pl->raw, RAW_BYTES);
    free(pl->state);
    free(pl->asked);
    free(pl->stamp);
    pl->raw = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size, 0 };
    trace_len = 0;
    trace[0] = '\0';
    op_count = 0;
    seen.count = 0;
    kheap_set_lock(0, 0);
    kheap_set_fault_handler(on_fault);
    kheap_set_cpu(cpus > 1 ? cpu_index : 0, cpus);
    current_cpu = 0;
    bool ok = true;
    for (unsigned i = 0; i < POOLS; i++)
        ok &= make_pool(&pools[i], &in);
    while (ok && in.at < in.n)
        one_call(&in);
    for (unsigned i = 0; i < POOLS; i++)
        finish(&pools[i]);
    kheap_set_fault_handler(0);
    kheap_set_cpu(0, 0);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *n = getenv("KHEAP_FUZZ_CPUS");
    fuzz_cpus(n ? (unsigned)atoi(n) : 1);
    return 0;
}
