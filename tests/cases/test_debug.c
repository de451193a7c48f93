/* test_debug.c - debug pools (KHEAP_F_DEBUG): scrub, poison, guards, the caller side table,
 * kheap_dump, and failure injection. Each detection checks kind, address and that the heap
 * goes on working. */
#include "ktest.h"

static kheap_t *debug_pool(size_t size, size_t block)
{
    void *mem = kt_mem(size, 16);
    kheap_t *h = mem ? kheap_create_flags(mem, size, block, KHEAP_F_DEBUG) : 0;
    kt_expect(h != 0, __FILE__, __LINE__, "kheap_create_flags(KHEAP_F_DEBUG)");
    return h;
}

/* The single corruption report of the last call was for addr; then the heap is clean. */
static void expect_corrupt_at(kheap_t *h, int before, const void *addr)
{
    KT_EXPECT(kt_faults.count == before + 1);
    KT_EXPECT(kt_faults.last.kind == KHEAP_FAULT_CORRUPT);
    KT_EXPECT(kt_faults.last.ptr == addr);
    KT_EXPECT(kt_faults.last.heap == h);
}

KTEST(create_flags_rejects_unknown_flags)
{
    void *mem = kt_mem(4096, 16);
    KT_EXPECT(kheap_create_flags(mem, 4096, 0, 0x80) == 0);
    KT_EXPECT(kheap_create_flags(mem, 4096, 0, KHEAP_F_DEBUG | 4) == 0);  /* 2 is NOCACHE */
    KT_EXPECT(kheap_create_flags(mem, 4096, 0, 0) != 0);
}

KTEST(debug_scrubs_new_and_poisons_freed_memory)
{
    kheap_t *h = debug_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 100);
    KT_ASSERT(p);
    KT_EXPECT(kheap_usable_size(h, p) == 100);
    KT_EXPECT(kt_all_bytes(p, 100, KHEAP_SCRUB_BYTE));
    KT_EXPECT(kt_all_bytes(p + 100, 112 - 100, KHEAP_GUARD_BYTE));
    KT_EXPECT(kheap_free(h, p) == 0);
    ktest_expose(p, 112);
    KT_EXPECT(kt_all_bytes(p, 112, KHEAP_POISON_BYTE));
    unsigned char *z = kheap_calloc(h, 3, 10);
    KT_ASSERT(z == p);
    KT_EXPECT(kt_all_bytes(z, 30, 0));
    KT_EXPECT_EQ(kheap_usable_size(h, z), 30);
    KT_EXPECT(kt_all_bytes(z + 30, 2, KHEAP_GUARD_BYTE));
    KT_EXPECT_EQ(kheap_free(h, z), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
}

KTEST(debug_catches_a_one_byte_overflow_at_every_size)
{
    static const size_t blocks[] = { 4, 16, 64 };
    for (unsigned b = 0; b < 3; b++) {
        kheap_t *h = debug_pool(32 * 1024, blocks[b]);
        KT_ASSERT(h);
        for (size_t size = 1; size <= 3 * blocks[b] + 1; size++) {
            unsigned char *keep = kheap_alloc(h, 24), *p = kheap_alloc(h, size);
            KT_ASSERT(keep);
            KT_ASSERT(p);
            kt_fill(keep, 24, size);
            kt_fill(p, size, size);
            p[size] ^= 0x01;                            /* one byte past the request */
            int before = kt_faults.count;
            KT_EXPECT(kheap_free(h, p) == KHEAP_ECORRUPT);
            expect_corrupt_at(h, before, p + size);
            KT_EXPECT(kheap_usable_size(h, p) == 0);    /* freed all the same */
            KT_EXPECT(kt_intact(keep, 24, size));
            KT_EXPECT(kheap_free(h, keep) == 0);
            KT_ASSERT(kheap_check(h) == 0);              /* and the heap is whole */
        }
        KT_EXPECT(kt_stats(h).live_allocs == 0);
        KT_EXPECT(kheap_alloc(h, kt_stats(h).capacity - KHEAP_GUARD_MIN) != 0);
    }
}

KTEST(debug_catches_a_write_after_free_on_reuse)
{
    kheap_t *h = debug_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 64);
    KT_ASSERT(p);
    KT_EXPECT(kheap_free(h, p) == 0);
    ktest_expose(p + 10, 1);
    p[10] = 0x42;                                       /* a stale pointer writes */
    KT_EXPECT(kheap_check(h) == KHEAP_ECORRUPT);
    expect_corrupt_at(h, 0, p + 10);
    unsigned char *q = kheap_alloc(h, 64);
    KT_ASSERT(q == p);                                  /* handed out all the same ... */
    expect_corrupt_at(h, 1, p + 10);                    /* ... and reported */
    KT_EXPECT(kt_all_bytes(q, 64, KHEAP_SCRUB_BYTE));   /* freshly scrubbed */
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kheap_free(h, q), 0);
}

