/* kheap.c - the module's C layer: pools, the kmalloc family, hooks, stats, check and walk.
 * The bitmap work is in asm/kheap.asm; this file keeps the counters and the rules of the API. */
#include "kheap.h"

/* The control block. asm/kheap.asm declares the same fields in the same order; the build
 * compares the two (see KHEAP_EMIT_OFFSETS below) and stops on any drift. */
typedef uintptr_t kh_word;                  /* one bitmap word */
#define KH_WORD_BITS (sizeof(kh_word) * 8)

struct kheap {
    uintptr_t magic;                        /* KH_MAGIC_VALUE while valid */
    uintptr_t geometry;                     /* geometry_sum() of the fields below, to mem_end */
    uintptr_t shift;                        /* log2(block size) */
    uintptr_t nblocks;                      /* blocks in the block area */
    uintptr_t nwords;                       /* words in each bitmap */
    kh_word *used;                          /* bit i: block i is in a live allocation */
    kh_word *start;                         /* bit i: block i starts a live allocation */
    uintptr_t base;                         /* address of block 0 */
    uintptr_t limit;                        /* one past the last block */
    uintptr_t mem_start, mem_end;           /* the region given to kheap_create */
    uintptr_t hint;                         /* every used word below this one is full */
    size_t free_blocks;
    size_t live_allocs;
    size_t peak_blocks;
    size_t total_allocs, total_frees;
    size_t failed_allocs;
    size_t faults;
    struct kheap *next;                     /* next region of the kmalloc heap */
};

#define KH_MAGIC_VALUE 0x5045484Bu          /* "KHEP", as in asm/kheap.asm */

/* Host test builds only (make test builds one with -DKHEAP_VALGRIND): tell Valgrind which
 * blocks are live, so any touch of a free block or of the pad is reported. These are no-ops
 * in every other build, and the module never needs Valgrind's header otherwise. */
#ifdef KHEAP_VALGRIND
#include <valgrind/memcheck.h>
/* A new pool: any older pool at the same address is gone (destroying it makes its old
 * blocks no-access, so the fresh control block and bitmaps are marked defined again);
 * everything past the bitmaps is off limits until allocated. */
#define VG_POOL(h) do {                                                                   \
        if (VALGRIND_MEMPOOL_EXISTS(h))                                                  \
            VALGRIND_DESTROY_MEMPOOL(h);                                                 \
        VALGRIND_MAKE_MEM_DEFINED(h, (uintptr_t)((h)->start + (h)->nwords) - (uintptr_t)(h)); \
        VALGRIND_CREATE_MEMPOOL(h, 0, 0);                                                \
        VALGRIND_MAKE_MEM_NOACCESS((h)->start + (h)->nwords,                             \
                                   (h)->mem_end - (uintptr_t)((h)->start + (h)->nwords)); \
    } while (0)
#define VG_ALLOC(h, p, n)      VALGRIND_MEMPOOL_ALLOC(h, p, n)
#define VG_FREE(h, p)          VALGRIND_MEMPOOL_FREE(h, p)
/* Resized in place from `old` to `new` bytes: a grown tail is usable, a cut tail is not. */
#define VG_RESIZE(h, p, old, new) do {                                                    \
        VALGRIND_MEMPOOL_CHANGE(h, p, p, new);                                           \
        if ((new) > (old))                                                               \
            VALGRIND_MAKE_MEM_UNDEFINED((char *)(p) + (old), (new) - (old));             \
        else                                                                             \
            VALGRIND_MAKE_MEM_NOACCESS((char *)(p) + (new), (old) - (new));              \
    } while (0)
#else
#define VG_POOL(h)                  ((void)0)
#define VG_ALLOC(h, p, n)           ((void)0)
#define VG_FREE(h, p)               ((void)0)
#define VG_RESIZE(h, p, old, new)   ((void)0)
#endif
#define KH_MIN_SHIFT 2                      /* blocks of 4 bytes .. */
#define KH_MAX_SHIFT 20                     /* .. to 1 MiB */

