/* kheap.c - the module's C layer: pools, the kmalloc family, hooks, debug guards, stats,
 * check, walk and dump. The bitmap work is in asm/kheap_core.asm; this file keeps the counters
 * and the rules of the API. */
#include "kheap.h"

/* The module includes no other header (it compiles under -nostdinc): its C types come from
 * the compiler, as kheap.h's do. */
typedef kheap_size_t size_t;
typedef kheap_uintptr_t uintptr_t;
typedef __INTPTR_TYPE__ intptr_t;
typedef __UINT32_TYPE__ uint32_t;
#define SIZE_MAX __SIZE_MAX__
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 202311L   /* (keywords from C23 on) */
#define bool _Bool
#define true 1
#define false 0
#endif

/* The control block. asm/kheap_core.asm declares the same fields in the same order; the build
 * compares the two (see KHEAP_EMIT_OFFSETS below) and stops on any drift. */
typedef uintptr_t kh_word;                  /* one bitmap word */
#define KH_WORD_BITS (sizeof(kh_word) * 8)
#ifndef KHEAP_QCLASS_SHIFT                  /* as in asm/kheap_core.asm: give both the same */
#define KHEAP_QCLASS_SHIFT 9
#endif
#define KH_CACHE_CLASSES 64                 /* the quick caches (I5), as in asm/kheap_core.asm */
#define KH_CACHE_DEPTH 16
#define KH_CACHE_DAMAGED (-2)               /* kh_cache_take: an entry failed its check (-1:
                                               nothing held) */

/* The free-run index (I3 in asm/kheap_core.asm): an indexed run's header, in its first block(s),
 * and the index area's shape. A run longer than run_min blocks also holds its first block in
 * its last dword (the footer). */
#define KH_RUN_LEN 0                        /* dwords of a header */
#define KH_RUN_NEXT 1
#define KH_RUN_PREV 2
#define KH_RUN_CHECK 3
#define KH_RUN_HEADER_BYTES 16u
#define KH_RUN_SEED 0x52554E53u
#define KH_NIL 0xFFFFFFFFu
#define KH_SL_LOG 4
#define KH_SL_COUNT (1u << KH_SL_LOG)
#define KH_FL_MAX 31u
#define KH_IX_SLMAP 1                       /* dwords of the index area */
#define KH_IX_TOP (1 + KH_FL_MAX)         /* the top run's first block, then its complement */
#define KH_IX_HEADS (KH_IX_TOP + 2)
#define KH_INDEX_DAMAGED ((uintptr_t)1 << (KH_WORD_BITS - 2))   /* as in the asm */
#define KH_NO_BLOCK (KH_INDEX_DAMAGED - 1)

struct kheap {
    size_t free_blocks;                     /* the counters first (I4): the lock-free paths
                                               read the fields after them, on other lines */
    size_t live_allocs;
    size_t peak_blocks;
    size_t total_allocs, total_frees;
    size_t failed_allocs;
    size_t faults;
    size_t cached_blocks;                   /* blocks held in the quick caches */
    uintptr_t magic;                        /* KH_MAGIC_VALUE while valid */
    uintptr_t geometry;                     /* kh_geometry(): the XOR of shift .. summary */
    uintptr_t shift;                        /* log2(block size) */
    uintptr_t nblocks;                      /* blocks in the block area */
    uintptr_t nwords;                       /* words in each bitmap */
    kh_word *used;                          /* bit i: block i is in a live allocation */
    kh_word *start;                         /* bit i: block i starts a live allocation */
    uintptr_t base;                         /* address of block 0 */
    uintptr_t limit;                        /* one past the last block */
    uintptr_t mem_start, mem_end;           /* the region given to kheap_create */
    uintptr_t side;                         /* side table (debug pools), after the bitmaps */
    uintptr_t flags;                        /* KHEAP_F_* */
    uint32_t *index;                        /* the free-run index (I3), after the side table */
    struct kheap *next;                     /* next region of the kmalloc heap */
    uintptr_t shape;                        /* run_min, fls << 8 (the index's shape, I3),
                                               quick-cache sets << 16 (I5) */
    kh_word *cached;                        /* bit i: block i starts an allocation held in
                                               a quick cache (I5), after the start bitmap */
    uintptr_t *cache;                       /* the quick caches, after the index: per set
                                               (one per CPU), a header, then per class a
                                               count and KH_CACHE_DEPTH block indices,
                                               each a kh_slot */
    uintptr_t classes;                      /* class c holds allocations of c+1 blocks */
    kh_word *summary;                       /* the boundary summary (I6), after the caches:
                                               each level word followed by its mirror */
    uintptr_t quick_geometry;               /* kh_geometry(h, true): the XOR of the words
                                               the quick paths read */
};

_Static_assert(sizeof(struct kheap) == KHEAP_CONTROL_BYTES, "kheap.h: KHEAP_CONTROL_BYTES");
/* The header of each quick-cache set (SET_* in asm/kheap_core.asm): the set's own lock, and
 * what the lock-free paths did in it since the C layer last folded it into the counters. */
struct kh_set {
    uintptr_t busy;                         /* 1 while a path pushes or pops the set */
    uintptr_t net;                          /* blocks pushed minus blocks popped (modulo) */
    uintptr_t hits, puts;                   /* allocations from it, frees into it */
    uintptr_t window;                       /* 1 + its CPU's window (window_take), 0: none */
    uintptr_t spare[3];
};
typedef uint32_t kh_slot;                   /* a class's count or entry (CACHE_SLOT): blocks
                                               are below 2^32 at both widths */
/* The bytes of one set of `classes` classes (SET_BYTES in asm/kheap_core.asm): the header, the
 * classes, and up to a word of pad so the next set's header stays word aligned. */
static inline uintptr_t set_bytes(uintptr_t classes)
{
    uintptr_t bytes = sizeof(struct kh_set) + classes * (KH_CACHE_DEPTH + 1) * sizeof(kh_slot);
    return (bytes + sizeof(uintptr_t) - 1) & -sizeof(uintptr_t);
}
_Static_assert(KHEAP_CPU_SET_BYTES == sizeof(struct kh_set)
               + KH_CACHE_CLASSES * (KH_CACHE_DEPTH + 1) * sizeof(kh_slot)
               && KHEAP_CPU_SET_BYTES % sizeof(uintptr_t) == 0,
               "kheap.h: KHEAP_CPU_SET_BYTES");

/* A debug pool's side table: an entry per block, meaningful at allocation starts. */
struct kh_side {
    uintptr_t caller;                       /* return address of the allocating call */
    size_t size;                            /* bytes asked for */
};

#define KH_MAGIC_VALUE 0x5045484Bu          /* "KHEP", as in asm/kheap_core.asm */
#define KH_MIN_SHIFT 2                      /* blocks of 4 bytes .. */
#define KH_MAX_SHIFT 20                     /* .. to 1 MiB */
#define KH_KNOWN_FLAGS (KHEAP_F_DEBUG | KHEAP_F_NOCACHE)
#define KH_F_GROWN 0x100u                   /* (module's own) a region the grow hook gave */

/* Host test builds only (make test builds one with -DKHEAP_VALGRIND): tell Valgrind which
 * blocks are live, so any touch of a free block or of the pad is reported. These are no-ops
 * in every other build, and the module never needs Valgrind's header otherwise. */
#ifdef KHEAP_VALGRIND
#include <valgrind/memcheck.h>
/* A new pool whose metadata ends at meta_end: any older pool at the same address is gone
 * (destroying it makes its old blocks no-access, so the fresh control block, bitmaps and
 * side table are marked defined again); everything past them, the pad included, is off
 * limits until allocated. */
#define VG_POOL(h, meta_end) do {                                                         \
        if (VALGRIND_MEMPOOL_EXISTS(h))                                                  \
            VALGRIND_DESTROY_MEMPOOL(h);                                                 \
        VALGRIND_MAKE_MEM_DEFINED(h, (meta_end) - (uintptr_t)(h));                       \
        VALGRIND_CREATE_MEMPOOL(h, 0, 0);                                                \
        VALGRIND_MAKE_MEM_NOACCESS((void *)(meta_end), (h)->mem_end - (meta_end));       \
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
/* A debug pool's patterns are real values, and free blocks are read to check them. */
#define VG_DEFINED(p, n)       VALGRIND_MAKE_MEM_DEFINED(p, n)
/* A region kmalloc_trim gives back is its owner's to use again: the pool's record goes,
 * every byte is addressable. */
#define VG_HANDED(h, p, n) do {                                                            \
        if ((h) && VALGRIND_MEMPOOL_EXISTS(h))                                           \
            VALGRIND_DESTROY_MEMPOOL(h);                                                 \
        VALGRIND_MAKE_MEM_DEFINED(p, n);                                                 \
    } while (0)
#define VG_NOACCESS(p, n)      VALGRIND_MAKE_MEM_NOACCESS(p, n)
/* The module reading a free run's header (I3), which is no caller's touch. */
#define VG_QUIET_BEGIN()       VALGRIND_DISABLE_ERROR_REPORTING
#define VG_QUIET_END()         VALGRIND_ENABLE_ERROR_REPORTING
/* The free run around block b, once the C layer has marked no-access blocks that it holds:
 * its header and footer (I3), which the asm wrote (and told Valgrind of), are the module's
 * again. */
#define VG_RUN(h, b)           vg_run(h, b)
static void vg_run(const kheap_t *h, uintptr_t b);
static uintptr_t free_from(const kheap_t *h, uintptr_t b);
#else
#define VG_POOL(h, meta_end)        ((void)0)
#define VG_ALLOC(h, p, n)           ((void)0)
#define VG_FREE(h, p)               ((void)0)
#define VG_RESIZE(h, p, old, new)   ((void)0)
#define VG_DEFINED(p, n)            ((void)0)
#define VG_HANDED(h, p, n)          ((void)0)
#define VG_NOACCESS(p, n)           ((void)0)
#define VG_QUIET_BEGIN()            ((void)0)
#define VG_QUIET_END()              ((void)0)
#define VG_RUN(h, b)                ((void)0)
#endif

/* asm/kheap_core.asm: the table at its top gives each routine's contract. Hidden: internal to
 * the module (direct calls, never through a PLT, and not exported from a shared library). */
#pragma GCC visibility push(hidden)
kheap_t *kh_init(void *mem, size_t size, uintptr_t shift, uintptr_t extra, uintptr_t sets);
uintptr_t kh_take(kheap_t *h, uintptr_t count, uintptr_t align, uintptr_t heads);
uintptr_t kh_claim(kheap_t *h, uintptr_t first, uintptr_t count);
uintptr_t kh_release(kheap_t *h, uintptr_t first, uintptr_t count);
uintptr_t kh_mark(kheap_t *h, uintptr_t first, uintptr_t count);
uintptr_t kh_unmark(kheap_t *h, uintptr_t first, uintptr_t count);
void kh_index_build(kheap_t *h);
uintptr_t kh_largest_run(const kheap_t *h);
uintptr_t kh_run_start(const kheap_t *h, uintptr_t b);
uintptr_t kh_run_end(const kheap_t *h, uintptr_t x);
uintptr_t kh_next_used(const kheap_t *h, uintptr_t from, uintptr_t limit);
uintptr_t kh_next_free(const kheap_t *h, uintptr_t from, uintptr_t limit);
uintptr_t kh_alloc_blocks(const kheap_t *h, uintptr_t first);
void kh_summary_build(kheap_t *h);
intptr_t kh_block_of(const kheap_t *h, const void *p);
intptr_t kh_cache_take(kheap_t *h, uintptr_t count, uintptr_t cpu);
uintptr_t kh_cache_put(kheap_t *h, uintptr_t first, uintptr_t count, uintptr_t cpu);
void *kh_fast_alloc(kheap_t *h, size_t size, uintptr_t cpu);
uintptr_t kh_fast_free(kheap_t *h, const void *p, uintptr_t cpu);
void *kh_heap_alloc(kheap_t *h, size_t size, const void *caller);
void kh_heap_free(kheap_t *h, void *p, const void *caller);
/* kernel/kheap.c's slow paths of those two and of kheap_alloc, kheap_alloc_aligned and
 * kheap_free (which are in asm/kheap_core.asm too), where they end (below), the report of
 * what their fill met, and the word of the hooks set they test */
