/* damage.c - the damage campaign: one random byte or word of one metadata area of a random pool
 * (plain or debug, lone or in a kmalloc chain, with one quick-cache set or one per CPU for 2-4
 * CPUs, the calls spread over them) is damaged, then random calls run on it.
 *
 * Usage: damage TRIALS [SEED]     TRIALS trials from SEED (default 1); prints KTAP
 *        damage --seconds S [SEED] as many trials as fit in S seconds
 *        damage --one SEED         one trial, with every call it makes printed
 *
 * What every trial must keep, whatever was damaged (a violation fails the run, naming the
 * trial's seed for --one):
 *   - no crash and no hang (a signal or a 10-second alarm ends the run with the seed);
 *   - every pointer handed out lies in the block area of its pool, with all its bytes;
 *   - no byte outside the pools' regions changes (guard bands before and after each region).
 * Where the damaged area is not itself the record of what is live (the control block, its
 * chain link, the free-run index and the free runs' headers and footers, the quick caches and
 * their cached bitmap; and, for placement, the side table), also:
 *   - no pointer handed out overlaps a live allocation;
 *   - no live byte is changed by the heap (checked before each free or realloc and at the end;
 *     not for the side table, whose entry is the record of the size asked for).
 * The used and start bitmaps are that record: a cleared used bit is a free block. There the
 * campaign counts how often the damage led to an overlap, and kheap_check's detection.
 * For each area it also reports how often kheap_check, called right after the damage,
 * detects it. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <stddef.h>
#include "kheap.h"
#include "ktest.h"                  /* the control block's word positions (CB_*) */
#include "rng.h"

#define W sizeof(uintptr_t)
#define BAND 256                            /* guard band on each side of a region */
#define BAND_BYTE 0xC3
#define MAX_LIVE 256
#define OPS_BEFORE 40
#define OPS_AFTER 40

/* The quick caches' areas (the cached bitmap and the classes), the boundary summary and the
 * free runs' headers and footers (a write after free, in plain pools) are damaged in the
 * trials of seeds with CACHE_SEEDS set, so the seeds below it pick their area as they
 * always did. */
enum area { CONTROL, USED, START, SIDE, INDEX, CACHED, CACHE, SUMMARY, HEADERS, AREAS };
#define CACHE_SEEDS 0x80000000u
static const char *const area_name[AREAS] = { "control_block", "used_bitmap", "start_bitmap",
                                              "side_table", "free_run_index", "cached_bitmap",
                                              "quick_caches", "boundary_summary",
                                              "free_run_headers" };
/* Whether the area is the record of what is live (overlap allowed) or of sizes asked for
 * (live bytes may change). A cache entry is checked against the bitmaps before it is
 * handed out, and a cached bit only marks a start as already freed: neither may lead to an
 * overlap or a changed byte. */
static const bool records_live[AREAS] = { false, true, true, false, false, false, false, false,
                                          false };
static const bool records_size[AREAS] = { false, true, true, true, false, false, false, false,
                                          false };

struct region {
    unsigned char *buf;                     /* BAND | region | BAND */
    size_t size;
    kheap_t *h;
    uintptr_t base, limit;                  /* the block area, read before the damage */
};

struct live {
    unsigned char *p;
    size_t size;
    uint32_t tag;
};

static struct {
    uint32_t rng;
    uint32_t seed;
    bool chain;                             /* kmalloc mode: two regions, kmalloc calls */
    unsigned cpus;                          /* kheap_set_cpu's count: 1, or 2 .. 4 sets */
    unsigned cpu;                           /* the CPU the next call runs on */
    bool verbose;
    enum area area;
    struct region r[2];
    unsigned nregions;
    struct live live[MAX_LIVE];
    unsigned nlive;
    bool damaged;
    const char *violation;                  /* the first broken promise of this trial */
    bool overlapped, bytes_changed;         /* consequences where allowed */
} t;

static struct {
    unsigned long trials, detected, overlaps, changed;
} stats[AREAS];

static uint32_t rnd(uint32_t n)            /* uniform-ish in [0, n) */
{
    return xorshift32(&t.rng) % n;
}

