/* kheap.h - the one public header of the kheap module: a bitmap heap for freestanding kernels.
 * Contract: every function below says what it returns, when it fails, what it keeps, and its cost. */
#ifndef KHEAP_H
#define KHEAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * Terms used below.
 *   B       the pool's block size (a power of two, 4 .. 1 MiB); every pointer returned is
 *           B-aligned and every allocation is a whole number of blocks.
 *   N       blocks in the pool's block area. W = N / 32, the words of one bitmap.
 *   n       blocks of the request: ceil(size / B).
 *   live    the pointer returned by an allocation and not yet freed: the start of an
 *           allocation. Only live pointers may be freed, resized or sized.
 *   "the heap is unchanged": same bitmaps and same counters (but for `faults` and
 *           `failed_allocs`, which record the event), and every byte of every live allocation
 *           as it was.
 *   quick caches  per pool, one class for each allocation length of 1 .. C blocks
 *           (C = min(64, N / 512); none in debug pools or with KHEAP_F_NOCACHE), each
 *           holding up to 8 freed allocations of exactly that length, newest first. A free
 *           of a cacheable length goes into its class when it has room (O(1): the bitmaps
 *           and the run tree are not touched; the blocks still count as free); a request
 *           for that length at the block alignment takes the newest one (O(1)). A cached
 *           allocation is not a live pointer: freeing it again is a double free. Before a
 *           request fails, and before kheap_get_stats, kheap_walk and kheap_dump look, the
 *           caches are emptied into the bitmaps. So placement is "LIFO per exact length,
 *           then first fit by address", and a request fails only when first fit over all
 *           free blocks fails.
 *
 * Concurrency: a call holds the lock set by kheap_set_lock() (none by default) for its whole
 * run; hooks run with the lock released. Time bounds are worst cases in bitmap words read:
 * the search skips whole used words, so a typical call reads far fewer.
 */

#define KHEAP_DEFAULT_BLOCK 16u      /* block size when 0 is passed; also the minimum alignment */

/* error codes: 0 is success, these are negative */
#define KHEAP_EINVAL    (-1)         /* not a pointer of this heap, misaligned, or a bad argument */
#define KHEAP_EDOUBLE   (-2)         /* the block is already free */
#define KHEAP_EINTERIOR (-3)         /* points inside a live allocation, not at its start */
#define KHEAP_ECORRUPT  (-4)         /* heap metadata or a guard pattern is damaged */

typedef struct kheap kheap_t;        /* opaque; lives inside the memory given to kheap_create */

/* Bytes of a pool's control block, which sits at the start of the pool's memory (word
 * aligned) and is followed by the three bitmaps of ceil(N / 32) words each (64 on x86-64). */
#define KHEAP_CONTROL_BYTES (27u * sizeof(uintptr_t))

/* Pool options for kheap_create_flags and kmalloc_init_flags. */
#define KHEAP_F_DEBUG   0x1u         /* debug guards and caller tracking: see below */
#define KHEAP_F_NOCACHE 0x2u         /* no quick caches: every free goes back to first fit
                                        (debug pools never cache) */

/* The debug patterns (KHEAP_F_DEBUG pools). */
#define KHEAP_SCRUB_BYTE  0xA5u      /* a new allocation's bytes (calloc: zero instead) */
#define KHEAP_POISON_BYTE 0x6Bu      /* every byte of every free block */
#define KHEAP_GUARD_BYTE  0xFDu      /* from the requested size to the end of the allocation */
#define KHEAP_GUARD_MIN   4u         /* at least this many guard bytes: else one more block */

struct kheap_stats {
    size_t block_size;               /* bytes per block */
    size_t capacity;                 /* bytes in the block area */
    size_t used;                     /* bytes in live allocations, whole blocks */
    size_t peak_used;                /* highest 'used' since creation */
    size_t largest_free;             /* bytes in the largest run of free blocks */
    size_t live_allocs;              /* allocations not yet freed */
    size_t total_allocs, total_frees;
    size_t failed_allocs;            /* NULL returns for a non-zero request */
    size_t faults;                   /* bad frees and detected corruption */
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
 * kheap_create - make a pool of all of [mem, mem+size).
 * block_size: a power of two from 4 to 1 MiB, or 0 for KHEAP_DEFAULT_BLOCK.
 * Returns the pool's handle, which lies inside mem (the control block sits at mem, word
 * aligned, followed by three bitmaps of N bits each, the run tree, the quick caches, then
 * the B-aligned block area), or NULL
 * when mem is NULL, block_size is invalid, the region wraps past the top of the address
 * space, or it cannot hold the control block, the bitmaps and one block.
 * Overhead: the control block (108 bytes on i386, 216 on x86-64), 3 bits per block (used,
 * start, cached), the run tree (three words per 16-word leaf: 24 bytes per 512 blocks on
 * i386, 48 per 1024 on x86-64, the leaf count rounded up to a power of two: 0.375 to 0.75
 * bits per block), the quick caches (9 words per class, one class per 512 blocks, at most
 * 64: at most 2,304 bytes on i386, 4,608 on x86-64) and up to B-1 bytes of alignment pad.
 * Nothing is written outside [mem, mem+size). O(W).
 */