unsigned kh_hooks;
void *kh_alloc_hooked(kheap_t *h, size_t size);
int kh_free_hooked(kheap_t *h, void *p);
void *kh_alloc_full(kheap_t *h, size_t size, const void *caller);
void *kh_alloc_aligned_full(kheap_t *h, size_t size, size_t align);
void *kh_heap_alloc_full(kheap_t *h, size_t size, const void *caller);
uintptr_t kh_take_report(kheap_t *h, uintptr_t r, const void *caller);
int kh_free_report(kheap_t *h, uintptr_t r, const void *caller);
int kh_free_full(kheap_t *h, void *p, const void *caller);
void kh_heap_free_full(kheap_t *h, void *p, const void *caller);
void *kh_cpu_alloc(kheap_t *h, size_t size, uintptr_t cpu);
uintptr_t kh_cpu_free(kheap_t *h, const void *p, uintptr_t cpu);
uintptr_t kh_geometry(const kheap_t *h, uintptr_t quick);
uintptr_t kh_handle_ok(const kheap_t *h);
void kh_fill(void *dst, size_t n, unsigned byte);
const void *kh_unlike(const void *p, size_t n, unsigned byte);
void kh_copy(void *dst, const void *src, size_t n);
#pragma GCC visibility pop

/* The bits of kh_hooks (above): which hooks are set. */
enum { HOOK_CPU = 1, HOOK_LOCK = 2, HOOK_COUNTDOWN = 4 };

#ifdef KHEAP_EMIT_OFFSETS
/* Compiled only with -S -DKHEAP_EMIT_OFFSETS: the Makefile turns the "->" lines into
 * build/kheap_offsets.inc, which asm/kheap_core.asm checks its own layout against. */
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
    KH_EMIT(KH_MEM_END, mem_end);       KH_EMIT(KH_SIDE, side);
    KH_EMIT(KH_FLAGS, flags);           KH_EMIT(KH_INDEX, index);
    KH_EMIT(KH_FREE_BLOCKS, free_blocks);   KH_EMIT(KH_LIVE_ALLOCS, live_allocs);
    KH_EMIT(KH_PEAK_BLOCKS, peak_blocks);   KH_EMIT(KH_TOTAL_ALLOCS, total_allocs);
    KH_EMIT(KH_TOTAL_FREES, total_frees);   KH_EMIT(KH_FAILED_ALLOCS, failed_allocs);
    KH_EMIT(KH_FAULTS, faults);         KH_EMIT(KH_NEXT, next);
    KH_EMIT(KH_SHAPE, shape);         KH_EMIT(KH_CACHED, cached);
    KH_EMIT(KH_CACHE, cache);           KH_EMIT(KH_CLASSES, classes);
    KH_EMIT(KH_SUMMARY, summary);       KH_EMIT(KH_QUICK_GEOMETRY, quick_geometry);
    KH_EMIT(KH_CACHED_BLOCKS, cached_blocks);
    __asm__ volatile("\n->CACHE_CLASSES %c0" : : "i"(KH_CACHE_CLASSES));
    __asm__ volatile("\n->CACHE_DEPTH %c0" : : "i"(KH_CACHE_DEPTH));
    __asm__ volatile("\n->KH_SIZE %c0" : : "i"(sizeof(struct kheap)));
    __asm__ volatile("\n->HOOK_CPU %c0" : : "i"(HOOK_CPU));
    __asm__ volatile("\n->HOOK_LOCK %c0" : : "i"(HOOK_LOCK));
}
#endif

/* ---------------------------------------------------------------- hooks and locking */

static bool heap_ok(const kheap_t *h);
static size_t usable_size(const kheap_t *h, const void *p);


static void (*fault_hook)(const struct kheap_fault *f);
static uintptr_t (*lock_hook)(void);
static void (*unlock_hook)(uintptr_t state);
static kheap_t *kmalloc_first;              /* the kmalloc regions, chained through .next */
static void *(*grow_hook)(size_t min_bytes, size_t *got);     /* kmalloc_set_grow */
static unsigned long fail_countdown;        /* kheap_fail_nth: calls left, 0 = off */
static unsigned (*cpu_hook)(void);          /* kheap_set_cpu: this CPU's index */
static unsigned cpu_count = 1;              /* .. and how many there are (the sets laid out) */

/* kh_hooks (defined above): which of the hooks a fast entry must honour are set. kheap_alloc
 * and kheap_free (in asm/kheap_core.asm), kmalloc and kfree test this one word (direct_alloc,
 * direct_free). note_hooks makes it anew wherever one of them changes. */
static void note_hooks(void)
{
    kh_hooks = (cpu_hook ? HOOK_CPU : 0) | (lock_hook ? HOOK_LOCK : 0)
             | (fail_countdown ? HOOK_COUNTDOWN : 0);
}

/* Whether kmalloc may go straight to the asm entry (kh_heap_alloc): no CPU or lock hook, no
 * failure countdown; never in the build for Valgrind, whose client requests follow each
 * allocation in C. kfree: direct_free. (The asm kheap_alloc, kheap_alloc_aligned and
 * kheap_free test the same bits of kh_hooks themselves.) */
#ifdef KHEAP_VALGRIND
#define direct_alloc() false
#define direct_free()  false
#else
#define direct_alloc() (!kh_hooks)
#define direct_free()  (!(kh_hooks & (HOOK_CPU | HOOK_LOCK)))
#endif

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
    note_hooks();
}

void kheap_set_cpu(unsigned (*cpu_index)(void), unsigned ncpus)
{
    if (!cpu_index || ncpus < 2)
        cpu_index = 0, ncpus = 1;
    cpu_hook = cpu_index;
    cpu_count = ncpus < KHEAP_MAX_CPUS ? ncpus : KHEAP_MAX_CPUS;
    note_hooks();
}

void kheap_fail_nth(unsigned long n)
{
    fail_countdown = n;
    note_hooks();
}

/* One public call in progress: who made it, and the first fault it found. */
struct call {
    const void *caller;
    struct kheap_fault fault;
    uintptr_t lock_state;
};

static kheap_t *region_of(const void *p, struct call *c);
static bool grow_chain(size_t size, size_t align, struct call *c);
static bool inside_held(const kheap_t *h, uintptr_t b);
static bool free_but_held(kheap_t *h, uintptr_t from, uintptr_t to, struct call *c);

static void call_begin(struct call *c, const void *caller)
{
    c->caller = caller;
    c->fault = (struct kheap_fault){0};
    c->lock_state = lock_hook ? lock_hook() : 0;
}

/* Releases the lock, then reports the first fault of the call, if any: the hook never runs
 * under the lock, so it may print, panic or call the module. */
static void call_end(struct call *c)
{
    if (unlock_hook)
        unlock_hook(c->lock_state);
    if (c->fault.kind && fault_hook)
        fault_hook(&c->fault);
}

/* Counts a fault against h (unless h is damaged: then nothing is written to it) and keeps
 * the first of the call for the hook. */
static void fault(struct call *c, enum kheap_fault_kind kind, kheap_t *h, const void *ptr)
{
    if (!c->fault.kind)
        c->fault = (struct kheap_fault){ kind, h, ptr, c->caller };
    if (heap_ok(h))
        h->faults++;
}

/* True when this allocating call is the one kheap_fail_nth asked to fail. */
static bool injected_failure(void)
{
    if (!fail_countdown || --fail_countdown)
        return false;
    note_hooks();
    return true;
}

/* ---------------------------------------------------------------- pool geometry */

/* The geometry words: kh_geometry (asm/kheap_core.asm) XORs the fields from shift to
 * summary, the ones that never change after creation but `next` (re-summed when
 * kmalloc_add_region links a region) and `flags`, so a wild write to any one of them changes
 * the sum and makes the handle fail heap_ok(); with quick set, the same over the eight of
 * them the quick paths read (the cache hit, the free into a cache), which check that word
 * alone (they find the used bitmap from h, right after the control block). One source for C and asm. seal_geometry writes both after a change. */
static void seal_geometry(kheap_t *h)
{
    h->geometry = kh_geometry(h, false);
    h->quick_geometry = kh_geometry(h, true);
}

/* A usable handle: not NULL, magic intact, both geometry words unchanged (kh_handle_ok,
 * one call: the quick word first, then the whole). O(1). */
static bool heap_ok(const kheap_t *h)
{
    return kh_handle_ok(h);
}

/* Checks the handle of a call; a damaged one is reported as corruption of h itself. */
static bool heap_usable(kheap_t *h, struct call *c)
{
    if (heap_ok(h))
        return true;
    if (h)
        fault(c, KHEAP_FAULT_CORRUPT, h, h);
    return false;
}

static size_t block_size(const kheap_t *h)
{
    return (size_t)1 << h->shift;
}

static unsigned char *block_addr(const kheap_t *h, uintptr_t i)
{
    return (unsigned char *)(h->base + (i << h->shift));
}

static bool debug_pool(const kheap_t *h)
{
    return h->flags & KHEAP_F_DEBUG;
}

/* Blocks needed for size bytes (with the guard of a debug pool), or 0 when size is 0 or
 * too large for any pool. */
static uintptr_t blocks_for(const kheap_t *h, size_t size)
{
    size_t mask = block_size(h) - 1;
    size_t guard = debug_pool(h) ? KHEAP_GUARD_MIN : 0;
    if (size == 0 || size > SIZE_MAX - mask - guard)
        return 0;
    return (size + guard + mask) >> h->shift;
}

/* The quick-cache classes kh_init lays out for a pool (cache_classes in asm/kheap_core.asm); a
 * debug pool keeps the room but uses none (h->classes = 0). */
static uintptr_t laid_out_classes(const kheap_t *h)
{
    uintptr_t n = h->nblocks >> KHEAP_QCLASS_SHIFT;
    return n < KH_CACHE_CLASSES ? n : KH_CACHE_CLASSES;
}

/* The quick-cache sets of a pool (I5): one per CPU kheap_set_cpu named when it was made, one
 * in a debug or KHEAP_F_NOCACHE pool. */
static uintptr_t cache_sets(const kheap_t *h)
{
    return h->shape >> 16 & 0xFF;
}

/* One past the quick caches: where the boundary summary begins. */
static uintptr_t cache_end(const kheap_t *h)
{
    return (uintptr_t)h->cache + cache_sets(h) * set_bytes(laid_out_classes(h));
}

/* The calling CPU's index (kheap_set_cpu; 0 without one): its quick-cache set in a pool is
 * that modulo the pool's sets, as the asm takes it. */
static uintptr_t this_cpu(void)
{
    return cpu_hook ? cpu_hook() : 0;
}

/* Words of one level of the boundary summary (I6) over `below` entries of the level under it. */
static uintptr_t level_words(uintptr_t below)
{
    return (below + KH_WORD_BITS - 1) / KH_WORD_BITS;
}

/* One past the pool's metadata: the boundary summary is its last part, every level down to
 * one word, each word with its mirror (summary_bytes in asm/kheap_core.asm). */
static uintptr_t meta_end(const kheap_t *h)
{
    uintptr_t words = 0;
    for (uintptr_t n = h->nwords; n > 1 || words == 0;)
        words += n = level_words(n);
    return (uintptr_t)(h->summary + 2 * words);
}

static int shift_of(size_t block)
{
    for (int s = KH_MIN_SHIFT; s <= KH_MAX_SHIFT; s++)
        if (block == (size_t)1 << s)
            return s;
    return -1;
}

kheap_t *kheap_create_flags(void *mem, size_t size, size_t block, unsigned flags)
{
    int shift = shift_of(block ? block : KHEAP_DEFAULT_BLOCK);
    if (!mem || shift < 0 || (flags & ~KH_KNOWN_FLAGS))
        return 0;
    bool debug = flags & KHEAP_F_DEBUG;
    size_t side = debug ? sizeof(struct kh_side) : 0;
    bool cached = !(flags & (KHEAP_F_DEBUG | KHEAP_F_NOCACHE));
    /* A set per CPU where there can be classes at all (a class per 2^QCLASS_SHIFT blocks),
     * and room for them: a pool too small for them keeps one. */
    bool sets = cached && cpu_count > 1 && size >> shift >> KHEAP_QCLASS_SHIFT;
    kheap_t *h = sets ? kh_init(mem, size, (uintptr_t)shift, side, cpu_count) : 0;
    if (!h)
        h = kh_init(mem, size, (uintptr_t)shift, side, 1);
    if (!h)
        return 0;
    h->flags = flags;
    if (!cached)
        h->classes = 0;                     /* (debug pools check every free: no caching) */
    seal_geometry(h);
    if (debug) {                            /* every free block holds the poison */
        kh_fill((void *)h->side, h->nblocks * sizeof(struct kh_side), 0);
        kh_fill((void *)h->base, h->nblocks << h->shift, KHEAP_POISON_BYTE);
    }
    VG_POOL(h, meta_end(h));                /* the metadata ends with the summary */
    VG_RUN(h, 0);
    return h;
}