static unsigned char pattern(uint32_t tag, size_t i)
{
    uint32_t x = tag * 2654435761u + (uint32_t)i * 40503u;
    return (unsigned char)(x ^ (x >> 11));
}

static void violate(const char *what)
{
    if (!t.violation)
        t.violation = what;
}

/* ---- crashes and hangs end the run, naming the trial ---- */

/* The handler names the trial, and where the program was (addr2line -e PROGRAM ADDRESS). */
static void on_signal(int sig, siginfo_t *info, void *context)
{
    (void)info;
    const ucontext_t *uc = context;
#ifdef __x86_64__
    unsigned long pc = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
#else
    unsigned long pc = (unsigned long)uc->uc_mcontext.gregs[REG_EIP];
#endif
    char msg[200];
    int n = snprintf(msg, sizeof msg, "damage: signal %d at %#lx in the trial of seed %u "
                     "(area %s): rerun with --one %u\n", sig, pc, t.seed, area_name[t.area], t.seed);
    if (write(2, msg, (size_t)n) < 0)
        _exit(3);
    _exit(3);
}

static void catch_signals(void)
{
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGALRM };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, 0);
}

/* ---- the regions and what lies around them ---- */

static bool bands_intact(void)
{
    for (unsigned k = 0; k < t.nregions; k++) {
        const struct region *r = &t.r[k];
        for (size_t i = 0; i < BAND; i++)
            if (r->buf[i] != BAND_BYTE || r->buf[BAND + r->size + i] != BAND_BYTE)
                return false;
    }
    return true;
}

static bool make_region(struct region *r, size_t size, unsigned offset)
{
    r->size = size;
    r->buf = aligned_alloc(64, (BAND + size + BAND + offset + 63) / 64 * 64);
    if (!r->buf)
        return false;
    r->buf += offset;                       /* the region's own alignment varies */
    memset(r->buf, BAND_BYTE, BAND + size + BAND);
    return true;
}

static void free_regions(void)
{
    for (unsigned k = 0; k < t.nregions; k++)
        free((void *)((uintptr_t)t.r[k].buf & ~(uintptr_t)63));
}

static const struct region *region_of(const void *p)
{
    for (unsigned k = 0; k < t.nregions; k++)
        if ((uintptr_t)p >= t.r[k].base && (uintptr_t)p < t.r[k].limit)
            return &t.r[k];
    return 0;
}

/* ---- the calls, on a pool or on the kmalloc chain ---- */

static void *do_alloc(size_t size, size_t align, bool zero)
{
    kheap_t *h = t.r[0].h;
    if (t.chain)
        return zero ? kzalloc(size) : align ? kmalloc_aligned(size, align) : kmalloc(size);
    return zero ? kheap_calloc(h, 1, size) : align ? kheap_alloc_aligned(h, size, align)
                                                   : kheap_alloc(h, size);
}

static void *do_realloc(void *p, size_t size)
{
    return t.chain ? krealloc(p, size) : kheap_realloc(t.r[0].h, p, size);
}

static void do_free(void *p)
{
    if (t.chain)
        kfree(p);
    else
        kheap_free(t.r[0].h, p);
}

static size_t do_size(const void *p)
{
    return t.chain ? ksize(p) : kheap_usable_size(t.r[0].h, p);
}

static int do_check(void)
{
    return kheap_check(t.chain ? kmalloc_heap() : t.r[0].h);
}

/* ---- what the heap hands out, against the promises ---- */

static bool overlaps_live(const unsigned char *p, size_t size, unsigned except)
{
    for (unsigned k = 0; k < t.nlive; k++)
        if (k != except && p < t.live[k].p + t.live[k].size && t.live[k].p < p + size)
            return true;
    return false;
}

/* A new allocation of `size` bytes at p: inside a block area, and over no live allocation. */
static void vet_new(const unsigned char *p, size_t size, unsigned except)
{
    const struct region *r = region_of(p);
    if (!r || (uintptr_t)p + size > r->limit || (uintptr_t)p + size < (uintptr_t)p) {
        violate("a pointer outside the block area");
        return;
    }
    if (overlaps_live(p, size, except)) {
        if (records_live[t.area] && t.damaged)
            t.overlapped = true;
        else
            violate("a pointer overlapping a live allocation");
    }
}

