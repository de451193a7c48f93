/* ktest.h - a KUnit-style harness: KTEST(name) registers a test in the `ktests` section,
 * ktest_run() runs them all and prints KTAP version 1 through the backend's ktest_write. */
#ifndef KTEST_H
#define KTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kheap.h"

struct ktest {
    const char *name;
    void (*fn)(void);
    const char *file;                       /* its suite: the tests of one file, in order */
};

/* Defines and registers a test: KTEST(my_case) { KT_EXPECT(...); } */
#define KTEST(name)                                                                    \
    static void name(void);                                                            \
    static const struct ktest ktest_entry_##name                                       \
        __attribute__((used, section("ktests"), aligned(sizeof(void *))))              \
        = { #name, name, __FILE__ };                                                   \
    static void name(void)

/* Bits in a bitmap word: the machine word (32 on i386, 64 on x86-64). Tests take every
 * width from here, never from a literal. */
#define KT_WORD_BITS (8 * sizeof(uintptr_t))
/* Entries of one quick-cache class, as KHEAP_CPU_SET_BYTES counts them (a header of 8
 * words, then 64 classes of a dword count and their dword entries). */
#define KT_CACHE_DEPTH ((int)((KHEAP_CPU_SET_BYTES - 8 * sizeof(void *)) / 4 / 64 - 1))
/* Blocks of 16 bitmap words: a size for runs that reach across many words. */
#define KT_WIDE_BLOCKS (16 * KT_WORD_BITS)
/* Word positions in a pool's control block, as struct kheap in kernel/kheap.c lays them out,
 * for the tests that damage it on purpose (tests/host/damage.c too): a change of layout is
 * made here once. */
enum { CB_FREE_BLOCKS = 0, CB_LIVE_ALLOCS = 1, CB_PEAK = 2, CB_MAGIC = 8, CB_GEOMETRY = 9,
       CB_SHIFT = 10, CB_NBLOCKS = 11, CB_NWORDS = 12, CB_USED = 13, CB_START = 14,
       CB_BASE = 15, CB_LIMIT = 16, CB_SIDE = 19, CB_INDEX = 21, CB_NEXT = 22, CB_SHAPE = 23,
       CB_CACHED = 24, CB_CACHE = 25, CB_CLASSES = 26, CB_SUMMARY = 27,
       CB_QUICK_GEOMETRY = 28 };

/* The header of quick-cache set `set` of pool h (its busy word first), and the class of n
 * blocks there: a dword count, then its dword entries. A set is 8 words, the pool's classes,
 * and pad to a word (SET_BYTES in asm/kheap_core.asm). */
static inline uintptr_t *kt_cache_set(const kheap_t *h, unsigned set)
{
    const uintptr_t *cb = (const uintptr_t *)h;
    uintptr_t bytes = 8 * sizeof(uintptr_t) + cb[CB_CLASSES] * (KT_CACHE_DEPTH + 1) * 4;
    bytes = (bytes + sizeof(uintptr_t) - 1) / sizeof(uintptr_t) * sizeof(uintptr_t);
    return (uintptr_t *)(cb[CB_CACHE] + set * bytes);
}
static inline uint32_t *kt_cache_class(const kheap_t *h, unsigned set, unsigned n)
{
    return (uint32_t *)(kt_cache_set(h, set) + 8) + (n - 1) * (KT_CACHE_DEPTH + 1);
}

/* Records a failure (file:line: expression) and goes on; evaluates to the condition. */
#define KT_EXPECT(cond) kt_expect(!!(cond), __FILE__, __LINE__, #cond)
/* As KT_EXPECT, but a failure ends the test. */
#define KT_ASSERT(cond) do { if (!KT_EXPECT(cond)) return; } while (0)

/* Records a failure unless a == b, printing both values (as KUnit's KUNIT_EXPECT_EQ does);
 * evaluates to a == b. Integers up to the width of a pointer (size_t, uintptr_t, int);
 * negatives print as such. */
#define KT_EXPECT_EQ(a, b) \
    kt_expect_eq((intptr_t)(a), (intptr_t)(b), __FILE__, __LINE__, #a " == " #b)
/* The same for pointers, printed in hex. */
#define KT_EXPECT_PTR_EQ(a, b) \
    kt_expect_ptr_eq((const void *)(a), (const void *)(b), __FILE__, __LINE__, #a " == " #b)

bool kt_expect(bool ok, const char *file, int line, const char *expr);
bool kt_expect_eq(intptr_t a, intptr_t b, const char *file, int line, const char *expr);
bool kt_expect_ptr_eq(const void *a, const void *b, const char *file, int line, const char *expr);

/* Runs every registered test; prints KTAP, a suite per test file (tests/cases/test_alloc.c is the
 * subtest "alloc"), its tests nested in it; returns the number of tests that failed. A test
 * that checked nothing fails too: a test must assert something. */
int ktest_run(void);

/* ---- the backend: tests/metal/backend.c on the metal, tests/host/backend.c on a host ---- */
void ktest_write(const char *s);                        /* print text */
void *ktest_scratch(size_t size, size_t align);         /* scratch memory, or NULL when out */
void ktest_scratch_reset(void);                         /* release all scratch memory */
/* A test is about to touch memory the heap keeps off limits (a freed block) on purpose:
 * the host's Valgrind build is told so; on the metal it does nothing. */
void ktest_expose(const void *p, size_t n);

/* ---- helpers for tests; all state is reset before each test ---- */

/* size bytes of scratch memory aligned to align (a power of two), valid for this test only.
 * The backend has room for at least KT_SCRATCH_SIZE bytes a test; running out fails the
 * test and returns NULL. */
#define KT_SCRATCH_SIZE (12u * 1024 * 1024)
void *kt_mem(size_t size, size_t align);

/* A pool of `size` bytes of scratch memory with the given block size (0: default);
 * fails the test and returns NULL if kheap_create refuses it. */
kheap_t *kt_pool(size_t size, size_t block);
/* The same with KHEAP_F_* flags (KHEAP_F_NOCACHE: a test of the index alone). */
kheap_t *kt_pool_flags(size_t size, size_t block, unsigned flags);

/* A repeatable pseudo-random sequence (xorshift32); kt_seed(0) is mapped to a fixed seed. */
void kt_seed(uint32_t seed);
uint32_t kt_rand(void);
uint32_t kt_range(uint32_t lo, uint32_t hi);        /* uniform-ish in [lo, hi] */

/* Fills n bytes with a pattern unique to `tag`; kt_intact says whether they still hold it. */
void kt_fill(void *p, size_t n, uint32_t tag);
bool kt_intact(const void *p, size_t n, uint32_t tag);
bool kt_all_bytes(const void *p, size_t n, unsigned char value);

/* Faults seen by the harness's fault hook since the test began. */
struct kt_fault_log {
    int count;
    struct kheap_fault last;
};
extern struct kt_fault_log kt_faults;

/* Stats equal but for the event counters `faults` and `failed_allocs`. */
bool kt_stats_same(const struct kheap_stats *a, const struct kheap_stats *b);
struct kheap_stats kt_stats(const kheap_t *h);

/* Formats a decimal number into buf (12 bytes at least); returns buf. */
char *kt_utoa(char *buf, unsigned long v);

#endif