kheap_t *kheap_create(void *mem, size_t size, size_t block)
{
    return kheap_create_flags(mem, size, block, 0);
}

/* ---------------------------------------------------------------- debug pools */

static struct kh_side *side_of(const kheap_t *h, uintptr_t i)
{
    return (struct kh_side *)h->side + i;
}

/* Bytes at p hold `byte`; else the first that does not is reported as corruption. */
static bool pattern_ok(kheap_t *h, const unsigned char *p, size_t n, unsigned byte,
                       struct call *c)
{
    const void *bad = kh_unlike(p, n, byte);
    if (bad)
        fault(c, KHEAP_FAULT_CORRUPT, h, bad);
    return !bad;
}

/* Blocks of the live allocation starting at block i: kh_alloc_blocks, through the boundary
 * summary (I6 in asm/kheap_core.asm). When the summary fails its check the length is the
 * bitmaps' own (scanned); blocks_of leaves the damage to kheap_check, alloc_blocks (for
 * the calls that free or resize) reports it and rebuilds the summary from the bitmaps. */
#define KH_SUMMARY_DAMAGED ((uintptr_t)1 << (KH_WORD_BITS - 1))   /* as in the asm */

static uintptr_t blocks_of(const kheap_t *h, uintptr_t i)
{
    return kh_alloc_blocks(h, i) & ~KH_SUMMARY_DAMAGED;
}

/* Reports a damaged summary or index that kh_take, kh_release, kh_mark, kh_unmark or
 * kh_fast_free met (their result r; the asm made it anew already): through c, or (c NULL: no
 * lock is set and the caller holds none) through a call of its own. */
static void summary_report(kheap_t *h, uintptr_t r, struct call *c, const void *caller)
{
    if (!(r & (KH_SUMMARY_DAMAGED | KH_INDEX_DAMAGED)))
        return;
    struct call own;
    if (!c)
        call_begin(c = &own, caller);
    if (r & KH_SUMMARY_DAMAGED)
        fault(c, KHEAP_FAULT_CORRUPT, h, h->summary);
    if (r & KH_INDEX_DAMAGED)
        fault(c, KHEAP_FAULT_CORRUPT, h, h->index);
    if (c == &own)
        call_end(c);
}

static uintptr_t alloc_blocks(kheap_t *h, uintptr_t i, struct call *c)
{
    uintptr_t n = kh_alloc_blocks(h, i);
    if (n & KH_SUMMARY_DAMAGED) {
        fault(c, KHEAP_FAULT_CORRUPT, h, h->summary);
        kh_summary_build(h);
    }
    return n & ~KH_SUMMARY_DAMAGED;
}

/* As pattern_ok, for free blocks (which Valgrind builds keep no-access). */
static bool poison_ok(kheap_t *h, const unsigned char *p, size_t n, struct call *c)
{
    VG_DEFINED(p, n);
    bool ok = pattern_ok(h, p, n, KHEAP_POISON_BYTE, c);
    VG_NOACCESS(p, n);
    return ok;
}

/* The guard of live allocation i: from its requested size to its last block. */
static bool guard_ok(kheap_t *h, uintptr_t i, struct call *c)
{
    size_t size = side_of(h, i)->size;
    size_t total = (size_t)blocks_of(h, i) << h->shift;
    if (size >= total) {                    /* the side table itself is damaged */
        fault(c, KHEAP_FAULT_CORRUPT, h, side_of(h, i));
        return false;
    }
    return pattern_ok(h, block_addr(h, i) + size, total - size, KHEAP_GUARD_BYTE, c);
}

/* Allocation i (n blocks) now holds `size` bytes, of which the first `kept` are the
 * caller's: the rest is scrubbed, and the guard written after it. */
static void debug_shape(kheap_t *h, uintptr_t i, uintptr_t n, size_t kept, size_t size,
                  const void *caller)
{
    unsigned char *p = block_addr(h, i);
    if (size > kept)
        kh_fill(p + kept, size - kept, KHEAP_SCRUB_BYTE);
    kh_fill(p + size, (n << h->shift) - size, KHEAP_GUARD_BYTE);
    struct kh_side *s = side_of(h, i);
    s->size = size;
    if (caller)
        s->caller = (uintptr_t)caller;
}

/* ---------------------------------------------------------------- allocation core (unlocked) */

static void count_used(kheap_t *h, uintptr_t claimed)
{
    h->free_blocks -= claimed;
    size_t used = h->nblocks - h->free_blocks;
    if (used > h->peak_blocks)
        h->peak_blocks = used;
}

/* Quick-cache set `set`: its header, then its classes. */
static struct kh_set *set_of(const kheap_t *h, uintptr_t set)
{
    return (struct kh_set *)((uintptr_t)h->cache + set * set_bytes(h->classes));
}

/* The class of n blocks in quick-cache set `set`: its count, then its entries. */
static kh_slot *cache_class(const kheap_t *h, uintptr_t set, uintptr_t n)
{
    return (kh_slot *)(set_of(h, set) + 1) + (n - 1) * (KH_CACHE_DEPTH + 1);
}

#define KH_SET_SPINS 4096                   /* tries at another CPU's set before passing it */

/* Takes set `set` for the locked paths (a pool with a set per CPU; with one set the heap's
 * lock is enough) and folds what the lock-free paths counted there into the control
 * block's counters. The calling CPU's own set is tried once: held means this CPU was
 * interrupted inside kh_cpu_alloc or kh_cpu_free, which cannot finish before this call
 * does. Another CPU's is tried KH_SET_SPINS times: its holder may be that CPU, interrupted
 * and waiting for the lock this call holds. False: not taken, pass it over. */
static bool set_take(kheap_t *h, uintptr_t set)
{
    if (cache_sets(h) < 2)
        return true;
    struct kh_set *s = set_of(h, set);
    bool own = set == this_cpu() % cache_sets(h);
    for (unsigned k = 0; __atomic_exchange_n(&s->busy, 1, __ATOMIC_ACQUIRE); k++)
        if (own || k == KH_SET_SPINS)
            return false;
    h->free_blocks += s->net;               /* (modulo: a negative net subtracts) */
    h->cached_blocks += s->net;
    h->live_allocs += s->hits - s->puts;
    h->total_allocs += s->hits;
    h->total_frees += s->puts;
    s->net = s->hits = s->puts = 0;
    size_t used = h->nblocks - h->free_blocks;
    if (used > h->peak_blocks && used <= h->nblocks)
        h->peak_blocks = used;
    return true;
}

static void set_give(kheap_t *h, uintptr_t set)
{
    if (cache_sets(h) >= 2)
        __atomic_store_n(&set_of(h, set)->busy, 0, __ATOMIC_RELEASE);
}

/* Every set taken (set_take): a bit per set taken. */
static unsigned long long sets_take(kheap_t *h)
{
    unsigned long long taken = 0;
    for (uintptr_t set = 0; set < cache_sets(h); set++)
        if (set_take(h, set))
            taken |= 1ull << set;
    return taken;
}

static void sets_give(kheap_t *h, unsigned long long taken)
{
    for (uintptr_t set = 0; set < cache_sets(h); set++)
        if (taken >> set & 1)
            set_give(h, set);
}

/* Every set's counters folded into the control block's (the sets taken and given back). */
static void sets_fold(kheap_t *h)
{
    sets_give(h, sets_take(h));
}

/* The newest allocation of n blocks held in quick-cache set `set`, live again, or -1. A
 * damaged entry is dropped and reported, and the next one tried. */
static intptr_t cache_take(kheap_t *h, uintptr_t set, uintptr_t n, struct call *c)
{
    for (;;) {
        intptr_t i = kh_cache_take(h, n, set);
        if (i != KH_CACHE_DAMAGED) {
            if (i >= 0)
                h->cached_blocks -= n;
            return i;
        }
        fault(c, KHEAP_FAULT_CORRUPT, h, cache_class(h, set % cache_sets(h), n));
    }
}

/* Empties every CPU's quick caches (each set taken, set_take) into the bitmaps, where their
 * blocks join the free runs. */
static void cache_flush(kheap_t *h, struct call *c)
{
    for (uintptr_t set = 0; set < cache_sets(h); set++) {
        if (!set_take(h, set))
            continue;
        for (uintptr_t n = 1; n <= h->classes && h->cached_blocks; n++)
            for (intptr_t i; (i = cache_take(h, set, n, c)) >= 0;)
                summary_report(h, kh_release(h, (uintptr_t)i, n), c, 0);
        set_give(h, set);
    }
}

/* The newest allocation of n blocks in the calling CPU's set, taken, or -1. */
static intptr_t own_take(kheap_t *h, uintptr_t n, struct call *c)
{
    uintptr_t set = this_cpu() % cache_sets(h);
    if (!set_take(h, set))
        return -1;
    intptr_t i = cache_take(h, set, n, c);
    set_give(h, set);
    return i;
}

/* kh_take's placement of n blocks at a multiple of a blocks (I3 in asm/kheap_core.asm; with
 * heads, the classes' heads alone), claimed, with any damage it met reported: the first
 * block, or -1 (nothing changed). */
static intptr_t take_by(kheap_t *h, uintptr_t n, uintptr_t a, bool heads, struct call *c,
                        const void *caller)
{
    uintptr_t r = kh_take(h, n, a ? a : 1, heads);
    summary_report(h, r, c, caller);
    r &= ~(KH_SUMMARY_DAMAGED | KH_INDEX_DAMAGED);
    return r == KH_NO_BLOCK ? -1 : (intptr_t)r;
}

/* The fill of kheap_alloc and kh_heap_alloc (asm/kheap_core.asm, fill_alloc's work) calls this
 * when kh_take met damage: reported, as take_by reports it; r without its flags. */
uintptr_t kh_take_report(kheap_t *h, uintptr_t r, const void *caller)
{
    summary_report(h, r, 0, caller);
    return r & ~(KH_SUMMARY_DAMAGED | KH_INDEX_DAMAGED);
}

static intptr_t take(kheap_t *h, uintptr_t n, uintptr_t a, struct call *c, const void *caller)
{
    return take_by(h, n, a, false, c, caller);
}

#define KH_LINE_BYTES    64                 /* a cache line */
#define KH_WINDOW_BLOCKS 512                /* a placement window: a line of a bitmap */

/* Placement windows: the block area cut where a cache line of the cached bitmap (the bitmap
 * lock-free calls write) begins, every KH_WINDOW_BLOCKS blocks, the first and last cut short;
 * so no two windows share a line of it. Window w (from 0) begins at block window_first(h, w);
 * block b lies in window_at(h, b). The offset: the blocks of the cached bitmap's words that
 * precede it in its first line. */
static uintptr_t window_offset(const kheap_t *h)
{
    return (uintptr_t)h->cached % KH_LINE_BYTES / sizeof(kh_word) * KH_WORD_BITS;
}

static uintptr_t window_at(const kheap_t *h, uintptr_t b)
{
    return (b + window_offset(h)) / KH_WINDOW_BLOCKS;
}

static uintptr_t window_first(const kheap_t *h, uintptr_t w)
{
    return w ? w * KH_WINDOW_BLOCKS - window_offset(h) : 0;
}

static uintptr_t windows(const kheap_t *h)
{
    return window_at(h, h->nblocks - 1) + 1;
}