static void fill(struct live *l)
{
    for (size_t i = 0; i < l->size; i++)
        l->p[i] = pattern(l->tag, i);
}

/* Live allocation k still holds its pattern (first `n` bytes). */
static void vet_bytes(unsigned k, size_t n)
{
    const struct live *l = &t.live[k];
    for (size_t i = 0; i < n; i++)
        if (l->p[i] != pattern(l->tag, i)) {
            if (t.damaged && records_size[t.area])
                t.bytes_changed = true;
            else
                violate("live bytes changed by the heap");
            return;
        }
}

static void forget(unsigned k)
{
    t.live[k] = t.live[--t.nlive];
}

/* ---- one random call ---- */

static size_t random_size(void)
{
    switch (rnd(8)) {
    case 0: return 1 + rnd(4096);
    case 1: return rnd(3) == 0 ? SIZE_MAX - rnd(64) : 1 + rnd(64 * 1024);
    default: return 1 + rnd(200);
    }
}

static void op_alloc(void)
{
    size_t size = random_size();
    size_t align = rnd(4) == 0 ? (size_t)1 << rnd(13) : 0;
    bool zero = !align && rnd(4) == 0;
    unsigned char *p = do_alloc(size, align, zero);
    if (t.verbose)
        printf("# alloc(%zu, align %zu%s) = %p\n", size, align, zero ? ", zeroed" : "", (void *)p);
    if (!p)
        return;
    vet_new(p, size, MAX_LIVE);
    if (t.violation || t.nlive == MAX_LIVE || !region_of(p))
        return;
    struct live *l = &t.live[t.nlive++];
    *l = (struct live){ p, size, xorshift32(&t.rng) };
    fill(l);
}

static void op_free(void)
{
    unsigned k = rnd(t.nlive);
    unsigned char *p = t.live[k].p;
    vet_bytes(k, t.live[k].size);
    do_free(p);
    if (t.verbose)
        printf("# free(%p)\n", (void *)p);
    if (do_size(p) == 0)                    /* gone (or unreachable through damage) */
        forget(k);
}

static void op_realloc(void)
{
    unsigned k = rnd(t.nlive);
    struct live old = t.live[k];
    size_t size = random_size();
    vet_bytes(k, old.size);
    unsigned char *q = do_realloc(old.p, size);
    if (t.verbose)
        printf("# realloc(%p, %zu) = %p\n", (void *)old.p, size, (void *)q);
    if (!q)
        return;                             /* p stays, with its bytes */
    vet_new(q, size, k);
    if (t.violation || !region_of(q)) {
        forget(k);
        return;
    }
    t.live[k].p = q;
    vet_bytes(k, old.size < size ? old.size : size);
    t.live[k].size = size;
    t.live[k].tag = xorshift32(&t.rng);
    fill(&t.live[k]);
}

/* A free of something that is not a live start: an interior or misaligned pointer, or any
 * address in or around a region. */
static void op_bad_free(void)
{
    const struct region *r = &t.r[rnd(t.nregions)];
    unsigned char *p;
    if (t.nlive && rnd(2))
        p = t.live[rnd(t.nlive)].p + 1 + rnd(31);
    else
        p = r->buf + rnd((uint32_t)(2 * BAND + r->size));
    for (unsigned k = 0; k < t.nlive; k++)
        if (t.live[k].p == p)
            return;
    if (t.verbose)
        printf("# bad free(%p)\n", (void *)p);
    do_free(p);
}

static int walk_fn(void *ctx, void *p, size_t size, bool used)
{
    (void)used;
    const struct region *r = ctx;
    if ((uintptr_t)p < r->base || (uintptr_t)p + size > r->limit || size == 0)
        violate("a walk outside the block area");
    return 0;
}

static void emit_nothing(const char *line)
{
    (void)line;
}

