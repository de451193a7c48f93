/* kheap.h - the one public header of the kheap module: a bitmap heap for freestanding kernels.
 * Each function states its contract: Returns, Fails, Unchanged (what a failure leaves as it
 * was), Cost and Lock. It includes nothing: it compiles under -nostdinc, in C99 and later and
 * in C++. */
#ifndef KHEAP_H_INCLUDED_5045484B
#define KHEAP_H_INCLUDED_5045484B

/* The types of the API, from the compiler: kheap_size_t is size_t, kheap_uintptr_t is
 * uintptr_t, kheap_bool is bool, whatever header (the libc's, or a kernel's own typedefs)
 * names them. */
typedef __SIZE_TYPE__ kheap_size_t;
typedef __UINTPTR_TYPE__ kheap_uintptr_t;
#ifdef __cplusplus
typedef bool kheap_bool;
extern "C" {
#else
typedef _Bool kheap_bool;
#endif

/* KHEAP_PREFIX, defined when compiling the module and wherever this header is included,
 * prefixes every name of the kmalloc family: -DKHEAP_PREFIX=kh_ declares kh_kmalloc,
 * kh_kfree, kh_kmalloc_init and so on (no plain name is defined or renamed). KHEAP_NO_KMALLOC
 * leaves the family out altogether. */
#ifdef KHEAP_PREFIX
#define KHEAP_JOIN_(a, b) a##b
#define KHEAP_JOIN(a, b) KHEAP_JOIN_(a, b)
#define KHEAP_KNAME(name) KHEAP_JOIN(KHEAP_PREFIX, name)
#else
#define KHEAP_KNAME(name) name
#endif

/*
 * Terms.
 *   B      the pool's block size, a power of two from 4 bytes to 1 MiB. Every pointer
 *          returned is B-aligned; every allocation is a whole number of blocks.
 *   N      blocks in the pool's block area; W = ceil(N / bits per word), the words of one
 *          bitmap (a word is the machine's: 32 bits on i386, 64 on x86-64).
 *   n      blocks of a request: ceil(size / B).
 *   live   a pointer an allocation returned and nothing has freed yet. Only live pointers
 *          may be freed, resized or sized.
 *   unchanged  the same bitmaps and counters (but `faults` and `failed_allocs`, which record
 *          the event) and every byte of every live allocation as it was.
 *   held   in a quick cache: per pool, a LIFO of up to 16 freed allocations for each length
 *          of 1 .. C blocks (C up to 64; none in debug or KHEAP_F_NOCACHE pools). A held
 *          allocation is free to the caller (freeing it again is a double free); a request
 *          of its length at the block alignment takes the newest. The caches are emptied
 *          into the bitmaps before a request fails and before kheap_walk and kheap_dump.
 *   Cost   in bitmap words read, worst case. Lock: "held" means between lock() and unlock()
 *          of kheap_set_lock; the fault hook always runs after unlock().
 */

#define KHEAP_DEFAULT_BLOCK 16u      /* block size when 0 is passed; also the minimum alignment */

/* error codes: 0 is success, these are negative */
#define KHEAP_EINVAL    (-1)         /* not a pointer of this heap, misaligned, or a bad argument */
#define KHEAP_EDOUBLE   (-2)         /* the block is already free */
#define KHEAP_EINTERIOR (-3)         /* points inside a live allocation, not at its start */
#define KHEAP_ECORRUPT  (-4)         /* heap metadata or a guard pattern is damaged */

typedef struct kheap kheap_t;        /* opaque; lives inside the memory given to kheap_create */

/* Bytes of a pool's control block, the first part of the pool's memory (the README's
 * design section has the whole layout and its overhead). */
#define KHEAP_CONTROL_BYTES (29u * sizeof(kheap_uintptr_t))

/* Pool options for kheap_create_flags and kmalloc_init_flags. */
#define KHEAP_F_DEBUG   0x1u         /* guards, poison, scrub and callers: see kheap_create_flags */
#define KHEAP_F_NOCACHE 0x2u         /* no quick caches: every free goes back to the index */

/* The debug patterns (KHEAP_F_DEBUG pools). */
#define KHEAP_SCRUB_BYTE  0xA5u      /* a new allocation's bytes (calloc: zero instead) */
#define KHEAP_POISON_BYTE 0x6Bu      /* every byte of every free block */
#define KHEAP_GUARD_BYTE  0xFDu      /* from the requested size to the end of the allocation */
#define KHEAP_GUARD_MIN   4u         /* at least this many guard bytes: else one more block */

struct kheap_stats {
    kheap_size_t block_size;         /* bytes per block */
    kheap_size_t capacity;           /* bytes in the block area */
    kheap_size_t used;               /* bytes in live allocations, whole blocks */
    kheap_size_t peak_used;          /* highest 'used' since creation (kheap_set_cpu) */
    kheap_size_t largest_free;       /* bytes in the largest run of free blocks */
    kheap_size_t live_allocs;        /* allocations not yet freed */
    kheap_size_t total_allocs, total_frees;
    kheap_size_t failed_allocs;      /* NULL returns for a non-zero request */
    kheap_size_t faults;             /* bad frees and detected corruption */
    kheap_size_t regions;            /* pools counted: 1, or kmalloc_get_stats' regions */
};

enum kheap_fault_kind { KHEAP_FAULT_INVALID = 1, KHEAP_FAULT_DOUBLE_FREE,
                        KHEAP_FAULT_INTERIOR, KHEAP_FAULT_CORRUPT };

struct kheap_fault {
    enum kheap_fault_kind kind;
    kheap_t *heap;
    const void *ptr;                 /* the pointer passed in, or the damaged address */
    const void *caller;              /* return address of the API call */
};

/* ======================= pools: any number, each in caller-provided memory ======================= */

/*
 * kheap_create - a pool over all of [mem, mem+size).
 * Returns:   the pool's handle, at mem rounded up to a word (the control block, then the
 *            bitmaps, the free-run index, the quick caches, the boundary summary, and the
 *            B-aligned block area).
 * Fails:     NULL when mem is NULL, block_size is not 0 (= KHEAP_DEFAULT_BLOCK) or a power
 *            of two from 4 to 1 MiB, the region wraps past the top of the address space, or
 *            it cannot hold the metadata and one block.
 * Unchanged: nothing outside [mem, mem+size) is written, ever, by any call on the pool.
 * Cost:      O(W).
 * Lock:      none (the pool is not shared yet).
 */
kheap_t *kheap_create(void *mem, kheap_size_t size, kheap_size_t block_size);

/*
 * kheap_create_flags - kheap_create with options; flags 0 is kheap_create.
 * KHEAP_F_DEBUG: a debug pool. Scrub on allocation, poison on free (checked on reuse), at
 *   least KHEAP_GUARD_MIN guard bytes after the size asked for (checked on free, realloc and
 *   kheap_check), and a side table of size and caller per block for kheap_dump; nothing is
 *   held; kheap_usable_size gives the size asked for. Each detection is reported once
 *   (KHEAP_FAULT_CORRUPT, the first damaged byte); the block is still freed or handed out.
 * KHEAP_F_NOCACHE: no quick caches: every free reaches the free-run index at once.
 * Returns / Fails / Unchanged: as kheap_create; NULL for any other flag.
 * Cost:      O(W), and O(size) in a debug pool (the block area is poisoned).
 * Lock:      none.
 */
kheap_t *kheap_create_flags(void *mem, kheap_size_t size, kheap_size_t block_size, unsigned flags);

/*
 * kheap_alloc - an allocation of at least size bytes.
 * Returns:   a B-aligned pointer, contents undefined (debug pools: scrubbed): the newest
 *            held allocation of exactly n blocks; else a good fit from the free-run index,
 *            whose size classes are TLSF's (the lengths below 16 blocks one each, then 16
 *            between two powers of two): the start of the free run put in last (freed,
 *            coalesced or split) of the lowest class whose every run holds n blocks; when
 *            no such class has one, the start of the top run (the free run that reaches
 *            the pool's end, which no class holds) when it holds n; else the first run in
 *            list order of n's own class, or of a class above, that holds n; in a pool of
 *            blocks under 16 bytes, for n shorter than a run header (16 bytes), the
 *            lowest-addressed run of n free blocks. Debug pools keep no index: the
 *            lowest-addressed run of n free blocks (first fit).
 * Fails:     NULL, not counted, when size is 0; NULL, counted in failed_allocs, when no run
 *            of n blocks is free after the caches are emptied or size overflows; NULL when
 *            h is NULL, or damaged (a fault, KHEAP_FAULT_CORRUPT; nothing written to h).
 * Unchanged: on failure, the heap, but for the caches (emptied into the bitmaps).
 * Cost:      O(1) from a cache; else O(1 + n / word bits) while a class whose every run
 *            holds n has one or the top run holds n, else O(runs of n's class); a request
 *            no run can hold fails in O(runs of n's class), plus O(cached allocations) when
 *            the caches held any.
 *            Debug pools: O(W).
 * Lock:      held; a damaged cache entry met is dropped and reported after it is released.
 */
void *kheap_alloc(kheap_t *h, kheap_size_t size);

/*
 * kheap_alloc_aligned - kheap_alloc with the address a multiple of align.
 * Returns:   as kheap_alloc; align below B means B. The address is aligned, not the offset
 *            in the pool, so any power of two up to half the address space works. With
 *            a = align / B above 1: the first aligned block of the run kheap_alloc would
 *            pick for n + a - 1 blocks (which holds an aligned fit); when no class whose
 *            every run holds n + a - 1 has one, the top run's first aligned block when the
 *            fit lies in it; else the first run, class by class from n's in list order,
 *            that holds an aligned fit, at its first aligned block. Debug pools: the lowest
 *            aligned fit.
 * Fails:     as kheap_alloc, and NULL (a counted failure) when align is 0 or not a power
 *            of two.
 * Unchanged: as kheap_alloc.
 * Cost:      O(log a + n / word bits) whatever the free runs elsewhere (a class head
 *            looked at for each non-empty class between n's and n + a - 1's, at most 16 a
 *            power of two of a), while a class whose every run holds n + a - 1 has one or
 *            the top run holds the fit; else O(1) for each run of the classes from n's up
 *            to that class. Debug pools:
 *            O(W).
 * Lock:      held.
 */
void *kheap_alloc_aligned(kheap_t *h, kheap_size_t size, kheap_size_t align);

/*
 * kheap_calloc - kheap_alloc(h, n * size) with every usable byte zeroed.
 * Returns:   as kheap_alloc, zeroed.
 * Fails:     NULL, not counted, when n * size is 0; NULL and a counted failure when it
 *            overflows, or as kheap_alloc.
 * Unchanged: as kheap_alloc.
 * Cost:      kheap_alloc's, plus O(n * size) to zero.
 * Lock:      held for the allocation; the zeroing runs after it is released.
 */
void *kheap_calloc(kheap_t *h, kheap_size_t n, kheap_size_t size);

/*
 * kheap_realloc - resize a live allocation, keeping its first min(old, new) bytes.
 * Returns:   p NULL: kheap_alloc(h, size). size 0: frees p, NULL. The same number of
 *            blocks: p. Fewer: p, the tail freed in place. More: p when the following
 *            blocks are free (held allocations there are taken out of their caches), else
 *            a new allocation as kheap_alloc makes, the bytes copied, p freed (into its
 *            cache when its length fits).
 * Fails:     NULL and a counted failure when the request cannot be served; NULL and a fault
 *            (as kheap_free reports) when p is not a live pointer of h.
 * Unchanged: on either failure p stays live with its bytes, and the heap is unchanged.
 * Cost:      in place (shrink, or grow into free blocks): O(log N + blocks changed / word
 *            bits); a move: kheap_alloc's, plus O(old size) for the copy.
 * Lock:      held, the copy included.
 */
void *kheap_realloc(kheap_t *h, void *p, kheap_size_t size);

/*
 * kheap_free - release a live allocation; its length comes from the bitmaps.
 * Returns:   0 (p NULL: 0, nothing done); KHEAP_ECORRUPT when a debug pool finds p's guard
 *            bytes overwritten (p is freed all the same).
 * Fails:     KHEAP_EINVAL (p outside the block area or off a block boundary, or h NULL),
 *            KHEAP_EDOUBLE (p's block is free, or p is held in a quick cache or inside a
 *            held allocation: exact, a cached bit per block), KHEAP_EINTERIOR (p inside a
 *            live allocation, not at its start), KHEAP_ECORRUPT (h damaged). Each counts a
 *            fault and calls the hook.
 * Unchanged: on any failure, the heap.
 * Cost:      O(1) to validate; O(1) into a cache (n at most C, its class not full), else
 *            O(log N) to measure, O(n / word bits + log N) to clear its bits and O(1) to
 *            coalesce it with the free runs either side.
 * Lock:      held; the fault hook runs after it is released.
 */
int kheap_free(kheap_t *h, void *p);

/*
 * kheap_usable_size - the bytes usable at p.
 * Returns:   n * B, at least the size asked for; in a debug pool, the size asked for.
 * Fails:     0 when p is not a live pointer of h, h is damaged, or (debug pool) p's
 *            side-table entry is damaged. Never calls the fault hook.
 * Unchanged: always: a query.
 * Cost:      O(log N / log word bits): the length through the boundary summary's levels
 *            (O(n / word bits) when the summary is damaged).
 * Lock:      held.
 */
kheap_size_t kheap_usable_size(kheap_t *h, const void *p);

/*
 * kheap_owns - whether p lies in h's block area (live or not).
 * Returns:   true or false; false when h is NULL.
 * Unchanged: always: a query. Cost: O(1). Lock: none.
 */
kheap_bool kheap_owns(const kheap_t *h, const void *p);

/*
 * kheap_check - verify every invariant (I1-I6 in asm/kheap_core.asm: bitmaps, the free-run
 * index and every free run's header and footer, caches, summary, counters, the control
 * block's checksum; in a debug pool every guard, the poison and the
 * side table) of the pool and every region chained after it (all of the kmalloc heap).
 * Returns:   0 when all hold.
 * Fails:     KHEAP_ECORRUPT, a fault counted and reported with the first damaged address;
 *            KHEAP_EINVAL when h is NULL.
 * Unchanged: always: the caches are checked as they are, not emptied.
 * Cost:      O(W) per region; O(W + capacity) in a debug pool.
 * Lock:      held; the fault hook runs after it is released.
 */
int kheap_check(kheap_t *h);

/*
 * kheap_get_stats - fill *out with the pool's counters, all sizes in bytes.
 * Returns:   the stats. Held allocations count as free: largest_free is the largest run
 *            of free blocks with them counted free (a request of that size succeeds).
 * Fails:     all zeros when h is NULL or damaged. Never calls the fault hook.
 * Unchanged: always: a query; the quick caches stay as they are.
 * Cost:      O(runs of the free-run index's highest class), plus O(1) a held allocation:
 *            the free runs around each are measured through their headers and footers.
 *            Debug pools: O(W).
 * Lock:      held.
 */
void kheap_get_stats(const kheap_t *h, struct kheap_stats *out);

/*
 * kheap_walk - fn(ctx, p, size, used) for every live allocation and every maximal run of
 * free blocks, in address order; sizes in bytes, whole blocks.
 * Returns:   0 after the last run, or the first non-zero value fn returned (the walk stops).
 * Fails:     KHEAP_EINVAL when h or fn is NULL; KHEAP_ECORRUPT when h is damaged.
 * Unchanged: the heap, but for the caches: emptied first, so free runs are seen whole.
 * Cost:      O(W + runs).
 * Lock:      held while fn runs: fn must not call this module.
 */
int kheap_walk(kheap_t *h, int (*fn)(void *ctx, void *p, kheap_size_t size, kheap_bool used), void *ctx);

/*
 * kheap_dump - describe the pool through emit, a line at a time, each ending in '\n': the
 * stats; a map, one character per group of blocks ('#' all used, '+' partly, '.' free; at
 * most 256 in lines of 64); in a debug pool the first 64 live allocations with size asked
 * for and caller, then a count of the rest.
 * Returns:   0.
 * Fails:     KHEAP_EINVAL when h or emit is NULL; KHEAP_ECORRUPT when h is damaged.
 * Unchanged: as kheap_walk (the caches are emptied first).
 * Cost:      O(W + live allocations).
 * Lock:      held while emit runs: emit must not call this module.
 */
int kheap_dump(kheap_t *h, void (*emit)(const char *line));

/*
 * kheap_fail_nth - failure injection, to test a kernel's out-of-memory paths: the n-th
 * allocating call from now (kheap_alloc, _aligned, _calloc, a kheap_realloc of a live
 * pointer to a non-zero size, and their kmalloc twins, in any pool) fails as if memory had
 * run out, counted in failed_allocs (a realloc keeps p); later calls are served. 0: off.
 * Cost: O(1). Lock: none (global): set it while nothing else allocates.
 */
void kheap_fail_nth(unsigned long n);

/* ======================= hooks (optional; defaults do nothing, or print nothing) ======================= */

/*
 * kheap_set_fault_handler - fn gets every bad free and every detected corruption, once.
 * It runs after the lock is released, so it may print, panic or call the module. NULL: no
 * hook. One hook for all pools. Lock: none: set it before the heap is shared.
 */
void kheap_set_fault_handler(void (*fn)(const struct kheap_fault *f));

/*
 * kheap_set_lock - every public call but kheap_create, kheap_create_flags, kheap_owns,
 * kheap_fail_nth and the setters runs between state = lock() and unlock(state).
 * lock returns a word that unlock restores: a nestable IRQ-save on one CPU, a spinlock that
 * also saves the interrupt flag on many. Both NULL, or only one given: no locking (the
 * default). Lock: none: set it before the heap is shared.
 */
void kheap_set_lock(kheap_uintptr_t (*lock)(void), void (*unlock)(kheap_uintptr_t state));

/*
 * kheap_set_cpu - the CPUs that share the heap, so each has quick caches of its own.
 * cpu_index() returns the calling CPU's index, 0 .. ncpus - 1 (a larger one is taken modulo
 * the pool's sets); it is called before the lock on every allocation and free, so it must
 * be cheap and callable with interrupts on or off. A plain pool made while ncpus > 1
 * (kheap_create, kmalloc_init, kmalloc_add_region, a region the grow hook gives) lays out
 * ncpus sets of quick caches in its own memory, each up to KHEAP_CPU_SET_BYTES (in pools
 * of 512 blocks or more per class: fewer classes below), counted in its overhead; pools
 * made before keep one set. Each CPU frees into and allocates from its own set, and in a
 * pool with a set per CPU those calls take no lock at all: a set has a busy word of its own
 * (a CPU that finds it held, or the wrong index, takes the locked path). What a CPU's set
 * cannot serve is placed, under the lock, in that CPU's window of the pool (512 blocks, a
 * cache line of the bitmap lock-free calls write: the lowest fit there, else a window of
 * its own), so CPUs' allocations and the lines their lock-free calls write lie apart. A
 * free of an allocation held in any CPU's set, or of one another CPU is freeing at that
 * moment, is KHEAP_EDOUBLE; every set is emptied before a request fails (a set held by a
 * CPU that is stuck inside its own heap call, say interrupted and waiting for the lock, is
 * passed over after a bounded wait); stats, walk, dump and check see every set (peak_used
 * as the calls under the lock saw 'used': a lock-free hit is counted there when the lock
 * is next taken, so a peak between two such calls can pass unseen). NULL or
 * ncpus < 2: one set (the default); ncpus over KHEAP_MAX_CPUS counts as KHEAP_MAX_CPUS.
 * Lock: none: set it before the heap is shared; every other call still runs under
 * kheap_set_lock's lock.
 */
#define KHEAP_MAX_CPUS 64
#define KHEAP_CPU_SET_BYTES (8 * sizeof(void *) + 64 * 17 * 4) /* 8 words, 64 classes of 17 dwords */
void kheap_set_cpu(unsigned (*cpu_index)(void), unsigned ncpus);

/* ======================= the kernel-wide heap: what most kernel code calls ======================= */
/* A chain of pools of KHEAP_DEFAULT_BLOCK blocks: the first region, then every region added,
 * tried in that order. Each call costs what its kheap_ twin costs, per region tried, and holds
 * the lock as it does. Each region's control block (with its link to the next) is checked
 * before the region is used; a damaged one is reported (KHEAP_FAULT_CORRUPT) and ends the
 * chain for that call. Before kmalloc_init, every call below but the two inits,
 * kmalloc_heap and kmalloc_set_grow (and kfree(NULL), a no-op) reports KHEAP_FAULT_INVALID
 * with a NULL heap to the fault hook and returns NULL, 0 or KHEAP_EINVAL. With KHEAP_PREFIX every name here is
 * prefixed; with KHEAP_NO_KMALLOC none of them exists. */
#ifndef KHEAP_NO_KMALLOC

/* kmalloc_init - make [mem, mem+size) the first region; a second call re-creates (every
 * earlier region is forgotten). Returns 0, or KHEAP_EINVAL when kheap_create would fail
 * (the heap stays as it was). Built under the lock, so mem may be the live heap itself. */
int KHEAP_KNAME(kmalloc_init)(void *mem, kheap_size_t size);

/* kmalloc_init_flags - kmalloc_init with pool options (KHEAP_F_DEBUG, KHEAP_F_NOCACHE);
 * regions added later get the same options. */
int KHEAP_KNAME(kmalloc_init_flags)(void *mem, kheap_size_t size, unsigned flags);

/* kmalloc_add_region - add a region, served after the earlier ones. Returns 0; KHEAP_EINVAL
 * when kmalloc_init was not called, the region overlaps one in the heap, or kheap_create
 * would fail on it; KHEAP_ECORRUPT (fault hook called) when a region's control block is
 * damaged, so the chain cannot be followed past it. */
int KHEAP_KNAME(kmalloc_add_region)(void *mem, kheap_size_t size);

/*
 * kmalloc_set_grow - hooks to grow the heap on demand and give memory back (both optional).
 * When no region can serve a kmalloc, kzalloc, kcalloc, kmalloc_aligned or krealloc, the
 * call releases the lock, calls grow(min_bytes, &got) for a region of at least min_bytes
 * (enough for the request and a region's metadata), takes the lock again, adds the region
 * it returned ([mem, mem+got)) after the others and tries once more; grow returning NULL,
 * or a region kheap_create refuses, fails the request. An injected failure (kheap_fail_nth)
 * never grows. release(mem, size) gets grown regions back from kmalloc_trim. NULL: none.
 * Lock: none: set it before the heap is shared.
 */
void KHEAP_KNAME(kmalloc_set_grow)(void *(*grow)(kheap_size_t min_bytes, kheap_size_t *got),
                                   void (*release)(void *mem, kheap_size_t size));

/* kmalloc_trim - hand every region that grow added and that is entirely free (its held
 * allocations count as free) back through release, unlinked from the chain first. Regions
 * the kernel added are never released. Returns the bytes released; 0 without a release
 * hook. Cost: O(regions) per region released; release runs with the lock released. */
kheap_size_t KHEAP_KNAME(kmalloc_trim)(void);

/* kmalloc_get_stats - the stats of every region, added up (block_size is 16, largest_free
 * the largest of any region, peak_used the sum of each region's peak, regions their count);
 * all zeros before kmalloc_init or when the first region is damaged. A query: never calls
 * the fault hook but before init. Cost: kheap_get_stats' per region. */
void KHEAP_KNAME(kmalloc_get_stats)(struct kheap_stats *out);

/* kmalloc_heap - the first region's pool (for stats, check, walk), or NULL before init. */
kheap_t *KHEAP_KNAME(kmalloc_heap)(void);

/* kmalloc - kheap_alloc in the first region that can serve it, growing the heap when a
 * grow hook is set. NULL for size 0 (not a failure), or when no region can serve it (a
 * failure, counted in the first region). */
void *KHEAP_KNAME(kmalloc)(kheap_size_t size);

/* kzalloc - kmalloc, every usable byte zeroed. */
void *KHEAP_KNAME(kzalloc)(kheap_size_t size);

/* kcalloc - kzalloc(n * size); NULL and a failure when n * size overflows. */
void *KHEAP_KNAME(kcalloc)(kheap_size_t n, kheap_size_t size);

/* krealloc - kheap_realloc in p's region; when that region has no room, the new run may
 * come from any region (or a grown one). krealloc(NULL, n) is kmalloc(n); krealloc(p, 0)
 * frees p and returns NULL. A p live in no region: NULL, the fault hook, nothing changes. */
void *KHEAP_KNAME(krealloc)(void *p, kheap_size_t size);

/* kmalloc_aligned - kheap_alloc_aligned over the regions, in order (growing, as kmalloc). */
void *KHEAP_KNAME(kmalloc_aligned)(kheap_size_t size, kheap_size_t align);

/* kfree - kheap_free in the region that owns p. NULL is a no-op. A bad pointer goes to the
 * fault hook (a pointer in no region: KHEAP_FAULT_INVALID, against the first region). */
void KHEAP_KNAME(kfree)(void *p);

/* ksize - kheap_usable_size in p's region; 0 when p is live in no region. */
kheap_size_t KHEAP_KNAME(ksize)(const void *p);

#endif /* KHEAP_NO_KMALLOC */

#ifdef __cplusplus
}
#endif
#endif /* KHEAP_H_INCLUDED_5045484B */