/* In a pool with a set per CPU, where an allocation of n blocks (a quick cache's size) that
 * the calling CPU's set could not serve is placed: the lowest fit in the CPU's window (the
 * set's window word, a hint: out of range it names none), read on the used bitmap; when
 * none fits, where kh_take puts it at a multiple of KH_WINDOW_BLOCKS blocks of address (one
 * such block lies in each window, and a CPU's first allocation in a window is there, so
 * another CPU's window rarely holds it free), trying the index's class heads alone (a walk
 * of every free run, in a pool of small holes, would be paid at each window filled), or
 * else where kh_take puts it; its window becomes the CPU's. So each CPU's allocations, and
 * the bitmap lines its frees and hits write, lie apart from other CPUs'. The first block,
 * or -1 (nothing changed). */
static intptr_t window_take(kheap_t *h, uintptr_t n, struct call *c)
{
    struct kh_set *s = set_of(h, this_cpu() % cache_sets(h));
    if (s->window && s->window <= windows(h)) {
        uintptr_t from = window_first(h, s->window - 1), end = window_first(h, s->window);
        if (end > h->nblocks)
            end = h->nblocks;
        while ((from = kh_next_free(h, from, end)) + n <= end) {
            uintptr_t past = kh_next_used(h, from, from + n);
            if (past == from + n) {
                summary_report(h, kh_claim(h, from, n), c, 0);
                return (intptr_t)from;
            }
            from = past;
        }
    }
    intptr_t first = take_by(h, n, KH_WINDOW_BLOCKS, true, c, 0);
    if (first < 0)
        first = take(h, n, 1, c, 0);
    if (first >= 0)
        s->window = window_at(h, (uintptr_t)first) + 1;
    return first;
}

/* An allocation of size bytes at an align-byte boundary (a power of two) in one pool: the
 * newest of its size in the quick caches when the alignment is the block size's, else
 * kh_take's; when none fits, the caches are flushed and kh_take tried again. */
static void *pool_alloc(kheap_t *h, size_t size, size_t align, struct call *c)
{
    uintptr_t n = blocks_for(h, size);
    if (n > h->free_blocks)
        sets_fold(h);                       /* (frees without the lock count there) */
    if (n == 0 || n > h->free_blocks)
        return 0;
    uintptr_t a = align >> h->shift;
    intptr_t first = a <= 1 ? own_take(h, n, c) : -1;
    if (first < 0) {
        bool windowed = cache_sets(h) > 1 && a <= 1 && n <= h->classes;
        first = windowed ? window_take(h, n, c) : take(h, n, a, c, 0);
        if (first < 0 && (h->cached_blocks || cache_sets(h) > 1)) {
            cache_flush(h, c);
            first = take(h, n, a, c, 0);
        }
        if (first < 0)
            return 0;
    }
    uintptr_t i = (uintptr_t)first;
    unsigned char *p = block_addr(h, i);
    count_used(h, n);
    h->live_allocs++;
    h->total_allocs++;
    VG_ALLOC(h, p, n << h->shift);
    if (debug_pool(h)) {                    /* a write after free shows in the poison */
        VG_DEFINED(p, n << h->shift);
        pattern_ok(h, p, n << h->shift, KHEAP_POISON_BYTE, c);
        debug_shape(h, i, n, 0, size, c->caller);
    }
    return p;
}

/* The counters after the allocation at p, n blocks, is freed (into a quick cache or not). */
static void count_freed(kheap_t *h, const void *p, uintptr_t n, bool cached)
{
    VG_FREE(h, p);
    VG_RUN(h, ((uintptr_t)p - h->base) >> h->shift);
    (void)p;
    if (cached)
        h->cached_blocks += n;
    h->free_blocks += n;
    h->live_allocs--;
    h->total_frees++;
}

/* Block i's cached bit set with a locked instruction: false when it was set already. In a
 * pool with a set per CPU every free claims its allocation so (as kh_cpu_free does), so
 * of two frees of one pointer, with the lock or without, exactly one goes on. */
static bool claim(kheap_t *h, uintptr_t i)
{
    kh_word bit = (kh_word)1 << (i % KH_WORD_BITS);
    return !(__atomic_fetch_or(&h->cached[i / KH_WORD_BITS], bit, __ATOMIC_ACQ_REL) & bit);
}

static void unclaim(kheap_t *h, uintptr_t i)
{
    kh_word bit = (kh_word)1 << (i % KH_WORD_BITS);
    __atomic_fetch_and(&h->cached[i / KH_WORD_BITS], ~bit, __ATOMIC_ACQ_REL);
}

/* Frees the allocation starting at block i (known live): into the calling CPU's quick
 * cache when that has room, else into the bitmaps. False, with nothing changed, when a
 * free on another CPU claimed it first (a pool with a set per CPU): a double free. */