KTEST(debug_check_finds_a_damaged_guard)
{
    kheap_t *h = debug_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc(h, 20), *b = kheap_alloc(h, 40);
    KT_ASSERT(a);
    KT_ASSERT(b);
    b[43] = 0;                                          /* inside b's guard */
    KT_EXPECT(kheap_check(h) == KHEAP_ECORRUPT);
    expect_corrupt_at(h, 0, b + 43);
    b[43] = KHEAP_GUARD_BYTE;
    KT_EXPECT(kheap_check(h) == 0);
    KT_EXPECT(kt_stats(h).faults == 1);
}

KTEST(debug_realloc_checks_the_guard_and_keeps_the_patterns)
{
    kheap_t *h = debug_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 10);
    KT_ASSERT(p);
    kt_fill(p, 10, 1);
    unsigned char *q = kheap_realloc(h, p, 50);         /* grows in place */
    KT_ASSERT(q == p);
    KT_EXPECT(kt_intact(q, 10, 1));
    KT_EXPECT(kt_all_bytes(q + 10, 40, KHEAP_SCRUB_BYTE));
    KT_EXPECT_EQ(kheap_usable_size(h, q), 50);
    KT_EXPECT(kt_all_bytes(q + 50, 14, KHEAP_GUARD_BYTE));
    KT_EXPECT(kheap_realloc(h, q, 5) == q);             /* shrinks: tail poisoned */
    KT_EXPECT(kt_intact(q, 5, 1));
    KT_EXPECT(kt_all_bytes(q + 5, 11, KHEAP_GUARD_BYTE));
    ktest_expose(q + 16, 48);
    KT_EXPECT(kt_all_bytes(q + 16, 48, KHEAP_POISON_BYTE));
    unsigned char *wall = kheap_alloc(h, 8);
    KT_ASSERT(wall == q + 16);
    q[5] = 0x77;                                        /* overflow, then a move */
    unsigned char *r = kheap_realloc(h, q, 100);
    KT_ASSERT(r);
    KT_ASSERT(r != q);
    expect_corrupt_at(h, 0, q + 5);
    KT_EXPECT(kt_intact(r, 5, 1));
    KT_EXPECT(kt_all_bytes(r + 5, 95, KHEAP_SCRUB_BYTE));
    ktest_expose(q, 16);
    KT_EXPECT(kt_all_bytes(q, 16, KHEAP_POISON_BYTE));  /* the old block is poison now */
    KT_EXPECT(kheap_check(h) == 0);
}

KTEST(debug_kmalloc_regions_share_the_guards)
{
    KT_ASSERT(kmalloc_init_flags(kt_mem(8 * 1024, 16), 8 * 1024, KHEAP_F_DEBUG) == 0);
    KT_ASSERT(kmalloc_add_region(kt_mem(64 * 1024, 16), 64 * 1024) == 0);
    unsigned char *big = kmalloc(20000);                /* only region two can hold it */
    KT_ASSERT(big);
    KT_ASSERT(!kheap_owns(kmalloc_heap(), big));
    KT_EXPECT_EQ(ksize(big), 20000);
    KT_EXPECT(kt_all_bytes(big, 20000, KHEAP_SCRUB_BYTE));
    big[20000] = 0;
    kfree(big);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT(kt_faults.last.ptr == big + 20000);
    KT_EXPECT(kmalloc(20000) == big);                   /* and it serves again */
}

/* ---- kheap_dump ---- */

static struct { char text[8192]; size_t len; int lines; } dumped;

static void collect(const char *line)
{
    dumped.lines++;
    while (*line && dumped.len < sizeof dumped.text - 1)
        dumped.text[dumped.len++] = *line++;
    dumped.text[dumped.len] = '\0';
}

/* The first occurrence of s in text, or NULL. */
static const char *find(const char *text, const char *s)
{
    for (; *text; text++) {
        size_t k = 0;
        while (s[k] && text[k] == s[k])
            k++;
        if (!s[k])
            return text;
    }
    return 0;
}

static bool dumped_has(const char *s)
{
    return find(dumped.text, s) != 0;
}

static void hex(char *out, uintptr_t v)  /* out: 2 + 2 * sizeof v + 1 bytes */
{
    out[0] = '0', out[1] = 'x';
    int digits = 2 * (int)sizeof v;         /* as kheap_dump prints an address */
    for (int i = 0; i < digits; i++)
        out[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 15];
    out[2 + digits] = '\0';
}

/* Allocates from a known place, so the recorded caller can be checked. */
static __attribute__((noinline)) void *alloc_here(kheap_t *h, size_t size)
{
    void *p = kheap_alloc(h, size);
    __asm__ volatile("" : : : "memory");
    return p;
}