kheap_t *kheap_create(void *mem, size_t size, size_t block_size);

/*
 * kheap_create_flags - kheap_create with options; flags 0 is kheap_create.
 * KHEAP_F_DEBUG makes a debug pool, for finding heap corruption in the kernel that uses it:
 *   - new allocations are scrubbed with KHEAP_SCRUB_BYTE (reads of uninitialised memory
 *     show a recognisable pattern);
 *   - freed blocks are poisoned with KHEAP_POISON_BYTE, and the poison is checked when they
 *     are handed out again (writes after free);
 *   - the bytes from the requested size to the end of the allocation hold KHEAP_GUARD_BYTE,
 *     at least KHEAP_GUARD_MIN of them (an extra block when the slack is smaller), checked
 *     on free, on realloc and by kheap_check: a 1-byte overflow is caught at every size;
 *   - the requested size and the caller of each live allocation are kept in a side table in
 *     the pool (two words per block: 8 bytes on i386, 16 on x86-64; no header), listed by
 *     kheap_dump;
 *   - kheap_usable_size returns the requested size, so using all of it is safe.
 * Each detection calls the fault hook with KHEAP_FAULT_CORRUPT and the first damaged byte's
 * address; the heap stays usable (the damaged block is still freed or handed out, and its
 * patterns are rewritten). A side-table size that is not below its allocation's length (the
 * entry itself is damaged) is reported the same way; then realloc of that allocation returns
 * NULL (a failure, p unchanged) and kheap_usable_size gives 0, as the size is unknown.
 * Debug pools have no quick caches: every free is checked and poisoned at once. Pools
 * without the flag pay one test of a control-block word per allocation and free.
 * KHEAP_F_NOCACHE turns the quick caches off: placement is first fit by address alone
 * (for a kernel that wants it, and for tests of first fit itself); the room for the caches
 * is laid out all the same. Other flags: NULL. O(size) in debug mode (the block area is
 * poisoned).
 */
kheap_t *kheap_create_flags(void *mem, size_t size, size_t block_size, unsigned flags);

/*
 * kheap_alloc - the newest freed allocation of exactly n blocks held in the quick caches
 * (see "quick caches" above), else the lowest-addressed run of n free blocks (first fit).
 * Returns a B-aligned pointer to at least `size` bytes, contents undefined; NULL when size
 * is 0 (not counted as a failure), or when no run is free even after the caches are
 * emptied, size overflows or h is NULL or damaged (counted in failed_allocs, heap unchanged
 * but for the caches, emptied into the bitmaps). A damaged cache entry is reported (fault
 * hook, KHEAP_FAULT_CORRUPT) and dropped, never handed out.
 * O(1) from a cache. Else O(log N + n/32): a descent of the run tree to the first run long
 * enough, a read of at most 16 bitmap words of its leaf, then the marking of n blocks and the
 * tree above them; a request no run can hold fails in O(1) (the root knows the longest free
 * run), or in O(C * 8 * log N) when the caches held anything (they are emptied first).
 */
void *kheap_alloc(kheap_t *h, size_t size);

/*
 * kheap_alloc_aligned - as kheap_alloc, with the address a multiple of align.
 * align: a non-zero power of two; below B it means B. A bad align gives NULL and counts a
 * failure. Works for any align up to 2 GiB (it is the address that is aligned, not the
 * offset in the pool). O(log N + n/32) per candidate: every free run of n blocks or more
 * before the answer that holds no aligned fit is one more candidate (O(W) in all at worst).
 */
void *kheap_alloc_aligned(kheap_t *h, size_t size, size_t align);

/*
 * kheap_calloc - as kheap_alloc(h, n * size), with every usable byte zeroed.
 * Returns NULL when n * size overflows (a failure, heap unchanged) or is 0 (not a failure).
 * O(W + n*size) (the zeroing runs after the lock is released).
 */
void *kheap_calloc(kheap_t *h, size_t n, size_t size);