static bool pool_release(kheap_t *h, uintptr_t i, struct call *c)
{
    bool sets = cache_sets(h) > 1;
    if (sets && !claim(h, i))
        return false;
    uintptr_t n = alloc_blocks(h, i, c), own = this_cpu() % cache_sets(h);
    bool cached = false;
    if (set_take(h, own)) {
        cached = kh_cache_put(h, i, n, own);
        set_give(h, own);
    }
    if (!cached) {
        summary_report(h, kh_release(h, i, n), c, 0);
        if (sets)
            unclaim(h, i);
    }
    if (debug_pool(h)) {
        kh_fill(block_addr(h, i), n << h->shift, KHEAP_POISON_BYTE);
        *side_of(h, i) = (struct kh_side){0};
    }
    count_freed(h, block_addr(h, i), n, cached);
    return true;
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
static intptr_t live_block(kheap_t *h, const void *p, struct call *c)
{
    intptr_t i = kh_block_of(h, p);
    if (i == KHEAP_EINTERIOR && h->cached_blocks
        && inside_held(h, ((uintptr_t)p - h->base) >> h->shift))
        i = KHEAP_EDOUBLE;                  /* inside an allocation already freed (held) */
    if (i < 0)
        fault(c, fault_kind(i), h, p);
    return i;
}

/* The first pool of the chain from h (only h when !chain) that serves the request. The
 * caller has checked h; every later region is checked before it is used, and a damaged one
 * (reported) ends the chain, since its `next` cannot be trusted either. */
static void *chain_alloc(kheap_t *h, size_t size, size_t align, bool chain, struct call *c)
{
    for (;;) {
        void *p = pool_alloc(h, size, align, c);
        if (p || !chain || !h->next)
            return p;
        h = h->next;
        if (!heap_usable(h, c))
            return 0;
    }
}

static bool align_ok(size_t align)
{
    return align && !(align & (align - 1));
}

#define KH_FAST_MISS ((void *)1)            /* kh_fast_alloc: a usable plain pool, no entry */

/* After kh_fast_alloc's FAST_MISS (a usable plain pool, nothing cached for the size): kh_take's
 * placement, claimed and counted, or NULL with nothing changed. */
static __attribute__((noinline)) void *fill_alloc(kheap_t *h, size_t size, struct call *c,
                                                  const void *caller)
{
    uintptr_t n = blocks_for(h, size);
    intptr_t first = n == 0 || n > h->free_blocks ? -1 : take(h, n, 1, c, caller);
    if (first < 0)                          /* (as pool_alloc) */
        return 0;
    void *p = block_addr(h, (uintptr_t)first);
    count_used(h, n);
    h->live_allocs++;
    h->total_allocs++;
    VG_ALLOC(h, p, n << h->shift);
    return p;
}

/* The fast path of an allocation, called under the call's lock or where no lock is set
 * (c NULL): kh_fast_alloc's cache hit, counted, or after its FAST_MISS fill_alloc's
 * fit. Not while kheap_fail_nth counts calls: each must reach the count. NULL when neither
 * serves; nothing changed then, and the full path decides. */
static inline __attribute__((always_inline)) void *fast_alloc(kheap_t *h, size_t size,
                                                             struct call *c, const void *caller)
{
    void *p = fail_countdown ? 0 : kh_fast_alloc(h, size, this_cpu());
    if (p == KH_FAST_MISS)
        return fill_alloc(h, size, c, caller);
    if (p)
        VG_ALLOC(h, p, blocks_for(h, size) << h->shift);
    return p;
}

/* The whole of an allocating call on a pool or chain: the size-0 rule, failure injection,
 * the failure count, the lock; with fast set, fast_alloc first (under the lock). With zero
 * set, the usable size is zeroed (after the lock is released; in a debug pool that is the
 * size asked for, and the guard after it stays). */
static void *alloc_call(kheap_t *h, size_t size, size_t align, bool chain, bool zero,
                        bool fast, const void *caller)
{
    if (size == 0)
        return 0;
    struct call c;
    call_begin(&c, caller);
    void *p = fast ? fast_alloc(h, size, &c, 0) : 0;
    if (!p && heap_usable(h, &c)) {
        if (align_ok(align) && !injected_failure()) {
            p = chain_alloc(h, size, align, chain, &c);
            if (!p && chain && grow_chain(size, align, &c) && heap_usable(h, &c))
                p = chain_alloc(h, size, align, chain, &c);     /* once more, grown */
        }
        if (!p && heap_ok(h))
            h->failed_allocs++;
    }
    size_t bytes = p && zero ? usable_size(chain ? region_of(p, 0) : h, p) : 0;
    call_end(&c);
    if (bytes)
        kh_fill(p, bytes, 0);
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
 * Returns the new pointer, or NULL with nothing changed but the failure count (and, in a
 * debug pool, a report of a damaged guard, which is then rewritten). */
static void *pool_resize(kheap_t *h, uintptr_t i, size_t size, kheap_t *from, bool chain,
                         struct call *c)
{
    uintptr_t old = alloc_blocks(h, i, c);
    uintptr_t n = blocks_for(h, size);
    unsigned char *p = block_addr(h, i);
    bool debug = debug_pool(h);
    size_t kept = debug ? side_of(h, i)->size : old << h->shift;
    if (debug && !guard_ok(h, i, c)) {      /* reported: an overflow, or a damaged entry */
        if (kept >= old << h->shift)
            return 0;                       /* the side table is damaged: the size is unknown */
        debug_shape(h, i, old, kept, kept, 0);    /* an overflow: the guard is written again */
    }
    if (n == 0)
        return 0;
    if (n <= old) {                         /* shrink in place: free the tail */
        if (n < old) {
            if (debug)
                kh_fill(p + (n << h->shift), (old - n) << h->shift, KHEAP_POISON_BYTE);
            summary_report(h, kh_unmark(h, i + n, old - n), c, 0);
            h->free_blocks += old - n;
            VG_RESIZE(h, p, old << h->shift, n << h->shift);
            VG_RUN(h, i + n);
        }
        if (debug)
            debug_shape(h, i, n, size < kept ? size : kept, size, 0);
        return p;
    }
    if (n <= h->nblocks - i && (kh_next_used(h, i + old, i + n) == i + n
                                || (h->cached_blocks && free_but_held(h, i + old, i + n, c)))) {
        summary_report(h, kh_mark(h, i + old, n - old), c, 0);  /* grow in place: free */
        count_used(h, n - old);
        VG_RESIZE(h, p, old << h->shift, n << h->shift);
        if (debug) {
            VG_DEFINED(p + (old << h->shift), (n - old) << h->shift);
            pattern_ok(h, p + (old << h->shift), (n - old) << h->shift, KHEAP_POISON_BYTE, c);
            debug_shape(h, i, n, kept, size, 0);
        }
        return p;
    }
    void *q = chain_alloc(from, size, 1, chain, c);
    if (q) {
        kh_copy(q, p, kept);
        if (!pool_release(h, i, c))             /* freed on another CPU meanwhile */
            fault(c, KHEAP_FAULT_DOUBLE_FREE, h, p);
    }
    return q;
}

/* ---------------------------------------------------------------- the pool API */

/* A free of a live pointer of a plain pool: kh_fast_free's alone (handle check, cache or
 * bitmaps, counters), a damaged summary it met reported (summary_report). False when it was
 * not that case: nothing changed. */
static inline __attribute__((always_inline)) bool fast_free(kheap_t *h, void *p,
                                                           struct call *c, const void *caller)
{
    uintptr_t r = kh_fast_free(h, p, this_cpu());
    if (!r)
        return false;
    VG_FREE(h, p);
    VG_RUN(h, ((uintptr_t)p - h->base) >> h->shift);
    summary_report(h, r, c, caller);
    return true;
}

/* Frees p in h, whose handle the caller has checked and which fast_free did not take, or
 * records why not. */
static int free_checked(kheap_t *h, void *p, struct call *c)
{
    intptr_t i = live_block(h, p, c);
    if (i < 0)
        return (int)i;
    bool intact = !debug_pool(h) || guard_ok(h, (uintptr_t)i, c);
    if (!pool_release(h, (uintptr_t)i, c)) {
        fault(c, KHEAP_FAULT_DOUBLE_FREE, h, p);    /* freed on another CPU meanwhile */
        return KHEAP_EDOUBLE;
    }
    return intact ? 0 : KHEAP_ECORRUPT;
}

/* With kheap_set_cpu: the calling CPU's quick-cache set, without the lock (kh_cpu_alloc, in a
 * pool with a set per CPU), or NULL for the paths under it. Not while kheap_fail_nth counts
 * calls. */
static inline void *cpu_alloc(kheap_t *h, size_t size)
{
    if (!cpu_hook || fail_countdown)
        return 0;
    void *p = kh_cpu_alloc(h, size, cpu_hook());
    if (p)
        VG_ALLOC(h, p, blocks_for(h, size) << h->shift);
    return p;
}

/* With kheap_set_cpu: p freed into the calling CPU's set without the lock (kh_cpu_free), or
 * false for the paths under it, nothing changed. */
static inline bool cpu_free(kheap_t *h, void *p)
{
    if (!cpu_hook || !kh_cpu_free(h, p, cpu_hook()))
        return false;
    VG_FREE(h, p);
    return true;
}

/* kheap_alloc and kmalloc with a hook set: with kheap_set_cpu, the CPU's own set first,
 * without the lock; with no lock set, the fast path is tried before any call frame is
 * built; with one, alloc_call tries it under the lock. */
static __attribute__((noinline)) void *alloc_hooked(kheap_t *h, size_t size,
                                                    const void *caller)
{
    void *p = cpu_alloc(h, size);
    if (p)
        return p;
    p = lock_hook ? 0 : fast_alloc(h, size, 0, caller);
    return p ? p : alloc_call(h, size, 1, false, false, lock_hook != 0, caller);
}

/* The slow path kheap_alloc (asm/kheap_core.asm) ends in when neither a hit nor its fill
 * served: the full path, as alloc_hooked has it with no hook set. */
void *kh_alloc_full(kheap_t *h, size_t size, const void *caller)
{
    return alloc_call(h, size, 1, false, false, false, caller);
}

/* kheap_alloc with a hook set, or in the Valgrind build: the asm kheap_alloc jumps here, so
 * our return address is its caller's. */
void *kh_alloc_hooked(kheap_t *h, size_t size)
{
    return alloc_hooked(h, size, __builtin_return_address(0));
}

/* kheap_alloc_aligned past the fill of the asm entry (asm/kheap_core.asm, which jumps here:
 * our return address is its caller's): with a hook set, an alignment of a block or less, a
 * pool that is not plain or has a set per CPU, or no placement found. */
void *kh_alloc_aligned_full(kheap_t *h, size_t size, size_t align)
{
    return alloc_call(h, size, align, false, false, align == 1, __builtin_return_address(0));
}

void *kheap_calloc(kheap_t *h, size_t n, size_t size)
{
    return alloc_call(h, array_size(n, size), 1, false, true, true,
                      __builtin_return_address(0));
}

/* Frees p in h, or records why not. */
static int free_in(kheap_t *h, void *p, struct call *c)
{
    if (!h) {
        fault(c, KHEAP_FAULT_INVALID, 0, p);
        return KHEAP_EINVAL;
    }
    if (!heap_usable(h, c))
        return KHEAP_ECORRUPT;
    return free_checked(h, p, c);
}

/* kheap_free with a hook set (as alloc_hooked). */
static __attribute__((noinline)) int free_hooked(kheap_t *h, void *p, const void *caller)
{
    if (cpu_free(h, p))
        return 0;
    if (!lock_hook && fast_free(h, p, 0, caller))
        return 0;
    struct call c;
    call_begin(&c, caller);
    int err = lock_hook && fast_free(h, p, &c, 0) ? 0 : free_in(h, p, &c);
    call_end(&c);
    return err;
}

/* The slow paths kheap_free and kh_heap_free end in (as kh_alloc_full): the report
 * of the damage a free met (r: kh_fast_free's result; the free is done), and the full path
 * of a free kh_fast_free declined. */
int kh_free_report(kheap_t *h, uintptr_t r, const void *caller)
{
    summary_report(h, r, 0, caller);
    return 0;
}

int kh_free_full(kheap_t *h, void *p, const void *caller)
{
    if (!p)                                 /* kheap_free(h, NULL), whatever h */
        return 0;
    struct call c;
    call_begin(&c, caller);
    int err = free_in(h, p, &c);
    call_end(&c);
    return err;
}

/* kheap_free with a CPU or lock hook set, or in the Valgrind build (as kh_alloc_hooked). */
int kh_free_hooked(kheap_t *h, void *p)
{
    if (!p)
        return 0;
    return free_hooked(h, p, __builtin_return_address(0));
}

/* realloc of a non-NULL p: on pool h alone, or (chain) on the kmalloc region owning p,
 * moving to any region. Both the owner and the first region (which counts the failure and
 * where a move starts) are checked before use. */
static void *realloc_in(kheap_t *h, void *p, size_t size, bool chain, const void *caller)
{
    struct call c;
    call_begin(&c, caller);
    kheap_t *from = chain ? kmalloc_first : h;
    void *q = 0;
    if (chain)
        h = region_of(p, &c);
    if (!h) {
        if (!c.fault.kind)                  /* (a damaged region was reported already) */
            fault(&c, KHEAP_FAULT_INVALID, from, p);
    } else if (size == 0) {
        free_in(h, p, &c);
    } else if (heap_usable(h, &c) && (from == h || heap_usable(from, &c))) {
        intptr_t i = live_block(h, p, &c);
        if (i >= 0) {
            bool injected = injected_failure();
            if (!injected)
                q = pool_resize(h, (uintptr_t)i, size, from, chain, &c);
            if (!q && !injected && chain && grow_chain(size, 1, &c) && heap_usable(h, &c)
                && heap_usable(from, &c) && (i = live_block(h, p, &c)) >= 0)
                q = pool_resize(h, (uintptr_t)i, size, from, chain, &c);    /* grown */
            if (!q && heap_ok(from))
                from->failed_allocs++;
        }
    }
    call_end(&c);
    return q;
}

void *kheap_realloc(kheap_t *h, void *p, size_t size)
{
    const void *caller = __builtin_return_address(0);
    if (!p)
        return alloc_call(h, size, 1, false, false, true, caller);
    return realloc_in(h, p, size, false, caller);
}

/* Bytes of the live allocation at p (the size asked for, in a debug pool), or 0. Unlocked. */
static size_t usable_size(const kheap_t *h, const void *p)
{
    if (!heap_ok(h))
        return 0;
    intptr_t i = kh_block_of(h, p);
    if (i < 0)
        return 0;
    size_t total = (size_t)blocks_of(h, (uintptr_t)i) << h->shift;
    if (debug_pool(h)) {                    /* the size asked for, unless its entry is damaged */
        size_t size = side_of(h, (uintptr_t)i)->size;
        return size < total ? size : 0;
    }
    return total;
}

size_t kheap_usable_size(kheap_t *h, const void *p)
{
    struct call c;
    call_begin(&c, 0);
    size_t n = usable_size(h, p);
    call_end(&c);
    return n;
}

bool kheap_owns(const kheap_t *h, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return heap_ok(h) && a >= h->base && a < h->limit;
}

/* ---------------------------------------------------------------- check, stats, walk, dump */

/* Bit i of a bitmap. */
static bool bit_of(const kh_word *map, uintptr_t i)
{
    return (map[i / KH_WORD_BITS] >> (i % KH_WORD_BITS)) & 1;
}

static unsigned popcount(kh_word w)
{
    unsigned n = 0;
    for (; w; w &= w - 1)
        n++;
    return n;
}

/* The used-bitmap pad bits (I2 in asm/kheap_core.asm): set for blocks past nblocks. */
static kh_word pad_mask(const kheap_t *h)
{
    unsigned tail = h->nblocks % KH_WORD_BITS;
    return tail ? ~(kh_word)0 << tail : 0;
}

/* I3's class of a run of len blocks (len >= 1): TLSF's two-level mapping, SL_COUNT classes
 * between two powers of two (run_class in asm/kheap_core.asm). */
static uintptr_t run_class(uintptr_t len)
{
    if (len < KH_SL_COUNT)
        return len;
    unsigned b = KH_WORD_BITS - 1 - (unsigned)__builtin_clzl(len);
    return (uintptr_t)(b - KH_SL_LOG) * KH_SL_COUNT + (len >> (b - KH_SL_LOG));
}

/* The index's first levels in a pool of n blocks, and the bytes of its area. */
static uintptr_t index_fls(uintptr_t n)
{
    return run_class(n ? n : 1) / KH_SL_COUNT + 1;
}

static uintptr_t index_bytes(uintptr_t n)
{
    return 4 * (KH_IX_HEADS + KH_SL_COUNT * index_fls(n));
}

/* The index's shape as kh_init sets it: run_min, the blocks of a run header (0 in a debug
 * pool, which keeps no index), and fls << 8. */
static uintptr_t shape_of(const kheap_t *h)
{
    uintptr_t min = KH_RUN_HEADER_BYTES >> h->shift;
    return (debug_pool(h) ? 0 : min ? min : 1) | index_fls(h->nblocks) << 8;
}

static uintptr_t run_min(const kheap_t *h)
{
    return h->shape & 0xFF;
}

#ifdef KHEAP_VALGRIND
static void vg_run(const kheap_t *h, uintptr_t b)
{
    if (!run_min(h) || b >= h->nblocks || kh_next_free(h, b, b + 1) != b)
        return;
    uintptr_t s = free_from(h, b), e = kh_next_used(h, b, h->nblocks);
    if (e == h->nblocks)
        return;                             /* the top run keeps no header (I3) */
    if (e - s >= run_min(h))
        VALGRIND_MAKE_MEM_DEFINED(block_addr(h, s), KH_RUN_HEADER_BYTES);
    if (e - s > run_min(h))
        VALGRIND_MAKE_MEM_DEFINED(block_addr(h, e) - 4, 4);
}
#endif

/* The control block's own invariants: h when any field is out of shape, else NULL. */
static const void *control_damage(const kheap_t *h)
{
    if (!heap_ok(h) || h->shift < KH_MIN_SHIFT || h->shift > KH_MAX_SHIFT)
        return h;                           /* (before the shift is used at all) */
    uintptr_t bs = (uintptr_t)1 << h->shift;
    uintptr_t side_bytes = debug_pool(h) ? h->nblocks * sizeof(struct kh_side) : 0;
    bool ok = (h->flags & ~(uintptr_t)(KH_KNOWN_FLAGS | KH_F_GROWN)) == 0
        && h->nblocks > 0 && h->nwords == (h->nblocks + KH_WORD_BITS - 1) / KH_WORD_BITS
        && (uintptr_t)h->used == (uintptr_t)(h + 1)
        && h->start == h->used + h->nwords
        && h->cached == h->start + h->nwords
        && h->side == (uintptr_t)(h->cached + h->nwords)
        && (uintptr_t)h->index == h->side + side_bytes
        && (h->shape & 0xFFFF) == shape_of(h) && h->shape >> 16 == cache_sets(h)
        && cache_sets(h) >= 1 && cache_sets(h) <= KHEAP_MAX_CPUS
        && (uintptr_t)h->cache == (uintptr_t)h->index + index_bytes(h->nblocks)
        && h->classes == (h->flags & (KHEAP_F_DEBUG | KHEAP_F_NOCACHE) ? 0
                                                                      : laid_out_classes(h))
        && (uintptr_t)h->summary == cache_end(h)
        && h->base >= meta_end(h) && h->base - meta_end(h) < bs
        && (h->base & (bs - 1)) == 0
        && h->limit == h->base + (h->nblocks << h->shift)
        && h->mem_start <= (uintptr_t)h && h->limit <= h->mem_end
        && h->free_blocks <= h->nblocks && h->cached_blocks <= h->free_blocks
        && h->peak_blocks <= h->nblocks
        && h->peak_blocks >= h->nblocks - h->free_blocks
        && h->total_allocs - h->total_frees == h->live_allocs;
    return ok ? 0 : h;
}

/* Address of the first bitmap word breaking I1..I3, or NULL; counts bits for the caller. */
static const void *bitmap_damage(const kheap_t *h, size_t *used_bits, size_t *start_bits)
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
        *used_bits += popcount(real);
        *start_bits += popcount(st);
        carry = u >> (KH_WORD_BITS - 1);
    }
    return 0;
}

