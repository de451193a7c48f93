/* model.h - an executable model of the kheap contract for one pool: one state per block,
 * linear scans, no cleverness. Used only by tests: the differential fuzzer and model_test. */
#ifndef MODEL_H
#define MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kheap.h"

#define MODEL_CONTROL_BYTES KHEAP_CONTROL_BYTES   /* before the three bitmaps */
#define MODEL_SL_LOG 4                      /* the index's classes: TLSF's mapping */
#define MODEL_SL_COUNT (1u << MODEL_SL_LOG)
#define MODEL_IX_HEADS 34                   /* dwords of class maps and top words before the heads */
#define MODEL_RUN_HEADER 16                 /* bytes of an indexed run's header */
#define MODEL_SIDE_BYTES (2 * sizeof(uintptr_t))   /* per block, in debug pools */
#ifndef KHEAP_QCLASS_SHIFT                  /* a quick-cache class per 2^shift blocks */
#define KHEAP_QCLASS_SHIFT 9                /* (the fuzzer's build sets 2: small pools too) */
#endif
#define MODEL_CACHE_CLASSES 64              /* at most; class c: allocations of c+1 blocks */
#define MODEL_CACHE_DEPTH ((KHEAP_CPU_SET_BYTES - 8 * sizeof(void *)) / 4 / 64 - 1)
                                            /* entries a class holds (as kheap.h counts a
                                               set), newest taken first */
#define MODEL_SETS 4                        /* CPUs' sets of quick caches, at most */
#define MODEL_WINDOW 512                    /* blocks of a placement window */

/* M_CACHED: the first block of a freed allocation held in a quick cache (its other blocks
 * stay M_CONT): free to the caller, but not to a search until the caches are flushed. */
enum model_state { M_FREE, M_START, M_CONT, M_CACHED };

struct model {
    uintptr_t base;                     /* address of block 0 */
    size_t block;                       /* block size */
    size_t nblocks;
    unsigned char *state;               /* nblocks entries of enum model_state */
    size_t *asked;                      /* debug pools: bytes asked for, at each start */
    bool debug;                         /* KHEAP_F_DEBUG: guard bytes, usable = asked */
    size_t peak_blocks, total_allocs, total_frees, failed, faults;
    size_t classes;                     /* quick-cache classes in use (0 in debug pools) */
    size_t sets, cpu;                   /* the pool's sets (1 but with model_cpus), the
                                           calling CPU (model_cpu): its set is cpu % sets */
    size_t cache_count[MODEL_SETS][MODEL_CACHE_CLASSES];
    size_t cache[MODEL_SETS][MODEL_CACHE_CLASSES][MODEL_CACHE_DEPTH];
    size_t cached_blocks;
    size_t window_offset;               /* blocks of window 0 cut off (model_cpus) */
    size_t window[MODEL_SETS];          /* each set's: 1 + its window, 0: none */
    size_t run_min;                     /* blocks of the shortest indexed run; 0: no index */
    uint64_t *stamp;                    /* at an indexed run's start: when it was put in */
    uint64_t stamps;
};

/* The layout include/kheap.h and the README promise, found by trying every block count from
 * the most that could fit down: block 0 address and block count, or false if none fits.
 * model_geometry_sets: the same with `sets` sets of quick caches (kheap_set_cpu). */
bool model_geometry(uintptr_t mem, size_t size, size_t block, bool debug, uintptr_t *base,
                    size_t *nblocks);
bool model_geometry_sets(uintptr_t mem, size_t size, size_t block, bool debug, size_t sets,
                         uintptr_t *base, size_t *nblocks);

/* state must hold nblocks bytes; asked nblocks sizes when debug (else it may be NULL);
 * stamp nblocks stamps. */
void model_init(struct model *m, uintptr_t base, size_t block, size_t nblocks, bool debug,
                unsigned char *state, size_t *asked, uint64_t *stamp);
/* After model_init, a pool made at mem with `sets` sets (2 .. MODEL_SETS): each CPU allocates
 * from and frees into its own, and what its set cannot serve goes to its window, as
 * kheap_set_cpu says. */
void model_cpus(struct model *m, uintptr_t mem, size_t sets);
/* The CPU the next calls run on. */
void model_cpu(struct model *m, size_t cpu);

uintptr_t model_alloc(struct model *m, size_t size, size_t align);  /* 0 when it cannot */
uintptr_t model_calloc(struct model *m, size_t n, size_t size);
int model_free(struct model *m, uintptr_t p);                       /* 0 or KHEAP_E* */
/* realloc; *err gets the KHEAP_E* of a bad p (then 0 is returned), else 0. */
uintptr_t model_realloc(struct model *m, uintptr_t p, size_t size, int *err);
size_t model_usable(const struct model *m, uintptr_t p);
void model_stats(const struct model *m, struct kheap_stats *st);
/* Returns every cached allocation to the index, as kheap_walk and kheap_dump do first. */
void model_flush(struct model *m);
/* The i-th run of the pool in address order (allocations and maximal free runs):
 * false when there are fewer runs. */
bool model_run(const struct model *m, size_t i, uintptr_t *p, size_t *size, bool *used);

#endif