/*
 * kheap_realloc - resize a live allocation, keeping its first min(old, new) bytes.
 * p NULL: kheap_alloc(h, size). size 0: frees p, returns NULL.
 * Otherwise: the same number of blocks returns p; fewer blocks frees the tail in place and
 * returns p; more blocks grows in place when the following blocks are free (blocks held in a
 * quick cache are not), else allocates as kheap_alloc does, copies, frees p (into the quick
 * caches when its length fits) and returns the new pointer.
 * Returns NULL when the request cannot be served (a failure; p stays live with its bytes)
 * or when p is not a live pointer of h (fault hook as kheap_free; nothing changes).
 * O(W + old size) (the copy runs under the lock).
 */
void *kheap_realloc(kheap_t *h, void *p, size_t size);

/*
 * kheap_free - release a live allocation; its size comes from the bitmaps.
 * Returns 0 (p NULL is 0 and does nothing), or KHEAP_ECORRUPT when a debug pool finds p's
 * guard bytes overwritten (p is freed all the same), or without changing the heap:
 *   KHEAP_EINVAL    p outside the block area, or not at a block boundary, or h NULL;
 *   KHEAP_EDOUBLE   p's block is free (already freed, or never allocated), or p was freed
 *                   into a quick cache and is not live (exact: a cached bit per block);
 *   KHEAP_EINTERIOR p is inside a live allocation, not at its start;
 *   KHEAP_ECORRUPT  h's control block is damaged.
 * Each error counts a fault and calls the fault hook (after the lock is released).
 * O(1) to validate. O(1) to free into a quick cache (a length of at most C blocks whose
 * class has room), else O(n / 32 + log N) (the bitmap, then the run tree above it).
 */
int kheap_free(kheap_t *h, void *p);

/*
 * kheap_usable_size - bytes usable at p: n * B, which is >= the size asked for (in a debug
 * pool: exactly the size asked for).
 * Returns 0 when p is not a live pointer of h, h is damaged, or (debug pool) p's side-table
 * entry is damaged. Never calls the fault hook. O(n / 32).
 */
size_t kheap_usable_size(kheap_t *h, const void *p);

/*
 * kheap_owns - true when p lies in h's block area (live or not). No lock. O(1).
 */
bool kheap_owns(const kheap_t *h, const void *p);

/*
 * kheap_check - verify every invariant of the pool:
 *   the control block (magic, geometry and its checksum);
 *   every start bit is a used block, and every run of used blocks begins with a start bit;
 *   the pad bits past the last block (used set, start clear);
 *   the run tree the search descends: every leaf's free runs (at its start, at its end,
 *   longest) as the bitmap has them, every parent as its two children make it;
 *   the quick caches: each entry the start of an allocation of its class's length with its
 *   cached bit set, none twice, no more than 8 a class, zero slots after them, no cached bit
 *   without its entry;
 *   free_blocks (which counts cached blocks) and live_allocs equal what the bitmaps and the
 *   caches say; live = total allocs - frees; peak >= used;
 *   in a debug pool, every allocation's guard bytes, the poison of every free block, and a
 *   zero side-table entry for every block that does not start an allocation;
 *   then the same for every region chained after h (the kmalloc heap: kheap_check of
 *   kmalloc_heap() checks all its regions; a plain pool has none), each reached only through
 *   a checked control block.
 * Returns 0, or KHEAP_ECORRUPT after counting a fault and calling the fault hook with the
 * damaged address (the control block, the first bad bitmap word, tree node, cache class or
 * side-table entry); KHEAP_EINVAL when h is NULL. Changes nothing else (the caches stay as
 * they are). O(W), or O(W + capacity) in a debug pool, for each region.
 */
int kheap_check(kheap_t *h);

/*
 * kheap_get_stats - fill *out. All sizes in bytes. A NULL or damaged h gives all zeros.
 * The quick caches are emptied first, so largest_free is the largest request that succeeds
 * now (that is all it changes: what a caller sees through h, const, stays the same); a
 * damaged cache entry met on the way is dropped and reported (KHEAP_FAULT_CORRUPT), as by
 * kheap_alloc.
 * O(1) (largest_free is the run tree's root) when the caches are empty, else O(C * 8 * log N).
 */
void kheap_get_stats(const kheap_t *h, struct kheap_stats *out);

/*
 * kheap_walk - call fn(ctx, p, size, used) for every live allocation and every maximal run
 * of free blocks, in address order; sizes in bytes, whole blocks.
 * Returns 0 after the last run, or the first non-zero value fn returned (the walk stops
 * there), or KHEAP_EINVAL (h or fn NULL), KHEAP_ECORRUPT (h damaged).
 * The quick caches are emptied first (their allocations are free runs, seen whole).
 * fn runs with the lock held and must not call this module. O(W + runs).
 */
int kheap_walk(kheap_t *h, int (*fn)(void *ctx, void *p, size_t size, bool used), void *ctx);