/* asm/kheap.asm: the table at its top gives each routine's contract. */
kheap_t *kh_init(void *mem, size_t size, uintptr_t shift);
intptr_t kh_find(kheap_t *h, uintptr_t count, uintptr_t align);
void kh_claim(kheap_t *h, uintptr_t first, uintptr_t count);
void kh_release(kheap_t *h, uintptr_t first, uintptr_t count);
void kh_mark(kheap_t *h, uintptr_t first, uintptr_t count);
void kh_unmark(kheap_t *h, uintptr_t first, uintptr_t count);
uintptr_t kh_next_used(const kheap_t *h, uintptr_t from, uintptr_t limit);
uintptr_t kh_next_free(const kheap_t *h, uintptr_t from, uintptr_t limit);
uintptr_t kh_alloc_blocks(const kheap_t *h, uintptr_t first);
intptr_t kh_block_of(const kheap_t *h, const void *p);
void kh_zero(void *dst, size_t n);
void kh_copy(void *dst, const void *src, size_t n);

#ifdef KHEAP_EMIT_OFFSETS
/* Compiled only with -S -DKHEAP_EMIT_OFFSETS: the Makefile turns the "->" lines into
 * build/kheap_offsets.inc, which asm/kheap.asm checks its own layout against. */
#define KH_EMIT(sym, field) \
    __asm__ volatile("\n->" #sym " %c0" : : "i"(__builtin_offsetof(struct kheap, field)))
void kheap_emit_offsets(void);
void kheap_emit_offsets(void)
{
    KH_EMIT(KH_MAGIC, magic);           KH_EMIT(KH_GEOMETRY, geometry);
    KH_EMIT(KH_SHIFT, shift);           KH_EMIT(KH_NBLOCKS, nblocks);
    KH_EMIT(KH_NWORDS, nwords);         KH_EMIT(KH_USED, used);
    KH_EMIT(KH_START, start);           KH_EMIT(KH_BASE, base);
    KH_EMIT(KH_LIMIT, limit);           KH_EMIT(KH_MEM_START, mem_start);
    KH_EMIT(KH_MEM_END, mem_end);       KH_EMIT(KH_HINT, hint);
    KH_EMIT(KH_FREE_BLOCKS, free_blocks);   KH_EMIT(KH_LIVE_ALLOCS, live_allocs);
    KH_EMIT(KH_PEAK_BLOCKS, peak_blocks);   KH_EMIT(KH_TOTAL_ALLOCS, total_allocs);
    KH_EMIT(KH_TOTAL_FREES, total_frees);   KH_EMIT(KH_FAILED_ALLOCS, failed_allocs);
    KH_EMIT(KH_FAULTS, faults);         KH_EMIT(KH_NEXT, next);
    __asm__ volatile("\n->KH_SIZE %c0" : : "i"(sizeof(struct kheap)));
}
#endif

/* ---------------------------------------------------------------- hooks and locking */

static bool heap_ok(const kheap_t *h);

static void (*fault_hook)(const struct kheap_fault *f);
static uintptr_t (*lock_hook)(void);
static void (*unlock_hook)(uintptr_t state);
static kheap_t *kmalloc_first;              /* the kmalloc regions, chained through .next */

void kheap_set_fault_handler(void (*fn)(const struct kheap_fault *f))
{
    fault_hook = fn;
}

void kheap_set_lock(uintptr_t (*lock)(void), void (*unlock)(uintptr_t state))
{
    if (!lock || !unlock)
        lock = 0, unlock = 0;
    lock_hook = lock;
    unlock_hook = unlock;
}

static uintptr_t heap_lock(void)
{
    return lock_hook ? lock_hook() : 0;
}

/* Releases the lock, then reports the fault recorded during the call, if any: the hook
 * never runs under the lock, so it may print, panic or call the module. */
static void heap_unlock(uintptr_t state, const struct kheap_fault *f)
{
    if (unlock_hook)
        unlock_hook(state);
    if (f->kind && fault_hook)
        fault_hook(f);
}

/* Records a fault against h (counted now, reported at unlock). */
static void fault(struct kheap_fault *f, enum kheap_fault_kind kind, kheap_t *h,
                  const void *ptr, const void *caller)
{
    f->kind = kind;
    f->heap = h;
    f->ptr = ptr;
    f->caller = caller;
    if (heap_ok(h))                         /* a damaged control block is not written */
        h->faults++;
}

/* ---------------------------------------------------------------- pool geometry */

/* A checksum of the fields that never change after kh_init; a wild write to any of them
 * makes the handle fail heap_ok(). */
static uintptr_t geometry_sum(const kheap_t *h)
{
    uintptr_t s = 0x9E3779B9u;
    const uintptr_t f[] = { h->shift, h->nblocks, h->nwords, (uintptr_t)h->used,
                            (uintptr_t)h->start, h->base, h->limit, h->mem_start, h->mem_end };
    for (unsigned i = 0; i < sizeof f / sizeof f[0]; i++)
        s = (s ^ f[i]) * 0x01000193u + (s >> 15);
    return s;
}

/* A usable handle: not NULL, magic intact, geometry unchanged. O(1). */
static bool heap_ok(const kheap_t *h)
{
    return h && h->magic == KH_MAGIC_VALUE && h->geometry == geometry_sum(h);
}

/* Checks the handle of a call; a damaged one is reported as corruption of h itself. */
static bool usable(kheap_t *h, struct kheap_fault *f, const void *caller)
{
    if (heap_ok(h))
        return true;
    if (h)
        fault(f, KHEAP_FAULT_CORRUPT, h, h, caller);
    return false;
}

static size_t block_size(const kheap_t *h)
{
    return (size_t)1 << h->shift;
}

static void *block_addr(const kheap_t *h, uintptr_t i)
{
    return (void *)(h->base + (i << h->shift));
}

/* Blocks needed for size bytes, or 0 when size is 0 or too large for any pool. */
static uintptr_t blocks_for(const kheap_t *h, size_t size)
{
    size_t mask = block_size(h) - 1;
    if (size == 0 || size > SIZE_MAX - mask)
        return 0;
    return (size + mask) >> h->shift;
}

static int shift_of(size_t block)
{
    for (int s = KH_MIN_SHIFT; s <= KH_MAX_SHIFT; s++)
        if (block == (size_t)1 << s)
            return s;
    return -1;
}

kheap_t *kheap_create(void *mem, size_t size, size_t block)
{
    int shift = shift_of(block ? block : KHEAP_DEFAULT_BLOCK);
    if (!mem || shift < 0)
        return 0;
    kheap_t *h = kh_init(mem, size, (uintptr_t)shift);
    if (h) {
        h->geometry = geometry_sum(h);
        VG_POOL(h);
    }
    return h;
}

/* ---------------------------------------------------------------- allocation core (unlocked) */

static void count_used(kheap_t *h, uintptr_t claimed)
{
    h->free_blocks -= claimed;
    size_t used = h->nblocks - h->free_blocks;
    if (used > h->peak_blocks)
        h->peak_blocks = used;
}

/* First fit of size bytes at an align-byte boundary (a power of two) in one pool. */
static void *pool_alloc(kheap_t *h, size_t size, size_t align)
{
    uintptr_t n = blocks_for(h, size);
    if (n == 0 || n > h->free_blocks)
        return 0;
    uintptr_t a = align >> h->shift;
    intptr_t first = kh_find(h, n, a ? a : 1);
    if (first < 0)
        return 0;
    kh_claim(h, (uintptr_t)first, n);
    count_used(h, n);
    h->live_allocs++;
    h->total_allocs++;
    VG_ALLOC(h, block_addr(h, (uintptr_t)first), n << h->shift);
    return block_addr(h, (uintptr_t)first);
}

/* Frees the allocation starting at block i (known live). */
static void pool_release(kheap_t *h, uintptr_t i)
{
    uintptr_t n = kh_alloc_blocks(h, i);
    kh_release(h, i, n);
    VG_FREE(h, block_addr(h, i));
    h->free_blocks += n;
    h->live_allocs--;
    h->total_frees++;
}

static enum kheap_fault_kind fault_kind(intptr_t err)
{
    if (err == KHEAP_EDOUBLE)
        return KHEAP_FAULT_DOUBLE_FREE;
    if (err == KHEAP_EINTERIOR)
        return KHEAP_FAULT_INTERIOR;
    return KHEAP_FAULT_INVALID;
}

/* Block of a live pointer p of h, or a KHEAP_E* code with the fault recorded. */
static intptr_t live_block(kheap_t *h, const void *p, struct kheap_fault *f, const void *caller)
{
    intptr_t i = kh_block_of(h, p);
    if (i < 0)
        fault(f, fault_kind(i), h, p, caller);
    return i;
}

/* The first pool of the chain from h (only h when !chain) that serves the request. */
static void *chain_alloc(kheap_t *h, size_t size, size_t align, bool chain)
{
    for (; h; h = chain ? h->next : 0) {
        void *p = pool_alloc(h, size, align);
        if (p)
            return p;
    }
    return 0;
}

static bool align_ok(size_t align)
{
    return align && !(align & (align - 1));
}

/* The whole of an allocating call on a pool or chain: the size-0 rule, the failure count,
 * the lock. Zeroes the usable size when zero is set (outside the lock). */
static void *alloc_call(kheap_t *h, size_t size, size_t align, bool chain, bool zero,
                        const void *caller)
{
    if (size == 0)
        return 0;
    struct kheap_fault f = {0};
    uintptr_t s = heap_lock();
    void *p = 0;
    if (usable(h, &f, caller)) {
        if (align_ok(align))
            p = chain_alloc(h, size, align, chain);
        if (!p)
            h->failed_allocs++;
    }
    size_t bytes = p ? (size_t)blocks_for(h, size) << h->shift : 0;
    heap_unlock(s, &f);
    if (p && zero)
        kh_zero(p, bytes);
    return p;
}

/* n * size, or SIZE_MAX (which no pool can serve) when it overflows. */
static size_t array_size(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return SIZE_MAX;
    return n * size;
}

/* Resizes live allocation i of pool h; a move takes the new run from the chain at `from`.
 * Returns the new pointer, or NULL with nothing changed but the failure count. */
static void *pool_resize(kheap_t *h, uintptr_t i, size_t size, kheap_t *from, bool chain)
{
    uintptr_t old = kh_alloc_blocks(h, i);
    uintptr_t n = blocks_for(h, size);
    void *p = block_addr(h, i);
    if (n == 0)
        return 0;
    if (n <= old) {                          /* shrink in place: free the tail */
        if (n < old) {
            kh_unmark(h, i + n, old - n);
            h->free_blocks += old - n;
            VG_RESIZE(h, p, old << h->shift, n << h->shift);
        }
        return p;
    }
    if (n <= h->nblocks - i && kh_next_used(h, i + old, i + n) == i + n) {
        kh_mark(h, i + old, n - old);        /* grow in place: the following blocks are free */
        count_used(h, n - old);
        VG_RESIZE(h, p, old << h->shift, n << h->shift);
        return p;
    }
    void *q = chain_alloc(from, size, 1, chain);
    if (q) {
        kh_copy(q, p, old << h->shift);
        pool_release(h, i);
    }
    return q;
}

/* ---------------------------------------------------------------- the pool API */

void *kheap_alloc(kheap_t *h, size_t size)
{
    return alloc_call(h, size, 1, false, false, __builtin_return_address(0));
}

void *kheap_alloc_aligned(kheap_t *h, size_t size, size_t align)
{
    return alloc_call(h, size, align, false, false, __builtin_return_address(0));
}

void *kheap_calloc(kheap_t *h, size_t n, size_t size)
{
    return alloc_call(h, array_size(n, size), 1, false, true, __builtin_return_address(0));
}

/* Frees p in h, or records why not. */
static int free_in(kheap_t *h, void *p, struct kheap_fault *f, const void *caller)
{
    if (!h) {
        fault(f, KHEAP_FAULT_INVALID, 0, p, caller);
        return KHEAP_EINVAL;
    }
    if (!usable(h, f, caller))
        return KHEAP_ECORRUPT;
    intptr_t i = live_block(h, p, f, caller);
    if (i < 0)
        return (int)i;
    pool_release(h, (uintptr_t)i);
    return 0;
}

int kheap_free(kheap_t *h, void *p)
{
    if (!p)
        return 0;
    struct kheap_fault f = {0};
    uintptr_t s = heap_lock();
    int err = free_in(h, p, &f, __builtin_return_address(0));
    heap_unlock(s, &f);
    return err;
}

static kheap_t *owner(const void *p);

/* realloc of a non-NULL p: on pool h alone, or (chain) on the kmalloc region owning p,
 * moving to any region. */
static void *realloc_in(kheap_t *h, void *p, size_t size, bool chain, const void *caller)
{
    struct kheap_fault f = {0};
    uintptr_t s = heap_lock();
    kheap_t *from = chain ? kmalloc_first : h;
    void *q = 0;
    if (chain)
        h = owner(p);
    if (!h) {
        fault(&f, KHEAP_FAULT_INVALID, from, p, caller);
    } else if (size == 0) {
        free_in(h, p, &f, caller);
    } else if (usable(h, &f, caller)) {
        intptr_t i = live_block(h, p, &f, caller);
        if (i >= 0) {
            q = pool_resize(h, (uintptr_t)i, size, from, chain);
            if (!q)
                from->failed_allocs++;
        }
    }
    heap_unlock(s, &f);
    return q;
}

void *kheap_realloc(kheap_t *h, void *p, size_t size)
{
    const void *caller = __builtin_return_address(0);
    if (!p)
        return alloc_call(h, size, 1, false, false, caller);
    return realloc_in(h, p, size, false, caller);
}

/* Bytes of the live allocation at p, or 0. Unlocked. */
static size_t usable_size(const kheap_t *h, const void *p)
{
    if (!heap_ok(h))
        return 0;
    intptr_t i = kh_block_of(h, p);
    return i < 0 ? 0 : (size_t)kh_alloc_blocks(h, (uintptr_t)i) << h->shift;
}

size_t kheap_usable_size(kheap_t *h, const void *p)
{
    uintptr_t s = heap_lock();
    size_t n = usable_size(h, p);
    if (unlock_hook)
        unlock_hook(s);
    return n;
}

bool kheap_owns(const kheap_t *h, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return heap_ok(h) && a >= h->base && a < h->limit;
}

/* ---------------------------------------------------------------- check, stats, walk */

static unsigned popcount(kh_word w)
{
    unsigned n = 0;
    for (; w; w &= w - 1)
        n++;
    return n;
}

/* The used-bitmap pad bits (I2 in asm/kheap.asm): set for blocks past nblocks. */
static kh_word pad_mask(const kheap_t *h)
{
    unsigned tail = h->nblocks % KH_WORD_BITS;
    return tail ? ~(kh_word)0 << tail : 0;
}

/* The control block's own invariants; returns false when any field is out of shape. */
static bool control_ok(const kheap_t *h)
{
    uintptr_t bs = (uintptr_t)1 << h->shift;
    uintptr_t words_end = (uintptr_t)(h->start + h->nwords);
    return heap_ok(h)
        && h->shift >= KH_MIN_SHIFT && h->shift <= KH_MAX_SHIFT
        && h->nblocks > 0 && h->nwords == (h->nblocks + KH_WORD_BITS - 1) / KH_WORD_BITS
        && (uintptr_t)h->used == (uintptr_t)(h + 1)
        && h->start == h->used + h->nwords
        && h->base >= words_end && h->base - words_end < bs && (h->base & (bs - 1)) == 0
        && h->limit == h->base + (h->nblocks << h->shift)
        && h->mem_start <= (uintptr_t)h && h->limit <= h->mem_end
        && h->hint <= h->nwords
        && h->free_blocks <= h->nblocks && h->peak_blocks <= h->nblocks
        && h->peak_blocks >= h->nblocks - h->free_blocks
        && h->total_allocs - h->total_frees == h->live_allocs;
}

/* Address of the first bitmap word breaking I1..I3, or NULL; counts bits for the caller. */
static const void *bitmaps_bad(const kheap_t *h, size_t *used_bits, size_t *start_bits)
{
    kh_word carry = 0;                      /* top used bit of the previous word */
    kh_word pad = pad_mask(h);
    *used_bits = *start_bits = 0;
    for (uintptr_t w = 0; w < h->nwords; w++) {
        bool last = w == h->nwords - 1;
        kh_word u = h->used[w], st = h->start[w];
        kh_word real = last ? u & ~pad : u;     /* the pad is used but starts nothing */
        kh_word heads = real & ~((real << 1) | carry);  /* blocks that begin a used run */
        if (st & ~u)
            return &h->start[w];            /* a start on a free block */
        if (heads & ~st)
            return &h->used[w];             /* a used run without a start */
        if (last && ((u & pad) != pad || (st & pad)))
            return &h->used[w];             /* pad bits wrong */
        if (w < h->hint && u != ~(kh_word)0)
            return &h->used[w];             /* a free block below the hint */
        *used_bits += popcount(real);
        *start_bits += popcount(st);
        carry = u >> (KH_WORD_BITS - 1);
    }
    return 0;
}

int kheap_check(kheap_t *h)
{
    if (!h)
        return KHEAP_EINVAL;
    struct kheap_fault f = {0};
    const void *bad = 0;
    uintptr_t s = heap_lock();
    if (!control_ok(h)) {
        bad = h;
    } else {
        size_t used, starts;
        bad = bitmaps_bad(h, &used, &starts);
        if (!bad && (used != h->nblocks - h->free_blocks || starts != h->live_allocs))
            bad = h;                        /* counters disagree with the bitmaps */
    }
    if (bad)
        fault(&f, KHEAP_FAULT_CORRUPT, h, bad, __builtin_return_address(0));
    heap_unlock(s, &f);
    return bad ? KHEAP_ECORRUPT : 0;
}

void kheap_get_stats(const kheap_t *h, struct kheap_stats *out)
{
    struct kheap_stats st = {0};
    uintptr_t s = heap_lock();
    if (heap_ok(h)) {
        size_t bs = block_size(h);
        uintptr_t largest = 0;
        for (uintptr_t i = kh_next_free(h, 0, h->nblocks); i < h->nblocks;) {
            uintptr_t end = kh_next_used(h, i, h->nblocks);
            if (end - i > largest)
                largest = end - i;
            i = kh_next_free(h, end, h->nblocks);
        }
        st.block_size = bs;
        st.capacity = h->nblocks * bs;
        st.used = (h->nblocks - h->free_blocks) * bs;
        st.peak_used = h->peak_blocks * bs;
        st.largest_free = largest * bs;
        st.live_allocs = h->live_allocs;
        st.total_allocs = h->total_allocs;
        st.total_frees = h->total_frees;
        st.failed_allocs = h->failed_allocs;
        st.faults = h->faults;
    }
    if (unlock_hook)
        unlock_hook(s);
    if (out)
        *out = st;
}

int kheap_walk(kheap_t *h, int (*fn)(void *ctx, void *p, size_t size, bool used), void *ctx)
{
    if (!h || !fn)
        return KHEAP_EINVAL;
    struct kheap_fault f = {0};
    int ret = 0;
    uintptr_t s = heap_lock();
    if (!usable(h, &f, __builtin_return_address(0))) {
        ret = KHEAP_ECORRUPT;
    } else {
        for (uintptr_t i = 0; i < h->nblocks && ret == 0;) {
            bool used = kh_next_free(h, i, i + 1) != i;
            uintptr_t end = used ? i + kh_alloc_blocks(h, i) : kh_next_used(h, i, h->nblocks);
            ret = fn(ctx, block_addr(h, i), (end - i) << h->shift, used);
            i = end;
        }
    }
    heap_unlock(s, &f);
    return ret;
}

/* ---------------------------------------------------------------- the kernel-wide heap */

int kmalloc_init(void *mem, size_t size)
{
    kheap_t *h = kheap_create(mem, size, 0);
    if (!h)
        return KHEAP_EINVAL;
    uintptr_t s = heap_lock();
    kmalloc_first = h;
    if (unlock_hook)
        unlock_hook(s);
    return 0;
}

static bool overlaps(const kheap_t *h, uintptr_t lo, uintptr_t hi)
{
    return lo < h->mem_end && h->mem_start < hi;
}

int kmalloc_add_region(void *mem, size_t size)
{
    uintptr_t lo = (uintptr_t)mem, hi = lo + size;
    int err = 0;
    uintptr_t s = heap_lock();
    kheap_t **tail = &kmalloc_first;
    if (!kmalloc_first || hi < lo)
        err = KHEAP_EINVAL;
    for (; !err && *tail; tail = &(*tail)->next)
        if (overlaps(*tail, lo, hi))
            err = KHEAP_EINVAL;
    if (!err) {
        kheap_t *h = kheap_create(mem, size, 0);
        if (h)
            *tail = h;
        else
            err = KHEAP_EINVAL;
    }
    if (unlock_hook)
        unlock_hook(s);
    return err;
}

kheap_t *kmalloc_heap(void)
{
    return kmalloc_first;
}

/* The region that owns p, or NULL. Called under the lock. */
static kheap_t *owner(const void *p)
{
    kheap_t *h = kmalloc_first;
    while (h && !kheap_owns(h, p))
        h = h->next;
    return h;
}

void *kmalloc(size_t size)
{
    return alloc_call(kmalloc_first, size, 1, true, false, __builtin_return_address(0));
}

void *kzalloc(size_t size)
{
    return alloc_call(kmalloc_first, size, 1, true, true, __builtin_return_address(0));
}

void *kcalloc(size_t n, size_t size)
{
    return alloc_call(kmalloc_first, array_size(n, size), 1, true, true,
                      __builtin_return_address(0));
}

void *kmalloc_aligned(size_t size, size_t align)
{
    return alloc_call(kmalloc_first, size, align, true, false, __builtin_return_address(0));
}

void kfree(void *p)
{
    if (!p)
        return;
    struct kheap_fault f = {0};
    const void *caller = __builtin_return_address(0);
    uintptr_t s = heap_lock();
    kheap_t *h = owner(p);
    if (h)
        free_in(h, p, &f, caller);
    else
        fault(&f, KHEAP_FAULT_INVALID, kmalloc_first, p, caller);
    heap_unlock(s, &f);
}

void *krealloc(void *p, size_t size)
{
    const void *caller = __builtin_return_address(0);
    if (!p)
        return alloc_call(kmalloc_first, size, 1, true, false, caller);
    return realloc_in(0, p, size, true, caller);
}

size_t ksize(const void *p)
{
    uintptr_t s = heap_lock();
    size_t n = usable_size(owner(p), p);
    if (unlock_hook)
        unlock_hook(s);
    return n;
}
