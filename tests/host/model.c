/* model.c - the executable model of one kheap pool: every rule of include/kheap.h, written as
 * plainly as possible, to be compared call by call with the real thing. */
#include "model.h"

bool model_geometry(uintptr_t mem, size_t size, size_t block, bool debug, uintptr_t *base,
                    size_t *nblocks)
{
    const uint64_t w = sizeof(uintptr_t), bits = 8 * w;   /* a word: the machine's */
    uint64_t end = (uint64_t)mem + size;
    uint64_t control = ((uint64_t)mem + w - 1) / w * w;
    if (w == 4 ? end > UINT32_MAX + (uint64_t)1 : end < (uint64_t)mem)
        return false;                       /* the region passes the end of memory */
    for (uint64_t n = size / block; n > 0; n--) {
        uint64_t words = (n + bits - 1) / bits;
        uint64_t leaves = 1;                /* the run tree: a power of two of leaves */
        while (leaves * MODEL_LEAF_WORDS < words)
            leaves *= 2;
        uint64_t classes = n >> KHEAP_QCLASS_SHIFT;   /* laid out even in debug pools */
        if (classes > MODEL_CACHE_CLASSES)
            classes = MODEL_CACHE_CLASSES;
        uint64_t summary = 0;               /* the boundary summary: levels down to one word */
        for (uint64_t below = words; summary == 0 || below > 1; summary += below)
            below = (below + bits - 1) / bits;
        uint64_t bitmaps_end = control + MODEL_CONTROL_BYTES + 3 * w * words
                             + (debug ? n * MODEL_SIDE_BYTES : 0) + 2 * leaves * 3 * w
                             + classes * (MODEL_CACHE_DEPTH + 1) * w + 2 * summary * w;
        uint64_t first = (bitmaps_end + block - 1) / block * block;
        if (first + n * block <= end) {
            *base = (uintptr_t)first;
            *nblocks = (size_t)n;
            return true;
        }
    }
    return false;
}

void model_init(struct model *m, uintptr_t base, size_t block, size_t nblocks, bool debug,
                unsigned char *state, size_t *asked)
{
    *m = (struct model){ .base = base, .block = block, .nblocks = nblocks, .state = state,
                         .asked = asked, .debug = debug };
    m->classes = debug ? 0 : nblocks >> KHEAP_QCLASS_SHIFT;
    if (m->classes > MODEL_CACHE_CLASSES)
        m->classes = MODEL_CACHE_CLASSES;
    for (size_t i = 0; i < nblocks; i++)
        state[i] = M_FREE;
}

/* Blocks in live allocations: not free, and not held in a quick cache. */
static size_t used_blocks(const struct model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nblocks; i++)
        n += m->state[i] != M_FREE;
    return n - m->cached_blocks;
}

static void note_peak(struct model *m)
{
    size_t used = used_blocks(m);
    if (used > m->peak_blocks)
        m->peak_blocks = used;
}

static size_t length(const struct model *m, size_t i)
{
    size_t n = 1;
    while (i + n < m->nblocks && m->state[i + n] == M_CONT)
        n++;
    return n;
}

/* The first block in [i, i+n) that is not free, or i+n. */
static size_t first_taken(const struct model *m, size_t i, size_t n)
{
    size_t k = i;
    while (k < i + n && m->state[k] == M_FREE)
        k++;
    return k;
}

static void take(struct model *m, size_t i, size_t n)
{
    m->state[i] = M_START;
    for (size_t k = 1; k < n; k++)
        m->state[i + k] = M_CONT;
    note_peak(m);
}

static void free_blocks(struct model *m, size_t i, size_t n)
{
    for (size_t k = i; k < i + n; k++)
        m->state[k] = M_FREE;
}

void model_flush(struct model *m)
{
    for (size_t c = 0; c < m->classes; c++)
        while (m->cache_count[c])
            free_blocks(m, m->cache[c][--m->cache_count[c]], c + 1);
    m->cached_blocks = 0;
}

/* The newest allocation of n blocks in the quick caches, live again, or -1. */
static long cache_take(struct model *m, size_t n)
{
    if (n == 0 || n > m->classes || m->cache_count[n - 1] == 0)
        return -1;
    size_t i = m->cache[n - 1][--m->cache_count[n - 1]];
    m->state[i] = M_START;
    m->cached_blocks -= n;
    note_peak(m);
    return (long)i;
}