/* Dword k of the header at block b (I3): free memory, which Valgrind builds keep no-access
 * to the caller; the module's own reads of it are not the caller's touches. */
static uint32_t run_word(const kheap_t *h, uintptr_t b, unsigned k)
{
    const volatile uint32_t *w = (const volatile uint32_t *)block_addr(h, b);
    VG_QUIET_BEGIN();
    uint32_t v = w[k];
    VG_QUIET_END();
    return v;
}

/* The last dword of block b - 1: a run's footer when it ends there. */
static uint32_t footer_word(const kheap_t *h, uintptr_t b)
{
    const volatile uint32_t *w = (const volatile uint32_t *)block_addr(h, b);
    VG_QUIET_BEGIN();
    uint32_t v = w[-1];
    VG_QUIET_END();
    return v;
}

/* The lowest block s <= b with [s, b) all free, read from the used bitmap downward a word at
 * a time (no index: kheap_check's own measure). */
static uintptr_t free_from(const kheap_t *h, uintptr_t b)
{
    uintptr_t s = b;
    while (s > 0) {
        uintptr_t w = (s - 1) / KH_WORD_BITS;
        kh_word below = h->used[w] & (~(kh_word)0 >> (KH_WORD_BITS - 1 - (s - 1) % KH_WORD_BITS));
        if (below)
            return w * KH_WORD_BITS + KH_WORD_BITS - (uintptr_t)__builtin_clzl(below);
        s = w * KH_WORD_BITS;
    }
    return 0;
}

/* I3, independently of asm/kheap_core.asm: the top words name the free run that ends at the
 * pool's end (nblocks when the last block is used), the second the first's complement; the
 * class words agree with the heads (a class's bit iff it has a head, a first level's bit iff
 * it has a class, none past fls); every class's list holds, from its head, headers whose
 * check words pass, each naming the one before it, each a maximal free run of run_min
 * blocks or more of that class, not the top run, with its footer when longer than run_min;
 * and the lists hold every such run of the bitmaps, once (their count and blocks are the
 * bitmaps'). A pool without an index has every class empty and both top words zero.
 * Returns the first damaged address (a class word, a top word, a head, a header), or NULL.
 * O(W + runs). */
static const void *index_damage(const kheap_t *h)
{
    const uint32_t *ix = h->index, *sl = ix + KH_IX_SLMAP, *head = ix + KH_IX_HEADS;
    uintptr_t fls = index_fls(h->nblocks), min = run_min(h), runs = 0, blocks = 0;
    if (ix[0] >> fls || (min == 0 && ix[0]))
        return ix;
    uintptr_t top = free_from(h, h->nblocks);
    if (min ? ix[KH_IX_TOP] != top : ix[KH_IX_TOP] != 0)
        return &ix[KH_IX_TOP];
    if (min ? ix[KH_IX_TOP + 1] != ~(uint32_t)top : ix[KH_IX_TOP + 1] != 0)
        return &ix[KH_IX_TOP + 1];
    for (uintptr_t f = 0; f < KH_FL_MAX; f++) {
        uint32_t want = 0;
        for (uintptr_t c = 0; f < fls && c < KH_SL_COUNT; c++)
            want |= (uint32_t)(head[f * KH_SL_COUNT + c] != KH_NIL) << c;
        if (sl[f] != want)
            return &sl[f];
        if (((ix[0] >> f) & 1) != (want != 0))
            return ix;
    }
    for (uintptr_t c = 0; c < fls * KH_SL_COUNT; c++) {
        uint32_t prev = KH_NIL;
        for (uint32_t x = head[c]; x != KH_NIL; prev = x, x = run_word(h, x, KH_RUN_NEXT)) {
            const void *at = block_addr(h, x < h->nblocks ? x : 0);
            if (x >= h->nblocks || kh_next_free(h, x, x + 1) != x || runs >= h->nblocks)
                return prev == KH_NIL ? (const void *)&head[c] : block_addr(h, prev);
            uint32_t len = run_word(h, x, KH_RUN_LEN);
            if ((len ^ run_word(h, x, KH_RUN_NEXT) ^ run_word(h, x, KH_RUN_PREV) ^ x
                 ^ KH_RUN_SEED) != run_word(h, x, KH_RUN_CHECK)
                || run_word(h, x, KH_RUN_PREV) != prev || len < min || len > h->nblocks - x
                || run_class(len) != c || (x > 0 && kh_next_used(h, x - 1, x) != x - 1)
                || kh_next_used(h, x, x + len) != x + len || x + len == h->nblocks
                || kh_next_used(h, x + len, x + len + 1) != x + len
                || (len > min && footer_word(h, x + len) != x))
                return at;
            runs++;
            blocks += len;
        }
    }
    uintptr_t want_runs = 0, want_blocks = 0;
    for (uintptr_t b = kh_next_free(h, 0, h->nblocks); min && b < h->nblocks;) {
        uintptr_t e = kh_next_used(h, b, h->nblocks);
        if (e - b >= min && e < h->nblocks)     /* (the top run is not indexed) */
            want_runs++, want_blocks += e - b;
        b = e < h->nblocks ? kh_next_free(h, e, h->nblocks) : e;
    }
    return runs != want_runs || blocks != want_blocks ? (const void *)ix : 0;
}

/* Side-table entries [from, to) of a debug pool, none an allocation start: all zero (an
 * entry is written at a start only, and cleared when that allocation is freed). */
static bool side_ok(kheap_t *h, uintptr_t from, uintptr_t to, struct call *c)
{
    for (uintptr_t i = from; i < to; i++)
        if (side_of(h, i)->caller || side_of(h, i)->size) {
            fault(c, KHEAP_FAULT_CORRUPT, h, side_of(h, i));
            return false;
        }
    return true;
}

/* A debug pool's patterns: every guard and all the poison, and the side table outside the
 * allocation starts. Reports the first damage. */
static bool patterns_ok(kheap_t *h, struct call *c)
{
    for (uintptr_t i = 0; i < h->nblocks;) {
        uintptr_t end;
        if (kh_next_free(h, i, i + 1) != i) {
            end = i + blocks_of(h, i);
            if (!guard_ok(h, i, c) || !side_ok(h, i + 1, end, c))
                return false;
        } else {
            end = kh_next_used(h, i, h->nblocks);
            if (!poison_ok(h, block_addr(h, i), (end - i) << h->shift, c)
                || !side_ok(h, i, end, c))
                return false;
        }
        i = end;
    }
    return true;
}

/* Whether block i is an entry of class n in a set before `set`, or of that set's class
 * before slot e (the counts there already checked). */
static bool held_before(const kheap_t *h, uintptr_t set, uintptr_t n, uintptr_t e, uintptr_t i)
{
    for (uintptr_t s = 0; s <= set; s++) {
        const kh_slot *cls = cache_class(h, s, n);
        for (uintptr_t d = 1; d <= (s < set ? cls[0] : e - 1); d++)
            if (cls[d] == i)
                return true;
    }
    return false;
}

/* I5: each class of each CPU's set holds at most KH_CACHE_DEPTH entries, each the start of an
 * allocation of its class's length with its cached bit set, none twice in any set, and zero
 * in every slot after them; the cached bitmap holds those starts and nothing else. Counts the
 * entries and their blocks; returns the first damaged address (a class, a slot or the cached
 * bitmap), or NULL. O(W + classes * (sets * depth)^2). */
static const void *cache_damage(const kheap_t *h, size_t *entries, size_t *blocks)
{
    *entries = *blocks = 0;
    for (uintptr_t set = 0; set < cache_sets(h); set++)
    for (uintptr_t n = 1; n <= h->classes; n++) {
        const kh_slot *cls = cache_class(h, set, n);
        if (cls[0] > KH_CACHE_DEPTH)
            return cls;
        for (uintptr_t e = 1; e <= cls[0]; e++) {
            uintptr_t i = cls[e];
            if (i >= h->nblocks || !bit_of(h->cached, i) || !bit_of(h->start, i)
                || blocks_of(h, i) != n || held_before(h, set, n, e, i))
                return cls;
        }
        for (uintptr_t e = cls[0] + 1; e <= KH_CACHE_DEPTH; e++)
            if (cls[e])
                return &cls[e];
        *entries += cls[0];
        *blocks += cls[0] * n;
    }
    size_t bits = 0;
    for (uintptr_t w = 0; w < h->nwords; w++)
        bits += popcount(h->cached[w]);
    return bits == *entries ? 0 : h->cached;    /* a cached bit no entry holds */
}

/* I6: every level of the boundary summary as the bitmaps say, a level at a time from the
 * bottom, each word followed by its complement. Returns the first word that is wrong, or
 * NULL. O(W). */
static const void *summary_damage(const kheap_t *h)
{
    const kh_word *level = h->summary, *below = 0;     /* below = 0: the bitmaps */
    for (uintptr_t n = h->nwords;;) {
        uintptr_t words = level_words(n);
        for (uintptr_t j = 0; j < words; j++) {
            kh_word want = 0;
            for (uintptr_t b = 0; b < KH_WORD_BITS && j * KH_WORD_BITS + b < n; b++) {
                uintptr_t k = j * KH_WORD_BITS + b;
                kh_word v = below ? below[2 * k] : ~h->used[k] | h->start[k];
                want |= (kh_word)(v != 0) << b;
            }
            if (level[2 * j] != want)
                return &level[2 * j];
            if (level[2 * j + 1] != ~want)
                return &level[2 * j + 1];
        }
        if (words == 1)
            return 0;
        below = level;
        level += 2 * words;
        n = words;
    }
}

/* The header of a set not taken (held past KH_SET_SPINS: damaged, or its CPU stuck inside
 * kh_cpu_alloc or kh_cpu_free), or of one whose counters are not zero once folded or whose
 * spare words are not zero (a pool's one set: its whole header); NULL when none. */
static const void *set_damage(const kheap_t *h, unsigned long long taken)
{
    bool one = cache_sets(h) == 1;          /* its header unused: all zero */
    for (uintptr_t set = 0; set < cache_sets(h); set++) {
        const struct kh_set *s = set_of(h, set);
        if (!(taken >> set & 1) || (one && s->busy) || s->net || s->hits || s->puts
            || (one && s->window) || s->window > windows(h)
            || s->spare[0] || s->spare[1] || s->spare[2])
            return s;
    }
    return 0;
}

/* The first damaged address of one pool whose control block is intact (a bitmap word, the
 * boundary summary, a quick cache, the index or a free run's header), or NULL; a debug
 * pool's patterns are checked by the caller. */
static const void *pool_damage(const kheap_t *h)
{
    size_t used, starts, entries, cached;
    const void *bad = bitmap_damage(h, &used, &starts);
    if (!bad)
        bad = summary_damage(h);
    if (!bad)
        bad = cache_damage(h, &entries, &cached);
    if (!bad && (used != h->nblocks - h->free_blocks + cached || cached != h->cached_blocks
                 || starts != h->live_allocs + entries))
        bad = h;                            /* counters disagree with the bitmaps */
    return bad ? bad : index_damage(h);
}

/* Checks h and every region chained after it (a kmalloc heap; a plain pool has none): a
 * region is reached only through a next that was checked with its region. */
int kheap_check(kheap_t *h)
{
    if (!h)
        return KHEAP_EINVAL;
    struct call c;
    call_begin(&c, __builtin_return_address(0));
    bool bad = false;
    for (kheap_t *r = h; r && !bad; r = r->next) {
        const void *at = control_damage(r);
        if (!at) {                          /* (the sets counted by an intact control block) */
            unsigned long long taken = sets_take(r);
            at = set_damage(r, taken);
            if (!at)
                at = pool_damage(r);
            sets_give(r, taken);
        }
        if (at)
            fault(&c, KHEAP_FAULT_CORRUPT, r, at);
        bad = at || (debug_pool(r) && !patterns_ok(r, &c));    /* (reported at the damage) */
    }
    call_end(&c);
    return bad ? KHEAP_ECORRUPT : 0;
}