/*
 * kheap_dump - describe the pool through emit, a line at a time (each ends in '\n'): the
 * stats, a map of the pool with one character per group of blocks ('#' all used, '+' partly,
 * '.' all free; at most 256 characters in lines of 64), and in a debug pool every live
 * allocation with its requested size and caller (the first 64; then a count of the rest).
 * The quick caches are emptied first, as by kheap_walk.
 * emit runs with the lock held and must not call this module. Returns 0, KHEAP_EINVAL (h or
 * emit NULL) or KHEAP_ECORRUPT (h damaged). O(W + live allocations).
 */
int kheap_dump(kheap_t *h, void (*emit)(const char *line));

/*
 * kheap_fail_nth - failure injection, for testing a kernel's out-of-memory paths: the n-th
 * allocating call from now (any pool; kheap_alloc, kheap_alloc_aligned, kheap_calloc, a
 * kheap_realloc of a live pointer to a non-zero size, and their kmalloc twins) returns NULL
 * as if memory had run out, counted in failed_allocs (a realloc keeps p); later calls are
 * served again. n = 0 turns it off. Global, not locked: set it while nothing else allocates.
 * O(1).
 */
void kheap_fail_nth(unsigned long n);

/* ======================= hooks (optional; defaults do nothing, or print nothing) ======================= */

/*
 * kheap_set_fault_handler - fn gets every bad free and every detected corruption, once, after
 * the lock is released (so it may call the module, print, or panic). NULL: no hook.
 * One hook for all pools; set it before other CPUs or interrupts use the heap.
 */
void kheap_set_fault_handler(void (*fn)(const struct kheap_fault *f));

/*
 * kheap_set_lock - every public call (but kheap_create, kheap_create_flags, kheap_owns,
 * kheap_fail_nth and the two setters) runs between state = lock() and unlock(state).
 * lock returns a state word that unlock restores: nestable IRQ-save on one CPU, a spinlock
 * on many. Both NULL: no locking (the default). Passing only one of them means none.
 * Set it before the heap is shared.
 */
void kheap_set_lock(uintptr_t (*lock)(void), void (*unlock)(uintptr_t state));

/* ======================= the kernel-wide heap: what most kernel code calls ======================= */
/* A chain of pools with block size KHEAP_DEFAULT_BLOCK: the first region, then every region
 * added, tried in that order. Each call below costs what its kheap_ twin costs per region.
 * Each region's control block (with its link to the next) is checked before the region is
 * used; a damaged one is reported (KHEAP_FAULT_CORRUPT) and ends the chain for that call. */

/* kmalloc_init - make [mem, mem+size) the first region. Returns 0, or KHEAP_EINVAL when
 * kheap_create would fail (the heap then stays as it was). A second call re-creates: every
 * earlier region is forgotten. The new region is built under the lock, so mem may be the
 * live heap itself. */
int kmalloc_init(void *mem, size_t size);

/* kmalloc_init_flags - kmalloc_init with pool options (KHEAP_F_DEBUG); regions added later
 * get the same options. */
int kmalloc_init_flags(void *mem, size_t size, unsigned flags);

/* kmalloc_add_region - add a region, served after the earlier ones fill. Returns 0, or
 * KHEAP_EINVAL when kmalloc_init was not called, the region overlaps one already in the
 * heap, or kheap_create would fail on it, or KHEAP_ECORRUPT (fault hook called) when a
 * region's control block is damaged: the chain cannot be followed past it. */
int kmalloc_add_region(void *mem, size_t size);

/* kmalloc_heap - the first region's pool (for stats, check, walk), or NULL before init. */
kheap_t *kmalloc_heap(void);

/* kmalloc - first fit in the first region with room. NULL for size 0 (not a failure), or when
 * no region can serve it (a failure, counted in the first region's failed_allocs). */
void *kmalloc(size_t size);

/* kzalloc - kmalloc, then every usable byte zeroed. */
void *kzalloc(size_t size);

/* kcalloc - kzalloc(n * size); NULL and a failure when n * size overflows. */
void *kcalloc(size_t n, size_t size);

/* krealloc - kheap_realloc on p's region; when that region has no room the new run may come
 * from any region. krealloc(NULL,n)=kmalloc(n); krealloc(p,0) frees, returns NULL. A p that is
 * not live in any region: NULL, fault hook, nothing changes. */
void *krealloc(void *p, size_t size);

/* kmalloc_aligned - kheap_alloc_aligned over the regions, in order. */
void *kmalloc_aligned(size_t size, size_t align);

/* kfree - kheap_free on the region that owns p. NULL is a no-op. A bad pointer goes to the
 * fault hook (a pointer in no region is KHEAP_FAULT_INVALID against the first region). */
void kfree(void *p);

/* ksize - kheap_usable_size on p's region; 0 when p is not live in any region. */
size_t ksize(const void *p);

#endif /* KHEAP_H */