static unsigned this_cpu(void)
{
    return t.cpu;
}

static void random_call(void)
{
    t.cpu = rnd(t.cpus + 1);                /* (one past them now and then: modulo the sets) */
    uint32_t c = rnd(100);
    if (c < 45 || t.nlive == 0)
        op_alloc();
    else if (c < 75)
        op_free();
    else if (c < 88)
        op_realloc();
    else if (c < 93)
        op_bad_free();
    else if (c < 96)
        do_size(t.live[rnd(t.nlive)].p);
    else if (c < 98)
        do_check();
    else if (t.chain)
        kheap_dump(kmalloc_heap(), emit_nothing);
    else
        kheap_walk(t.r[0].h, walk_fn, &t.r[0]);
    if (!bands_intact())
        violate("a byte outside the region changed");
}

/* ---- the damage ---- */

/* Bytes of the boundary summary over bitmaps of `words` words: every level down to one word,
 * each word with its mirror (I6 in asm/kheap_core.asm). */
static size_t summary_bytes(size_t words)
{
    size_t total = 0;
    do
        total += words = (words + 8 * W - 1) / (8 * W);
    while (words > 1);
    return 2 * total * W;
}

/* The area's bytes in region r's pool, from its control block before the damage. */
/* Whether block i of the pool with control block cb is used. */
static bool used_block(const uintptr_t *cb, size_t i)
{
    return ((const uintptr_t *)cb[CB_USED])[i / (8 * W)] >> (i % (8 * W)) & 1;
}

/* A write after free: the header (its first 16 bytes) or the footer (its last word) of the
 * free run at or after a random block, as the used bitmap says; false when no free run of a
 * word or more exists. */
static bool run_bounds(const uintptr_t *cb, unsigned char **lo, size_t *n)
{
    size_t nb = cb[CB_NBLOCKS], b = rnd((uint32_t)nb), shift = cb[CB_SHIFT];
    for (size_t tries = 0; tries < 2 && (b == nb || used_block(cb, b)); tries++)
        for (b = tries ? 0 : b; b < nb && used_block(cb, b); b++)
            ;
    if (b == nb)
        return false;
    size_t s = b, e = b;
    while (s > 0 && !used_block(cb, s - 1))
        s--;
    while (e < nb && !used_block(cb, e))
        e++;
    uintptr_t first = cb[CB_BASE] + (s << shift), end = cb[CB_BASE] + (e << shift);
    uintptr_t head = (first + W - 1) & ~(uintptr_t)(W - 1);     /* whole words only */
    uintptr_t foot = (end & ~(uintptr_t)(W - 1)) - W;
    if (end < head + W)
        return false;
    bool footer = rnd(2) && foot >= head;
    *lo = (unsigned char *)(footer ? foot : head);
    *n = footer ? W : end - head < 16 ? (end - head) / W * W : 16;
    return true;
}

static void area_bounds(const struct region *r, enum area a, unsigned char **lo, size_t *n)
{
    const uintptr_t *cb = (const uintptr_t *)r->h;
    size_t bitmap = cb[CB_NWORDS] * W;
    if (a == HEADERS && run_bounds(cb, lo, n))
        return;
    switch (a) {
    case CONTROL: *lo = (unsigned char *)r->h; *n = KHEAP_CONTROL_BYTES; break;
    case USED:    *lo = (unsigned char *)cb[CB_USED]; *n = bitmap; break;
    case START:   *lo = (unsigned char *)cb[CB_START]; *n = bitmap; break;
    case SIDE:    *lo = (unsigned char *)cb[CB_SIDE]; *n = cb[CB_INDEX] - cb[CB_SIDE]; break;
    case HEADERS:                           /* (no free run to damage: the index instead) */
    case INDEX:   *lo = (unsigned char *)cb[CB_INDEX]; *n = cb[CB_CACHE] - cb[CB_INDEX]; break;
    case CACHED:  *lo = (unsigned char *)cb[CB_CACHED]; *n = bitmap; break;
    case CACHE:   *lo = (unsigned char *)cb[CB_CACHE]; *n = cb[CB_SUMMARY] - cb[CB_CACHE];
                  break;
    default:      *lo = (unsigned char *)cb[CB_SUMMARY]; *n = summary_bytes(cb[CB_NWORDS]); break;
    }
}

