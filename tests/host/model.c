/* model.c - the executable model of one kheap pool: every rule of include/kheap.h, written as
 * plainly as possible, to be compared call by call with the real thing. */
#include "model.h"

bool model_geometry(uintptr_t mem, size_t size, size_t block, bool debug, uintptr_t *base,
                    size_t *nblocks)
{
    return model_geometry_sets(mem, size, block, debug, 1, base, nblocks);
}

bool model_geometry_sets(uintptr_t mem, size_t size, size_t block, bool debug, size_t sets,
                         uintptr_t *base, size_t *nblocks)
{
    const uint64_t w = sizeof(uintptr_t), bits = 8 * w;   /* a word: the machine's */
    uint64_t end = (uint64_t)mem + size;
    uint64_t control = ((uint64_t)mem + w - 1) / w * w;
    if (w == 4 ? end > UINT32_MAX + (uint64_t)1 : end < (uint64_t)mem)
        return false;                       /* the region passes the end of memory */
    for (uint64_t n = size / block; n > 0; n--) {
        uint64_t words = (n + bits - 1) / bits;
        uint64_t cls = n;                   /* the index: heads for fls first levels */
        if (n >= MODEL_SL_COUNT) {
            unsigned b = 63 - (unsigned)__builtin_clzll(n);
            cls = (b - MODEL_SL_LOG) * MODEL_SL_COUNT + (n >> (b - MODEL_SL_LOG));
        }
        uint64_t index = 4 * (MODEL_IX_HEADS + MODEL_SL_COUNT * (cls / MODEL_SL_COUNT + 1));
        uint64_t classes = n >> KHEAP_QCLASS_SHIFT;   /* laid out even in debug pools */
        if (classes > MODEL_CACHE_CLASSES)
            classes = MODEL_CACHE_CLASSES;
        uint64_t summary = 0;               /* the boundary summary: levels down to one word */
        for (uint64_t below = words; summary == 0 || below > 1; summary += below)
            below = (below + bits - 1) / bits;
        uint64_t bitmaps_end = control + MODEL_CONTROL_BYTES + 3 * w * words
                             + (debug ? n * MODEL_SIDE_BYTES : 0) + index
                             + sets * ((8 * w + classes * (MODEL_CACHE_DEPTH + 1) * 4 + w - 1)
                                       / w * w)   /* a set: 8 words, dword classes, pad */
                             + 2 * summary * w;
        uint64_t first = (bitmaps_end + block - 1) / block * block;
        if (first + n * block <= end) {
            *base = (uintptr_t)first;
            *nblocks = (size_t)n;
            return true;
        }
    }
    return false;
}

/* ---- the free-run index, as I3 in asm/kheap_core.asm keeps it, without its data structure:
 * a class is the maximal free runs of run_min blocks or more whose length maps to it, but
 * the top run (the one that ends at the pool's end), in the order of its list, newest put in
 * first; each run's start holds the stamp of when it was put in. */

static size_t run_class(size_t len)
{
    if (len < MODEL_SL_COUNT)
        return len;
    unsigned b = 63 - (unsigned)__builtin_clzll(len);
    return (b - MODEL_SL_LOG) * MODEL_SL_COUNT + (len >> (b - MODEL_SL_LOG));
}

/* The lowest class whose every run holds len blocks. */
static size_t fit_class(size_t len)
{
    if (len < MODEL_SL_COUNT)
        return len;
    unsigned b = 63 - (unsigned)__builtin_clzll(len);
    return run_class(len + ((size_t)1 << (b - MODEL_SL_LOG)) - 1);
}

/* The free run [first, first + len) put in its class (when it is indexed at all). */
static void index_put(struct model *m, size_t first, size_t len)
{
    if (m->run_min && len >= m->run_min)
        m->stamp[first] = ++m->stamps;
}

static size_t run_end(const struct model *m, size_t i)
{
    while (i < m->nblocks && m->state[i] == M_FREE)
        i++;
    return i;
}

static size_t run_begin(const struct model *m, size_t i)
{
    while (i > 0 && m->state[i - 1] == M_FREE)
        i--;
    return i;
}

/* Before [i, i + n) (free) is taken: what is left of its run on either side, put back. */
static void index_take(struct model *m, size_t i, size_t n)
{
    size_t s = run_begin(m, i), e = run_end(m, i);
    if (e - s < m->run_min)
        return;
    index_put(m, s, i - s);
    index_put(m, i + n, e - i - n);
}

/* After [i, i + n) is freed: the run it makes with its neighbours, put in. */
static void index_give(struct model *m, size_t i, size_t n)
{
    size_t s = run_begin(m, i), e = run_end(m, i + n);
    index_put(m, s, e - s);
}