KTEST(dump_shows_stats_map_and_callers)
{
    kheap_t *h = debug_pool(8 * 1024, 0);
    KT_ASSERT(h);
    void *p = alloc_here(h, 1000), *q = alloc_here(h, 24);
    KT_ASSERT(p);
    KT_ASSERT(q);
    dumped.len = 0, dumped.lines = 0;
    KT_EXPECT(kheap_dump(h, collect) == 0);
    KT_EXPECT(dumped.lines >= 7);
    KT_EXPECT(dumped_has("debug guards on"));
    KT_EXPECT(dumped_has("live 2, allocs 2, frees 0, failed 0, faults 0"));
    KT_EXPECT(dumped_has("|####"));                     /* the map starts used ... */
    KT_EXPECT(dumped_has("....|"));                     /* ... and ends free */
    char addr[2 + 2 * sizeof(uintptr_t) + 1];       /* "0x", the digits, NUL */
    hex(addr, (uintptr_t)p);
    KT_EXPECT(dumped_has(addr));
    KT_EXPECT(dumped_has(" 1000 bytes from 0x"));
    hex(addr, (uintptr_t)q);
    KT_EXPECT(dumped_has(addr));
    KT_EXPECT(dumped_has(" 24 bytes from 0x"));
    /* both callers are the return address inside alloc_here */
    unsigned callers = 0;
    for (const char *at = dumped.text; (at = find(at, " bytes from 0x")) != 0; at++) {
        uintptr_t caller = 0;
        for (const char *d = at + 14; (*d >= '0' && *d <= '9') || (*d >= 'a' && *d <= 'f'); d++)
            caller = caller * 16 + (uintptr_t)(*d <= '9' ? *d - '0' : *d - 'a' + 10);
        callers += caller > (uintptr_t)alloc_here && caller < (uintptr_t)alloc_here + 64;
    }
    KT_EXPECT(callers == 2);
    KT_EXPECT_EQ(kheap_dump(0, collect), KHEAP_EINVAL);
    KT_EXPECT_EQ(kheap_dump(h, 0), KHEAP_EINVAL);
}

KTEST(dump_of_a_plain_pool_has_no_caller_list)
{
    kheap_t *h = kt_pool(64 * 1024, 0);
    KT_ASSERT(h);
    KT_ASSERT(kheap_alloc(h, kt_stats(h).capacity / 2));
    dumped.len = 0, dumped.lines = 0;
    KT_EXPECT(kheap_dump(h, collect) == 0);
    KT_EXPECT(!dumped_has("live allocations"));
    KT_EXPECT(!dumped_has("debug"));
    KT_EXPECT(dumped_has("|################################################################|"));
    KT_EXPECT(dumped_has("|................................................................|"));
    KT_EXPECT(dumped.lines == 4 + 4);                   /* 3 of stats, a heading, 4 map lines */
}

/* ---- failure injection ---- */

KTEST(fail_nth_fails_exactly_that_call)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    kheap_fail_nth(3);
    void *a = kheap_alloc(h, 16), *b = kheap_calloc(h, 2, 8);
    void *c = kheap_alloc(h, 16), *d = kheap_alloc(h, 16);
    KT_EXPECT(a);
    KT_EXPECT(b);
    KT_EXPECT(!c);
    KT_EXPECT(d);
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, 1);
    KT_EXPECT_EQ(kt_stats(h).live_allocs, 3);
    kheap_fail_nth(1);
    KT_EXPECT(kheap_realloc(h, a, 500) == 0);           /* p stays, as with any failure */
    KT_EXPECT_EQ(kheap_usable_size(h, a), 16);
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, 2);
    kheap_fail_nth(2);
    kheap_fail_nth(0);                                  /* turned off again */
    for (int i = 0; i < 4; i++)
        KT_EXPECT(kheap_alloc(h, 16) != 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
}

KTEST(debug_check_finds_a_damaged_side_table_entry)
{
    kheap_t *h = debug_pool(4096, 16);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 20);              /* block 0: side table entry 0 */
    KT_ASSERT(p);
    size_t blocks = kt_stats(h).capacity / 16;
    size_t words = (blocks + KT_WORD_BITS - 1) / KT_WORD_BITS;
    /* kernel/kheap.c: the side table follows the three bitmaps, {caller, size} per block */
    uintptr_t *entry = (uintptr_t *)((unsigned char *)h + KHEAP_CONTROL_BYTES
                                     + 3 * words * sizeof(uintptr_t));
    KT_ASSERT(entry[1] == 20);
    entry[1] = 4096;                                    /* larger than the allocation */
    KT_EXPECT(kheap_check(h) == KHEAP_ECORRUPT);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT(kt_faults.last.ptr == entry);
    entry[1] = 20;
    KT_EXPECT_EQ(kheap_check(h), 0);
    entry[3] = 1;                           /* block 1: no allocation starts there */
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, entry + 2);
    entry[3] = 0;
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kheap_free(h, p), 0);
}

KTEST(dump_lists_64_allocations_then_counts_the_rest)
{
    kheap_t *h = debug_pool(16 * 1024, 16);
    KT_ASSERT(h);
    for (int i = 0; i < 70; i++)
        KT_ASSERT(kheap_alloc(h, 8) != 0);
    dumped.len = 0, dumped.lines = 0;
    KT_EXPECT(kheap_dump(h, collect) == 0);
    KT_EXPECT(dumped_has("  ... and 6 more"));
    KT_EXPECT(dumped_has("live 70,"));
}