/* Blocks for size bytes (and a debug pool's guard); 0 when it cannot be represented. */
static size_t blocks_for(const struct model *m, size_t size)
{
    size_t guard = m->debug ? KHEAP_GUARD_MIN : 0;
    if (size > SIZE_MAX - (m->block - 1) - guard)
        return 0;
    return (size + guard + m->block - 1) / m->block;
}

/* First fit with no counting: the lowest aligned block starting n free ones, or -1.
 * When [i, i+n) holds a taken block k, no start up to k can work, so the scan resumes
 * after k. */
static long first_fit(const struct model *m, size_t n, size_t align)
{
    size_t i = 0;
    while (n <= m->nblocks && i <= m->nblocks - n) {
        if ((m->base + i * m->block) % align != 0) {
            i++;
            continue;
        }
        size_t k = first_taken(m, i, n);
        if (k == i + n)
            return (long)i;
        i = k + 1;
    }
    return -1;
}

/* The placement of n blocks at an align-byte boundary, as find_fit in kernel/kheap.c: the
 * lowest run of n free blocks when it holds an aligned fit (the first fit), else the lowest
 * run of n + a - 1 (a: the alignment in blocks) at its first aligned block, else the first
 * aligned fit anywhere; -1 when none. */
static long place(const struct model *m, size_t n, size_t align)
{
    long b = first_fit(m, n, m->block);
    size_t a = align / m->block;
    if (a <= 1 || b < 0)
        return b;
    uint64_t addr = m->base + (uint64_t)b * m->block, up = (addr + align - 1) / align * align;
    size_t q = (size_t)((up - m->base) / m->block);
    if (up <= UINTPTR_MAX && q <= m->nblocks - n
        && first_taken(m, (size_t)b, q + n - (size_t)b) == q + n)
        return (long)q;                     /* in that run: [b, q + n) all free */
    if (a - 1 <= m->nblocks - n && (b = first_fit(m, n + a - 1, m->block)) >= 0) {
        addr = m->base + (uint64_t)b * m->block;
        return (long)((((addr + align - 1) / align * align) - m->base) / m->block);
    }
    return first_fit(m, n, align);
}

/* The quick caches first (at the block alignment), then place, then, when nothing fits and
 * the caches hold anything, place again after they are flushed. */
static uintptr_t alloc_blocks(struct model *m, size_t size, size_t align)
{
    size_t n = blocks_for(m, size);
    if (n == 0 || n > m->nblocks - used_blocks(m))
        return 0;                           /* more than all free blocks, cached ones too */
    if (align < m->block)
        align = m->block;
    long i = align == m->block ? cache_take(m, n) : -1;
    if (i < 0) {
        i = place(m, n, align);
        if (i < 0 && m->cached_blocks) {
            model_flush(m);
            i = place(m, n, align);
        }
        if (i < 0)
            return 0;
        take(m, (size_t)i, n);
    }
    if (m->debug)
        m->asked[i] = size;
    m->total_allocs++;
    return m->base + (size_t)i * m->block;
}

uintptr_t model_alloc(struct model *m, size_t size, size_t align)
{
    if (size == 0)
        return 0;
    uintptr_t p = 0;
    if (align != 0 && (align & (align - 1)) == 0)
        p = alloc_blocks(m, size, align);
    if (!p)
        m->failed++;
    return p;
}

uintptr_t model_calloc(struct model *m, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        m->failed++;
        return 0;
    }
    return model_alloc(m, n * size, 1);
}

/* The block of a live allocation start, or a KHEAP_E* code. */
static long classify(const struct model *m, uintptr_t p)
{
    if (p < m->base || p - m->base >= m->nblocks * m->block || (p - m->base) % m->block)
        return KHEAP_EINVAL;
    size_t i = (p - m->base) / m->block;
    if (m->state[i] == M_FREE || m->state[i] == M_CACHED)
        return KHEAP_EDOUBLE;
    if (m->state[i] == M_CONT) {            /* inside a freed (held) allocation: freed */
        size_t s = i;
        while (m->state[s] == M_CONT)
            s--;
        return m->state[s] == M_CACHED ? KHEAP_EDOUBLE : KHEAP_EINTERIOR;
    }
    return (long)i;
}

/* Frees allocation i: into its quick cache when that has room, else to first fit. */
static void release(struct model *m, size_t i)
{
    size_t n = length(m, i);
    if (n <= m->classes && m->cache_count[n - 1] < MODEL_CACHE_DEPTH) {
        m->cache[n - 1][m->cache_count[n - 1]++] = i;
        m->state[i] = M_CACHED;
        m->cached_blocks += n;
    } else {
        free_blocks(m, i, n);
    }
    m->total_frees++;
}