/* The first block at or after b whose address is a multiple of align; SIZE_MAX past memory. */
static size_t aligned_from(const struct model *m, size_t b, size_t align)
{
    uint64_t addr = m->base + (uint64_t)b * m->block, up = (addr + align - 1) / align * align;
    return up > UINTPTR_MAX ? SIZE_MAX : (size_t)((up - m->base) / m->block);
}

/* The run of class c put in latest before the stamp `before` (the next in its list), or
 * SIZE_MAX. O(N). */
static size_t class_next(const struct model *m, size_t c, uint64_t before)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < m->nblocks;) {
        if (m->state[i] != M_FREE) {
            i++;
            continue;
        }
        size_t e = run_end(m, i);
        if (e - i >= m->run_min && e < m->nblocks && run_class(e - i) == c && m->stamp[i] < before
            && (best == SIZE_MAX || m->stamp[i] > m->stamp[best]))
            best = i;
        i = e;
    }
    return best;
}

void model_init(struct model *m, uintptr_t base, size_t block, size_t nblocks, bool debug,
                unsigned char *state, size_t *asked, uint64_t *stamp)
{
    *m = (struct model){ .base = base, .block = block, .nblocks = nblocks, .state = state,
                         .asked = asked, .debug = debug, .stamp = stamp, .sets = 1 };
    m->run_min = debug ? 0 : block >= MODEL_RUN_HEADER ? 1 : MODEL_RUN_HEADER / block;
    m->classes = debug ? 0 : nblocks >> KHEAP_QCLASS_SHIFT;
    if (m->classes > MODEL_CACHE_CLASSES)
        m->classes = MODEL_CACHE_CLASSES;
    for (size_t i = 0; i < nblocks; i++)
        state[i] = M_FREE;
    index_put(m, 0, nblocks);
}

/* Windows begin where a cache line of the cached bitmap does: the bitmaps follow the control
 * block, word aligned, each a word per machine word's bits of blocks. */
void model_cpus(struct model *m, uintptr_t mem, size_t sets)
{
    const size_t w = sizeof(uintptr_t), bits = 8 * w;
    uintptr_t control = (mem + w - 1) / w * w;
    uintptr_t cached = control + MODEL_CONTROL_BYTES + 2 * w * ((m->nblocks + bits - 1) / bits);
    m->sets = sets;
    m->window_offset = cached % 64 / w * bits;
}

void model_cpu(struct model *m, size_t cpu)
{
    m->cpu = cpu;
}

/* The calling CPU's set. */
static size_t own(const struct model *m)
{
    return m->cpu % m->sets;
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
    index_take(m, i, n);
    m->state[i] = M_START;
    for (size_t k = 1; k < n; k++)
        m->state[i + k] = M_CONT;
    note_peak(m);
}

static void free_blocks(struct model *m, size_t i, size_t n)
{
    for (size_t k = i; k < i + n; k++)
        m->state[k] = M_FREE;
    if (n)
        index_give(m, i, n);
}

/* Every set in turn, each class from the shortest, each newest first. */
void model_flush(struct model *m)
{
    for (size_t set = 0; set < m->sets; set++)
        for (size_t c = 0; c < m->classes; c++)
            while (m->cache_count[set][c])
                free_blocks(m, m->cache[set][c][--m->cache_count[set][c]], c + 1);
    m->cached_blocks = 0;
}