/* True when used block x is the last block of an allocation held in a quick cache (whose
 * length is at most h->classes, so its start is that close). */
static bool ends_cached(const kheap_t *h, uintptr_t x)
{
    for (uintptr_t n = 1; n <= h->classes && n <= x + 1; n++)
        if (bit_of(h->start, x + 1 - n))
            return bit_of(h->cached, x + 1 - n) && blocks_of(h, x + 1 - n) == n;
    return false;
}

/* True when block b lies inside (not at the start of) an allocation held in a quick cache:
 * its start, at most h->classes blocks back, has its cached bit. */
static bool inside_held(const kheap_t *h, uintptr_t b)
{
    for (uintptr_t n = 1; n <= h->classes && n <= b; n++)
        if (bit_of(h->start, b - n))
            return bit_of(h->cached, b - n) && blocks_of(h, b - n) > n;
    return false;
}

/* cache_drop's work in one class cls: b's entry there, if it holds one. */
static bool cache_drop_from(kheap_t *h, kh_slot *cls, uintptr_t b, uintptr_t n, struct call *c)
{
    uintptr_t count = cls[0] < KH_CACHE_DEPTH ? cls[0] : KH_CACHE_DEPTH;
    for (uintptr_t k = 1; k <= count; k++) {
        if (cls[k] != b)
            continue;
        for (; k < count; k++)
            cls[k] = cls[k + 1];
        cls[count] = 0, cls[0] = count - 1;
        h->cached_blocks -= n;
        summary_report(h, kh_release(h, b, n), c, 0);
        unclaim(h, b);                      /* (after: never free with the bit clear) */
        return true;
    }
    return false;
}

/* Takes the held allocation of n blocks at b out of its class, in whichever CPU's set holds
 * it (the entries after it move down), into the bitmaps. False when no entry names it (damage: kheap_check reports it). */
static bool cache_drop(kheap_t *h, uintptr_t b, uintptr_t n, struct call *c)
{
    if (n == 0 || n > h->classes)
        return false;
    for (uintptr_t set = 0; set < cache_sets(h); set++) {
        if (!set_take(h, set))
            continue;
        bool dropped = cache_drop_from(h, cache_class(h, set, n), b, n, c);
        set_give(h, set);
        if (dropped)
            return true;
    }
    return false;
}

/* Grow in place sees held allocations as free: when [from, to) holds only free blocks and
 * held allocations, those are taken out of their caches and true returned; otherwise
 * nothing changes. (An allocation there begins with a start bit: from follows one.) */
static bool free_but_held(kheap_t *h, uintptr_t from, uintptr_t to, struct call *c)
{
    for (uintptr_t b = kh_next_used(h, from, to); b < to;
         b = kh_next_used(h, b + blocks_of(h, b), to))
        if (!bit_of(h->cached, b))
            return false;                   /* a live allocation is in the way */
    for (uintptr_t b; (b = kh_next_used(h, from, to)) < to;)
        if (!cache_drop(h, b, blocks_of(h, b), c))
            return false;
    return true;
}

/* The run of free blocks and cached allocations around the cached allocation of n blocks
 * at b, when b is the lowest cached allocation in it; 0 when it is not (the lowest one
 * measures the run), or when the entry is not a cached start in the pool (damage, which
 * kheap_check reports). */
static uintptr_t cached_run(const kheap_t *h, uintptr_t b, uintptr_t n)
{
    if (b >= h->nblocks || !bit_of(h->cached, b))
        return 0;
    uintptr_t left = kh_run_start(h, b);    /* (footer or bitmap, I3) */
    if (left > 0 && ends_cached(h, left - 1))
        return 0;
    uintptr_t end = b + n;
    while (end < h->nblocks) {
        end = kh_run_end(h, end);           /* (header or bitmap, I3) */
        uintptr_t len = end < h->nblocks && bit_of(h->cached, end) ? blocks_of(h, end) : 0;
        if (len == 0)
            break;
        end += len;
    }
    return (end < h->nblocks ? end : h->nblocks) - left;
}

/* Blocks in the largest run of free blocks, the allocations held in the quick caches
 * counted free (as they are to the caller, and as a search sees them once the caches are
 * emptied, which it does before a request fails): the index's highest class knows the runs
 * of the bitmaps (kh_largest_run), and each run that holds cached allocations is measured
 * once, from its lowest one, through the headers and footers around it. Reads only.
 * O(runs of the highest class), plus O(1) a cache entry; O(W) in a debug pool. */
static uintptr_t largest_free(const kheap_t *h)
{
    uintptr_t best = kh_largest_run(h);
    for (uintptr_t set = 0; set < cache_sets(h); set++)
    for (uintptr_t n = 1; n <= h->classes && h->cached_blocks; n++) {
        const kh_slot *cls = cache_class(h, set, n);
        for (uintptr_t k = 1; k <= cls[0] && k <= KH_CACHE_DEPTH; k++) {
            uintptr_t run = cached_run(h, cls[k], n);
            if (run > best)
                best = run;
        }
    }
    return best;
}

/* (Every set taken meanwhile: its counters folded in, its entries still.) */
static void stats_of(const kheap_t *cb, struct kheap_stats *st)
{
    kheap_t *h = (kheap_t *)cb;             /* (the folding writes; what it reports does not change) */
    unsigned long long taken = sets_take(h);
    size_t bs = block_size(h);
    st->block_size = bs;
    st->capacity = h->nblocks * bs;
    st->used = (h->nblocks - h->free_blocks) * bs;
    st->peak_used = h->peak_blocks * bs;
    st->largest_free = largest_free(h) * bs;
    st->live_allocs = h->live_allocs;
    st->total_allocs = h->total_allocs;
    st->total_frees = h->total_frees;
    st->failed_allocs = h->failed_allocs;
    st->faults = h->faults;
    st->regions = 1;
    sets_give(h, taken);
}

/* Reads only: the quick caches stay as they are (largest_free counts their allocations as
 * free without emptying them). */
void kheap_get_stats(const kheap_t *h, struct kheap_stats *out)
{
    struct kheap_stats st = {0};
    struct call c;
    call_begin(&c, 0);
    if (heap_ok(h))
        stats_of(h, &st);
    call_end(&c);
    if (out)
        *out = st;
}

int kheap_walk(kheap_t *h, int (*fn)(void *ctx, void *p, size_t size, bool used), void *ctx)
{
    if (!h || !fn)
        return KHEAP_EINVAL;
    struct call c;
    int ret = 0;
    call_begin(&c, __builtin_return_address(0));
    if (!heap_usable(h, &c)) {
        ret = KHEAP_ECORRUPT;
    } else {
        cache_flush(h, &c);                 /* free runs are seen whole */
        for (uintptr_t i = 0; i < h->nblocks && ret == 0;) {
            bool used = kh_next_free(h, i, i + 1) != i;
            uintptr_t end = used ? i + blocks_of(h, i) : kh_next_used(h, i, h->nblocks);
            ret = fn(ctx, block_addr(h, i), (end - i) << h->shift, used);
            i = end;
        }
    }
    call_end(&c);
    return ret;
}

/* A line of kheap_dump, built without libc. */
struct line {
    char text[96];
    unsigned len;
};

static void line_put(struct line *l, const char *s)
{
    while (*s && l->len < sizeof l->text - 2)
        l->text[l->len++] = *s++;
}

static void line_num(struct line *l, uintptr_t v, unsigned base, unsigned width)
{
    char digits[sizeof(uintptr_t) * 8 + 1];
    unsigned n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    for (; n < width; width--)
        line_put(l, "0");
    while (n) {
        char d[2] = { digits[--n], 0 };
        line_put(l, d);
    }
}

static void line_hex(struct line *l, uintptr_t v)
{
    line_put(l, "0x");
    line_num(l, v, 16, sizeof(uintptr_t) * 2);
}

/* A label and a decimal number. */
static void line_dec(struct line *l, const char *label, uintptr_t v)
{
    line_put(l, label);
    line_num(l, v, 10, 0);
}

static void line_emit(struct line *l, void (*emit)(const char *line))
{
    l->text[l->len++] = '\n';
    l->text[l->len] = '\0';
    emit(l->text);
    l->len = 0;
}

#define DUMP_MAP_CHARS 256
#define DUMP_MAP_WIDTH 64
#define DUMP_LIST_MAX 64

/* The map: one character per group of blocks. */
static void dump_map(const kheap_t *h, void (*emit)(const char *line))
{
    struct line l = {0};
    uintptr_t group = (h->nblocks + DUMP_MAP_CHARS - 1) / DUMP_MAP_CHARS;
    line_dec(&l, "  map, one character per ", group);
    line_put(&l, group == 1 ? " block" : " blocks");
    line_put(&l, " ('#' used, '+' partly used, '.' free):");
    line_emit(&l, emit);
    for (uintptr_t g = 0, col = 0; g * group < h->nblocks; g++) {
        uintptr_t lo = g * group, hi = lo + group < h->nblocks ? lo + group : h->nblocks;
        if (col == 0) {
            line_put(&l, "  ");
            line_hex(&l, (uintptr_t)block_addr(h, lo));
            line_put(&l, " |");
        }
        bool any_used = kh_next_used(h, lo, hi) != hi, any_free = kh_next_free(h, lo, hi) != hi;
        line_put(&l, !any_used ? "." : any_free ? "+" : "#");
        if (++col == DUMP_MAP_WIDTH || hi == h->nblocks) {
            line_put(&l, "|");
            line_emit(&l, emit);
            col = 0;
        }
    }
}

/* A debug pool's live allocations: address, size asked for, caller. */
static void dump_live(const kheap_t *h, void (*emit)(const char *line))
{
    struct line l = {0};
    uintptr_t shown = 0;
    line_put(&l, "  live allocations (address, bytes asked for, caller):");
    line_emit(&l, emit);
    for (uintptr_t i = kh_next_used(h, 0, h->nblocks); i < h->nblocks;) {
        if (shown++ < DUMP_LIST_MAX) {
            line_put(&l, "  ");
            line_hex(&l, (uintptr_t)block_addr(h, i));
            line_dec(&l, " ", side_of(h, i)->size);
            line_put(&l, " bytes from ");
            line_hex(&l, side_of(h, i)->caller);
            line_emit(&l, emit);
        }
        uintptr_t end = i + blocks_of(h, i);
        i = kh_next_used(h, end, h->nblocks);
    }
    if (shown > DUMP_LIST_MAX) {
        line_dec(&l, "  ... and ", shown - DUMP_LIST_MAX);
        line_put(&l, " more");
        line_emit(&l, emit);
    }
}

/* The first three lines of the dump: geometry, memory, counters. */
static void dump_stats(const kheap_t *h, void (*emit)(const char *line))
{
    struct kheap_stats st;
    struct line l = {0};
    stats_of(h, &st);
    line_put(&l, "kheap ");
    line_hex(&l, (uintptr_t)h);
    line_dec(&l, ": ", h->nblocks);
    line_dec(&l, " blocks of ", st.block_size);
    line_put(&l, debug_pool(h) ? " bytes, debug guards on" : " bytes");
    line_emit(&l, emit);
    line_dec(&l, "  used ", st.used);
    line_dec(&l, " of ", st.capacity);
    line_dec(&l, " bytes (peak ", st.peak_used);
    line_dec(&l, "), largest free run ", st.largest_free);
    line_emit(&l, emit);
    line_dec(&l, "  live ", st.live_allocs);
    line_dec(&l, ", allocs ", st.total_allocs);
    line_dec(&l, ", frees ", st.total_frees);
    line_dec(&l, ", failed ", st.failed_allocs);
    line_dec(&l, ", faults ", st.faults);
    line_emit(&l, emit);
}

int kheap_dump(kheap_t *h, void (*emit)(const char *line))
{
    if (!h || !emit)
        return KHEAP_EINVAL;
    struct call c;
    call_begin(&c, __builtin_return_address(0));
    int ret = KHEAP_ECORRUPT;
    if (heap_usable(h, &c)) {
        cache_flush(h, &c);                 /* free runs are seen whole */
        dump_stats(h, emit);
        dump_map(h, emit);
        if (debug_pool(h))
            dump_live(h, emit);
        ret = 0;
    }
    call_end(&c);
    return ret;
}