static void damage(void)
{
    const struct region *r = &t.r[rnd(t.nregions)];
    unsigned char *lo;
    size_t n;
    area_bounds(r, t.area, &lo, &n);
    if (rnd(3) == 0) {                      /* a byte */
        unsigned char *b = lo + rnd((uint32_t)n);
        *b ^= (unsigned char)(1 + rnd(255));
        if (t.verbose)
            printf("# damage: byte %p of %s\n", (void *)b, area_name[t.area]);
    } else {                                /* a word */
        uintptr_t *w = (uintptr_t *)lo + rnd((uint32_t)(n / W));
        uintptr_t old = *w;
        switch (rnd(5)) {
        case 0: *w ^= (uintptr_t)1 << rnd(8 * W); break;
        case 1: *w += rnd(2) ? 1 : (uintptr_t)-1; break;
        case 2: *w = rnd(2) ? 0 : ~(uintptr_t)0; break;
        case 3: *w = xorshift32(&t.rng); break;
        default: *w = old + (uintptr_t)rnd(4096) - 2048; break;
        }
        if (*w == old)
            *w = ~old;
        if (t.verbose)
            printf("# damage: word %p of %s: %#lx -> %#lx\n", (void *)w, area_name[t.area],
                   (unsigned long)old, (unsigned long)*w);
    }
    t.damaged = true;
}

/* ---- a trial ---- */

static bool set_up(void)
{
    bool caches = t.area >= CACHED;         /* plain pools only: debug pools cache nothing */
    bool debug = t.area == SIDE || (!caches && rnd(3) == 0);
    size_t block = (size_t)1 << (2 + rnd(caches ? 5 : 7));  /* 4 .. 256 (64) bytes */
    t.nregions = t.chain ? 2 : 1;
    t.cpus = rnd(2) ? 1 : 2 + rnd(3);       /* half the pools with a quick-cache set per CPU */
    kheap_set_cpu(this_cpu, t.cpus);
    for (unsigned k = 0; k < t.nregions; k++) {
        size_t size = ((size_t)(caches ? 4096 : 1024) << rnd(6)) + rnd(4096);  /* 1 (4) KiB ..
                                               36 (132) KiB: room for classes and their sets */
        if (!make_region(&t.r[k], size, rnd(16)))
            return false;
    }
    if (t.chain) {
        block = KHEAP_DEFAULT_BLOCK;
        if (kmalloc_init_flags(t.r[0].buf + BAND, t.r[0].size, debug ? KHEAP_F_DEBUG : 0) != 0
            || kmalloc_add_region(t.r[1].buf + BAND, t.r[1].size) != 0)
            return false;
        t.r[0].h = kmalloc_heap();
        t.r[1].h = (kheap_t *)((uintptr_t *)t.r[0].h)[CB_NEXT];
    } else {
        t.r[0].h = kheap_create_flags(t.r[0].buf + BAND, t.r[0].size, block, debug ? KHEAP_F_DEBUG : 0);
    }
    for (unsigned k = 0; k < t.nregions; k++) {
        const uintptr_t *cb = (const uintptr_t *)t.r[k].h;
        if (!t.r[k].h || kheap_check(t.r[k].h) != 0 || (caches && cb[CB_CLASSES] == 0))
            return false;
        t.r[k].base = cb[CB_BASE];
        t.r[k].limit = cb[CB_LIMIT];
    }
    return true;
}