/* The newest allocation of n blocks in the calling CPU's quick caches, live again, or -1. */
static long cache_take(struct model *m, size_t n)
{
    if (n == 0 || n > m->classes || m->cache_count[own(m)][n - 1] == 0)
        return -1;
    size_t i = m->cache[own(m)][n - 1][--m->cache_count[own(m)][n - 1]];
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

/* The placement of n blocks at an align-byte boundary, as kh_take in asm/kheap_core.asm:
 * with an index and a (the alignment in blocks) above 1, the head of each class from
 * fit_class(n) below fit_class(n + a - 1) that holds an aligned fit; then the head of the
 * first non-empty class at or above fit_class(n + a - 1) at its first aligned block; then
 * the top run at its first aligned block, when the fit lies in it; with heads, nothing
 * else; else the runs of every class from run_class(n) up, in list order, the first that
 * holds an aligned fit; else, when n is shorter than an indexed run, the lowest aligned
 * fit. Without an index (a debug pool), the lowest aligned fit. -1 when none. */
static long place_by(const struct model *m, size_t n, size_t align, bool heads)
{
    size_t a = align / m->block, classes = run_class(m->nblocks) / MODEL_SL_COUNT + 1;
    classes *= MODEL_SL_COUNT;
    if (m->run_min == 0)
        return first_fit(m, n, align);
    size_t limit = n + a - 1 < n ? classes : fit_class(n + a - 1);
    for (size_t c = fit_class(n); a > 1 && c < limit && c < classes; c++) {
        size_t r = class_next(m, c, UINT64_MAX);     /* a head that holds an aligned fit */
        size_t q = r == SIZE_MAX ? SIZE_MAX : aligned_from(m, r, align);
        if (q != SIZE_MAX && q <= m->nblocks - n && run_end(m, r) >= q + n)
            return (long)q;
    }
    for (size_t c = limit; c < classes; c++) {
        size_t r = class_next(m, c, UINT64_MAX);
        if (r != SIZE_MAX)
            return (long)aligned_from(m, r, align);
    }
    size_t top = run_begin(m, m->nblocks), q = aligned_from(m, top, align);
    if (q != SIZE_MAX && q <= m->nblocks && m->nblocks - q >= n)
        return (long)q;
    if (heads)
        return -1;
    for (size_t c = run_class(n); c < classes; c++)
        for (size_t r = class_next(m, c, UINT64_MAX); r != SIZE_MAX;
             r = class_next(m, c, m->stamp[r])) {
            size_t q = aligned_from(m, r, align);
            if (q != SIZE_MAX && q <= m->nblocks - n && run_end(m, r) >= q + n)
                return (long)q;
        }
    return n < m->run_min ? first_fit(m, n, align) : -1;
}

static long place(const struct model *m, size_t n, size_t align)
{
    return place_by(m, n, align, false);
}

static size_t window_at(const struct model *m, size_t b)
{
    return (b + m->window_offset) / MODEL_WINDOW;
}

static size_t window_first(const struct model *m, size_t w)
{
    return w ? w * MODEL_WINDOW - m->window_offset : 0;
}

/* With a set per CPU, a quick cache's size that the CPU's set could not serve: the lowest
 * fit in the CPU's window; else place at a multiple of a window's blocks of address, by the
 * classes' heads alone; else place; the window of what it found becomes the CPU's. -1 when none. */
static long window_place(struct model *m, size_t n)
{
    size_t *w = &m->window[own(m)];
    if (*w && *w <= window_at(m, m->nblocks - 1) + 1) {
        size_t end = window_first(m, *w) < m->nblocks ? window_first(m, *w) : m->nblocks;
        for (size_t i = window_first(m, *w - 1); i + n <= end;) {
            size_t k = first_taken(m, i, n);
            if (k == i + n)
                return (long)i;
            i = k + 1;
        }
    }
    long i = place_by(m, n, MODEL_WINDOW * m->block, true);
    if (i < 0)
        i = place(m, n, m->block);
    if (i >= 0)
        *w = window_at(m, (size_t)i) + 1;
    return i;
}

/* The CPU's quick caches first (at the block alignment), then its window (with a set per
 * CPU) or place, then, when nothing fits and the caches may hold anything, place again
 * after they are flushed. */
static uintptr_t alloc_blocks(struct model *m, size_t size, size_t align)
{
    size_t n = blocks_for(m, size);
    if (n == 0 || n > m->nblocks - used_blocks(m))
        return 0;                           /* more than all free blocks, cached ones too */
    if (align < m->block)
        align = m->block;
    long i = align == m->block ? cache_take(m, n) : -1;
    if (i < 0) {
        bool windowed = m->sets > 1 && align == m->block && n <= m->classes;
        i = windowed ? window_place(m, n) : place(m, n, align);
        if (i < 0 && (m->cached_blocks || m->sets > 1)) {
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

/* Frees allocation i: into the calling CPU's quick cache when that has room, else to the
 * index. */
static void release(struct model *m, size_t i)
{
    size_t n = length(m, i), set = own(m);
    if (n <= m->classes && m->cache_count[set][n - 1] < MODEL_CACHE_DEPTH) {
        m->cache[set][n - 1][m->cache_count[set][n - 1]++] = i;
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

/* Takes the held allocation at block i out of its class, in whichever set holds it, back
 * to the index. */
static void cache_drop(struct model *m, size_t i)
{
    size_t n = length(m, i);
    for (size_t set = 0; set < m->sets; set++) {
        size_t *cls = m->cache[set][n - 1], count = m->cache_count[set][n - 1];
        for (size_t k = 0; k < count; k++)
            if (cls[k] == i) {
                for (; k + 1 < count; k++)
                    cls[k] = cls[k + 1];
                m->cache_count[set][n - 1]--;
                m->cached_blocks -= n;
                free_blocks(m, i, n);
                return;
            }
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
        index_take(m, (size_t)i + old, n - old);
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