int model_free(struct model *m, uintptr_t p)
{
    if (!p)
        return 0;
    long i = classify(m, p);
    if (i < 0) {
        m->faults++;
        return (int)i;
    }
    release(m, (size_t)i);
    return 0;
}

/* Takes the held allocation at block i out of its class, to first fit. */
static void cache_drop(struct model *m, size_t i)
{
    size_t n = length(m, i), *cls = m->cache[n - 1], count = m->cache_count[n - 1];
    for (size_t k = 0; k < count; k++)
        if (cls[k] == i) {
            for (; k + 1 < count; k++)
                cls[k] = cls[k + 1];
            m->cache_count[n - 1]--;
            m->cached_blocks -= n;
            free_blocks(m, i, n);
            return;
        }
}

/* Blocks [i, i+n) free once the held allocations among them are taken out of their
 * caches, which is done then (grow in place sees held blocks as free). */
static bool free_or_held(struct model *m, size_t i, size_t n)
{
    if (i + n > m->nblocks)
        return false;
    for (size_t k = i; k < i + n; k++)
        if (m->state[k] == M_START || (m->state[k] == M_CONT && k == i))
            return false;                   /* a live allocation is in the way */
    for (size_t k = i; k < i + n; k++)
        if (m->state[k] == M_CACHED)
            cache_drop(m, k);
    return true;
}

uintptr_t model_realloc(struct model *m, uintptr_t p, size_t size, int *err)
{
    *err = 0;
    if (!p)
        return model_alloc(m, size, 1);
    if (size == 0) {
        *err = model_free(m, p);
        return 0;
    }
    long i = classify(m, p);
    if (i < 0) {
        m->faults++;
        *err = (int)i;
        return 0;
    }
    size_t old = length(m, (size_t)i), n = blocks_for(m, size);
    if (n == 0) {
        m->failed++;
        return 0;
    }
    if (n <= old) {
        free_blocks(m, (size_t)i + n, old - n);
        if (m->debug)
            m->asked[i] = size;
        return p;
    }
    if (free_or_held(m, (size_t)i + old, n - old)) {
        if (m->debug)
            m->asked[i] = size;
        for (size_t k = (size_t)i + old; k < (size_t)i + n; k++)
            m->state[k] = M_CONT;
        note_peak(m);
        return p;
    }
    uintptr_t q = alloc_blocks(m, size, 1);
    if (!q) {
        m->failed++;
        return 0;
    }
    release(m, (size_t)i);
    return q;
}

size_t model_usable(const struct model *m, uintptr_t p)
{
    long i = classify(m, p);
    if (i < 0)
        return 0;
    return m->debug ? m->asked[i] : length(m, (size_t)i) * m->block;
}

/* The quick caches stay as they are: a cached allocation counts as free blocks, part of
 * the free run around it. */
void model_stats(const struct model *m, struct kheap_stats *st)
{
    size_t largest = 0, run = 0, live = 0;
    for (size_t i = 0; i < m->nblocks;) {
        size_t n = m->state[i] == M_FREE ? 1 : length(m, i);
        run = m->state[i] == M_FREE || m->state[i] == M_CACHED ? run + n : 0;
        if (run > largest)
            largest = run;
        live += m->state[i] == M_START;
        i += n;
    }
    *st = (struct kheap_stats){
        .block_size = m->block,
        .capacity = m->nblocks * m->block,
        .used = used_blocks(m) * m->block,
        .peak_used = m->peak_blocks * m->block,
        .largest_free = largest * m->block,
        .live_allocs = live,
        .total_allocs = m->total_allocs,
        .total_frees = m->total_frees,
        .failed_allocs = m->failed,
        .faults = m->faults,
        .regions = 1,
    };
}

bool model_run(const struct model *m, size_t want, uintptr_t *p, size_t *size, bool *used)
{
    size_t i = 0, run = 0;
    while (i < m->nblocks) {
        size_t n = 1;
        bool u = m->state[i] != M_FREE;
        while (i + n < m->nblocks &&
               (u ? m->state[i + n] == M_CONT : m->state[i + n] == M_FREE))
            n++;
        if (run++ == want) {
            *p = m->base + i * m->block;
            *size = n * m->block;
            *used = u;
            return true;
        }
        i += n;
    }
    return false;
}