/* Runs the trial of `seed`; returns its violation, or NULL. */
static const char *trial(uint32_t seed)
{
    memset(&t.r, 0, sizeof t.r);
    t.seed = seed;
    t.rng = seed * 2654435761u + 0x9E3779B9u;
    if (!t.rng)
        t.rng = 1;
    t.area = seed & CACHE_SEEDS ? (enum area)(CACHED + rnd(4)) : (enum area)rnd(INDEX + 1);
    t.chain = rnd(4) == 0;
    t.nlive = 0;
    t.damaged = t.overlapped = t.bytes_changed = false;
    t.violation = 0;
    alarm(10);
    if (!set_up()) {
        free_regions();
        alarm(0);
        return "the pool could not be set up";
    }
    for (unsigned i = 0; i < OPS_BEFORE && !t.violation; i++)
        random_call();
    if (!t.violation) {
        damage();
        stats[t.area].trials++;
        stats[t.area].detected += do_check() == KHEAP_ECORRUPT;
        for (unsigned i = 0; i < OPS_AFTER && !t.violation; i++)
            random_call();
    }
    for (unsigned k = 0; k < t.nlive && !t.violation; k++)
        vet_bytes(k, t.live[k].size);
    stats[t.area].overlaps += t.overlapped;
    stats[t.area].changed += t.bytes_changed;
    free_regions();
    alarm(0);
    return t.violation;
}

/* Trials that once found a defect, replayed before every run:
 * 118239: a damaged search structure sent an aligned search round forever. */
static const uint32_t regressions[] = { 118239 };

static unsigned long failures[AREAS];

/* Runs the trial of seed s; counts and prints a violation. Returns true when it kept every
 * promise. */
static bool run_trial(uint32_t s, unsigned long *bad)
{
    const char *v = trial(s);
    if (!v)
        return true;
    failures[t.area]++;
    if ((*bad)++ < 10)
        printf("# VIOLATION (%s): %s: rerun with --one %u\n", area_name[t.area], v, s);
    return false;
}

static void report(void)
{
    printf("KTAP version 1\n1..%d\n", AREAS);
    for (int a = 0; a < AREAS; a++) {
        unsigned long n = stats[a].trials;
        printf("# %s: %lu damaged trials, kheap_check detected %lu (%.1f%%)", area_name[a], n,
               stats[a].detected, n ? 100.0 * stats[a].detected / n : 0.0);
        if (records_live[a])
            printf(", overlaps %lu", stats[a].overlaps);
        if (records_size[a])
            printf(", live bytes changed %lu", stats[a].changed);
        printf("\n%sok %d %s_damage_keeps_the_promises\n", failures[a] || n == 0 ? "not " : "",
               a + 1, area_name[a]);
    }
}

int main(int argc, char **argv)
{
    unsigned long trials = 0;
    double seconds = 0;
    uint32_t seed = 1;
    catch_signals();
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "--one") == 0) {
        t.verbose = true;
        const char *v = trial((uint32_t)strtoul(argv[2], 0, 0));
        printf("# trial %s: %s\n", argv[2], v ? v : "kept every promise");
        return v != 0;
    }
    if (argc >= 3 && strcmp(argv[1], "--seconds") == 0) {
        seconds = atof(argv[2]);
        seed = argc > 3 ? (uint32_t)strtoul(argv[3], 0, 0) : 1;
    } else if (argc >= 2) {
        trials = strtoul(argv[1], 0, 0);
        seed = argc > 2 ? (uint32_t)strtoul(argv[2], 0, 0) : 1;
    }
    if (!trials && seconds <= 0) {
        fprintf(stderr, "usage: damage TRIALS [SEED] | --seconds S [SEED] | --one SEED\n");
        return 2;
    }
    time_t start = time(0);
    unsigned long done = 0, bad = 0;
    for (unsigned i = 0; i < sizeof regressions / sizeof regressions[0]; i++)
        run_trial(regressions[i], &bad);
    for (uint32_t s = seed;; s++, done++) {   /* every third seed twice: the caches too */
        if (trials ? done >= trials : difftime(time(0), start) >= seconds)
            break;
        run_trial(s & ~CACHE_SEEDS, &bad);
        if (s % 3 == 0)
            run_trial(s | CACHE_SEEDS, &bad), done++;
    }
    printf("# %lu trials from seed %u, and %zu regression seeds\n", done, seed,
           sizeof regressions / sizeof regressions[0]);
    report();
    return bad ? 1 : 0;
}