/* ---------------------------------------------------------------- the kernel-wide heap */

static bool overlaps(const kheap_t *h, uintptr_t lo, uintptr_t hi)
{
    return lo < h->mem_end && h->mem_start < hi;
}

/* Adds [mem, mem+size) after the last region (under the lock); a grown region is marked so
 * that kmalloc_trim may give it back. 0, or a KHEAP_E code. */
static int add_region(void *mem, size_t size, bool grown, struct call *c)
{
    uintptr_t lo = (uintptr_t)mem, hi = lo + size;
    int err = 0;
    kheap_t *last = 0;                      /* the region the new one will follow */
    if (!kmalloc_first || hi < lo)
        err = KHEAP_EINVAL;
    for (kheap_t *r = kmalloc_first; !err && r; r = r->next) {
        if (!heap_usable(r, c))
            err = KHEAP_ECORRUPT;           /* neither its bounds nor its next can be trusted */
        else if (overlaps(r, lo, hi))
            err = KHEAP_EINVAL;
        last = r;
    }
    if (err)
        return err;
    kheap_t *h = kheap_create_flags(mem, size, 0, (unsigned)(kmalloc_first->flags & KH_KNOWN_FLAGS));
    if (!h)
        return KHEAP_EINVAL;
    if (grown) {
        h->flags |= KH_F_GROWN;
        seal_geometry(h);                   /* flags are in the sums */
    }
    last->next = h;
    seal_geometry(last);                    /* next is in the sum */
    return 0;
}

/* Bytes of a region whose pool holds a run of size bytes at align, with a flags pool: its
 * blocks (the alignment's and a guard's slack included) and an upper bound of their
 * metadata, as kh_init lays it out. 0 when no region could. */
static size_t region_bytes_for(size_t size, size_t align, uintptr_t flags)
{
    const size_t block = KHEAP_DEFAULT_BLOCK;
    if (size > SIZE_MAX / 4 || align > SIZE_MAX / 4)
        return 0;
    size_t n = size / block + (align > block ? align / block : 0) + 2;
    size_t words = n / KH_WORD_BITS + 2, summary = 0;
    for (uintptr_t w = words; w > 1 || summary == 0;)
        summary += w = level_words(w);      /* (as meta_end) */
    size_t meta = KHEAP_CONTROL_BYTES + 3 * words * sizeof(kh_word) + index_bytes(n)
                + 2 * summary * sizeof(kh_word)
                + cpu_count * KHEAP_CPU_SET_BYTES
                + (flags & KHEAP_F_DEBUG ? n * sizeof(struct kh_side) : 0)
                + block + sizeof(uintptr_t);        /* the pad, the control block's alignment */
    return n * block + meta;
}

/* No region could serve size bytes at align: asks the grow hook for a region, with the lock
 * released, and adds what it gives. True when a region was added. */
static bool grow_chain(size_t size, size_t align, struct call *c)
{
    void *(*grow)(size_t min_bytes, size_t *got) = grow_hook;
    size_t want = grow ? region_bytes_for(size, align, kmalloc_first->flags) : 0;
    if (!want)
        return false;
    if (unlock_hook)
        unlock_hook(c->lock_state);
    size_t got = 0;
    void *mem = grow(want, &got);
    c->lock_state = lock_hook ? lock_hook() : 0;
    return mem && add_region(mem, got, true, c) == 0;
}

/* The region whose block area holds p, or NULL. Called under the lock. Each region is
 * checked before its bounds or its next are read; a damaged one ends the search (reported
 * through c, when c is not NULL). */
static kheap_t *region_of(const void *p, struct call *c)
{
    uintptr_t a = (uintptr_t)p;
    for (kheap_t *h = kmalloc_first; h; h = h->next) {
        if (!heap_ok(h)) {
            if (c)
                fault(c, KHEAP_FAULT_CORRUPT, h, h);
            return 0;
        }
        if (a >= h->base && a < h->limit)
            return h;
    }
    return 0;
}

#ifndef KHEAP_NO_KMALLOC

static void (*release_hook)(void *mem, size_t size);          /* kmalloc_set_grow */

/* True once kmalloc_init has made the first region; before, the call is reported
 * (KHEAP_FAULT_INVALID, heap NULL, the pointer it was given) and does nothing. */
static bool kmalloc_ready(const void *ptr, const void *caller)
{
    if (kmalloc_first)
        return true;
    struct call c;
    call_begin(&c, caller);
    fault(&c, KHEAP_FAULT_INVALID, 0, ptr);
    call_end(&c);
    return false;
}

/* The new first region is made under the lock: mem may be the live heap itself, which
 * another CPU or an interrupt may be using until the switch. */
int KHEAP_KNAME(kmalloc_init_flags)(void *mem, size_t size, unsigned flags)
{
    struct call c;
    call_begin(&c, 0);
    kheap_t *h = kheap_create_flags(mem, size, 0, flags);
    if (h)
        kmalloc_first = h;
    call_end(&c);
    return h ? 0 : KHEAP_EINVAL;
}

int KHEAP_KNAME(kmalloc_init)(void *mem, size_t size)
{
    return KHEAP_KNAME(kmalloc_init_flags)(mem, size, 0);
}

int KHEAP_KNAME(kmalloc_add_region)(void *mem, size_t size)
{
    if (!kmalloc_ready(mem, __builtin_return_address(0)))
        return KHEAP_EINVAL;
    struct call c;
    call_begin(&c, 0);
    int err = add_region(mem, size, false, &c);
    call_end(&c);
    return err;
}

void KHEAP_KNAME(kmalloc_set_grow)(void *(*grow)(size_t min_bytes, size_t *got),
                                   void (*release)(void *mem, size_t size))
{
    grow_hook = grow;
    release_hook = release;
}

/* One grown region that is entirely free, unlinked from the chain (under the lock): its
 * memory in *mem, its bytes returned; 0 when there is none. */
static size_t unlink_free_grown(void **mem, struct call *c)
{
    if (!heap_usable(kmalloc_first, c))
        return 0;
    for (kheap_t *prev = kmalloc_first, *r; (r = prev->next) != 0 && heap_usable(r, c); prev = r) {
        if (!(r->flags & KH_F_GROWN) || r->free_blocks != r->nblocks)
            continue;
        prev->next = r->next;
        seal_geometry(prev);                /* next is in the sum */
        *mem = (void *)r->mem_start;
        size_t bytes = r->mem_end - r->mem_start;
        r->magic = 0;                       /* a stale handle is refused from now on */
        VG_HANDED(r, *mem, bytes);
        return bytes;
    }
    return 0;
}

size_t KHEAP_KNAME(kmalloc_trim)(void)
{
    const void *caller = __builtin_return_address(0);
    if (!kmalloc_ready(0, caller) || !release_hook)
        return 0;
    size_t total = 0;
    for (;;) {
        struct call c;
        call_begin(&c, caller);
        void (*release)(void *mem, size_t size) = release_hook;
        void *mem = 0;
        size_t bytes = release ? unlink_free_grown(&mem, &c) : 0;
        call_end(&c);
        if (!bytes)
            return total;
        release(mem, bytes);                /* (with the lock released) */
        total += bytes;
    }
}

void KHEAP_KNAME(kmalloc_get_stats)(struct kheap_stats *out)
{
    struct kheap_stats t = {0}, s;
    if (kmalloc_ready(0, __builtin_return_address(0))) {
        struct call c;
        call_begin(&c, 0);
        for (kheap_t *r = kmalloc_first; r && heap_ok(r); r = r->next) {
            stats_of(r, &s);
            t.block_size = s.block_size;
            t.capacity += s.capacity, t.used += s.used, t.peak_used += s.peak_used;
            t.largest_free = s.largest_free > t.largest_free ? s.largest_free : t.largest_free;
            t.live_allocs += s.live_allocs, t.total_allocs += s.total_allocs;
            t.total_frees += s.total_frees, t.failed_allocs += s.failed_allocs;
            t.faults += s.faults, t.regions++;
        }
        call_end(&c);
    }
    if (out)
        *out = t;
}

kheap_t *KHEAP_KNAME(kmalloc_heap)(void)
{
    return kmalloc_first;
}

/* An allocating call of the family, once the heap exists. */
static void *kmalloc_call(size_t size, size_t align, bool zero, bool fast, const void *caller)
{
    if (!kmalloc_ready(0, caller))
        return 0;
    return alloc_call(kmalloc_first, size, align, true, zero, fast, caller);
}

/* kmalloc with a hook set (as alloc_hooked). */
static __attribute__((noinline)) void *kmalloc_hooked(size_t size, const void *caller)
{
    void *p = kmalloc_first ? cpu_alloc(kmalloc_first, size) : 0;
    if (p)
        return p;
    p = lock_hook ? 0 : fast_alloc(kmalloc_first, size, 0, caller);
    return p ? p : kmalloc_call(size, 1, false, lock_hook != 0, caller);
}

/* kh_heap_alloc's slow path (as kh_alloc_full); h is kmalloc's first region. */
void *kh_heap_alloc_full(kheap_t *h, size_t size, const void *caller)
{
    (void)h;
    return kmalloc_call(size, 1, false, false, caller);
}

void *KHEAP_KNAME(kmalloc)(size_t size)
{
    if (direct_alloc())
        return kh_heap_alloc(kmalloc_first, size, __builtin_return_address(0));
    return kmalloc_hooked(size, __builtin_return_address(0));
}

void *KHEAP_KNAME(kzalloc)(size_t size)
{
    return kmalloc_call(size, 1, true, true, __builtin_return_address(0));
}

void *KHEAP_KNAME(kcalloc)(size_t n, size_t size)
{
    return kmalloc_call(array_size(n, size), 1, true, true, __builtin_return_address(0));
}

void *KHEAP_KNAME(kmalloc_aligned)(size_t size, size_t align)
{
    return kmalloc_call(size, align, false, align == 1, __builtin_return_address(0));
}

/* kfree past its fast paths: the region that holds p, under the lock. */
static void kfree_slow(void *p, const void *caller)
{
    if (!kmalloc_ready(p, caller))
        return;
    struct call c;
    call_begin(&c, caller);
    if (!lock_hook || !fast_free(kmalloc_first, p, &c, 0)) {    /* (most: the first region) */
        kheap_t *h = region_of(p, &c);
        if (h) {
            if (h == kmalloc_first || !fast_free(h, p, &c, 0))
                free_checked(h, p, &c);
        } else if (!c.fault.kind) {         /* (a damaged region was reported already) */
            fault(&c, KHEAP_FAULT_INVALID, kmalloc_first, p);
        }
    }
    call_end(&c);
}

/* kfree with a hook set (as alloc_hooked). */
static __attribute__((noinline)) void kfree_hooked(void *p, const void *caller)
{
    if ((kmalloc_first && cpu_free(kmalloc_first, p))
        || (!lock_hook && fast_free(kmalloc_first, p, 0, caller)))
        return;
    kfree_slow(p, caller);
}

/* kh_heap_free's slow path when kh_fast_free declined (as kh_free_full's). */
void kh_heap_free_full(kheap_t *h, void *p, const void *caller)
{
    (void)h;
    kfree_slow(p, caller);
}

void KHEAP_KNAME(kfree)(void *p)
{
    if (!p)
        return;
    if (direct_free())
        kh_heap_free(kmalloc_first, p, __builtin_return_address(0));
    else
        kfree_hooked(p, __builtin_return_address(0));
}

void *KHEAP_KNAME(krealloc)(void *p, size_t size)
{
    const void *caller = __builtin_return_address(0);
    if (!p)
        return kmalloc_call(size, 1, false, true, caller);
    if (!kmalloc_ready(p, caller))
        return 0;
    return realloc_in(0, p, size, true, caller);
}

size_t KHEAP_KNAME(ksize)(const void *p)
{
    if (!kmalloc_ready(p, __builtin_return_address(0)))
        return 0;
    struct call c;
    call_begin(&c, 0);
    size_t n = usable_size(region_of(p, 0), p);
    call_end(&c);
    return n;
}

#endif /* KHEAP_NO_KMALLOC */
