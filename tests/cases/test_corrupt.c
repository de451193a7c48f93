/* test_corrupt.c - damage a pool on purpose: every single bit flipped in either bitmap,
 * counters that disagree, a damaged or foreign control block. kheap_check must report each,
 * and calls on a damaged handle must refuse and write nothing. */
#include "ktest.h"

/* The free-run index (I3 in asm/kheap_core.asm): a run's header, four dwords in its first
 * block, and its footer, the last dword of a run longer than one block (of 16 bytes). */
enum { RUN_LEN, RUN_NEXT, RUN_PREV, RUN_CHECK };
#define RUN_SEED 0x52554E53u
#define IX_HEADS 34                         /* dwords of the class maps and top words, before the heads */
#define NIL 0xFFFFFFFFu

static void reseal(uint32_t *r, uint32_t first)
{
    r[RUN_CHECK] = r[RUN_LEN] ^ r[RUN_NEXT] ^ r[RUN_PREV] ^ first ^ RUN_SEED;
}

struct damaged_pool {
    kheap_t *h;
    uintptr_t *control;
    uintptr_t *used, *start;        /* the two bitmaps */
    size_t words;
    unsigned char *a, *b, *c;
};

/* A pool of about 250 blocks: live a (3 blocks), b (1), c (5), with a hole after a. */
static bool make(struct damaged_pool *d)
{
    d->h = kt_pool(4096 + 64, 16);
    if (!d->h)
        return false;
    size_t blocks = kt_stats(d->h).capacity / 16;
    d->control = (uintptr_t *)d->h;
    d->words = (blocks + KT_WORD_BITS - 1) / KT_WORD_BITS;
    d->used = (uintptr_t *)((unsigned char *)d->h + KHEAP_CONTROL_BYTES);
    d->start = d->used + d->words;
    void *hole = 0;
    d->a = kheap_alloc(d->h, 48);
    hole = kheap_alloc(d->h, 32);
    d->b = kheap_alloc(d->h, 16);
    d->c = kheap_alloc(d->h, 80);
    if (!d->a || !hole || !d->b || !d->c || kheap_free(d->h, hole) != 0)
        return false;
    kt_fill(d->a, 48, 1), kt_fill(d->b, 16, 2), kt_fill(d->c, 80, 3);
    return kheap_check(d->h) == 0;
}

/* Flips every bit of a bitmap in turn: each must fail kheap_check, with the report inside the
 * pool's metadata, and each repair must pass it again. */
static void flip_every_bit(struct damaged_pool *d, uintptr_t *bitmap)
{
    unsigned missed = 0, repaired = 0;
    for (size_t w = 0; w < d->words; w++)
        for (unsigned bit = 0; bit < KT_WORD_BITS; bit++) {
            int before = kt_faults.count;
            bitmap[w] ^= (uintptr_t)1 << bit;
            bool caught = kheap_check(d->h) == KHEAP_ECORRUPT && kt_faults.count == before + 1
                && kt_faults.last.kind == KHEAP_FAULT_CORRUPT
                && (const unsigned char *)kt_faults.last.ptr >= (unsigned char *)d->h
                && (const unsigned char *)kt_faults.last.ptr < (unsigned char *)(d->start + d->words);
            bitmap[w] ^= (uintptr_t)1 << bit;
            missed += !caught;
            repaired += kheap_check(d->h) == 0;
        }
    KT_EXPECT(missed == 0);
    KT_EXPECT_EQ(repaired, d->words * KT_WORD_BITS);
    KT_EXPECT(kt_intact(d->a, 48, 1));
    KT_EXPECT(kt_intact(d->b, 16, 2));
    KT_EXPECT(kt_intact(d->c, 80, 3));
    KT_EXPECT_EQ(kheap_free(d->h, d->b), 0);
    KT_EXPECT(kheap_alloc(d->h, 16) == d->a + 48);  /* the hole */
}

KTEST(check_catches_every_flipped_bit_in_the_used_bitmap)
{
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    flip_every_bit(&d, d.used);
}

KTEST(check_catches_every_flipped_bit_in_the_start_bitmap)
{
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    flip_every_bit(&d, d.start);
}

KTEST(check_catches_counters_that_disagree)
{
    static const int fields[] = { CB_FREE_BLOCKS, CB_LIVE_ALLOCS, CB_PEAK };
    static const int deltas[] = { 1, -1, 3 };
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    for (unsigned f = 0; f < 3; f++)
        for (unsigned k = 0; k < 3; k++) {
            if (fields[f] == CB_PEAK && deltas[k] > 0)
                continue;                               /* a higher peak is still true */
            uintptr_t saved = d.control[fields[f]];
            int before = kt_faults.count;
            d.control[fields[f]] += (uintptr_t)deltas[k];
            if (fields[f] == CB_PEAK)
                d.control[fields[f]] = 0;               /* below what is in use */
            KT_EXPECT(kheap_check(d.h) == KHEAP_ECORRUPT);
            KT_EXPECT_EQ(kt_faults.count, before + 1);
            KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
            d.control[fields[f]] = saved;
            KT_EXPECT(kheap_check(d.h) == 0);
        }
}

/* Copies of the pool's memory before and after prove that nothing was written. */
static bool calls_refuse_and_write_nothing(kheap_t *h, void *live, size_t region)
{
    unsigned char *copy = kt_mem(region, 16);
    if (!copy)
        return false;
    const unsigned char *mem = (const unsigned char *)h;
    for (size_t i = 0; i < region; i++)
        copy[i] = mem[i];
    int before = kt_faults.count;
    bool refused = kheap_alloc(h, 16) == 0 && kheap_alloc_aligned(h, 16, 64) == 0
        && kheap_calloc(h, 1, 16) == 0 && kheap_realloc(h, live, 64) == 0
        && kheap_free(h, live) == KHEAP_ECORRUPT && kheap_check(h) == KHEAP_ECORRUPT
        && kheap_usable_size(h, live) == 0 && !kheap_owns(h, live)
        && kt_stats(h).capacity == 0;
    bool reported = kt_faults.count == before + 6 && kt_faults.last.kind == KHEAP_FAULT_CORRUPT
        && kt_faults.last.ptr == h;
    for (size_t i = 0; i < region; i++)
        if (copy[i] != mem[i])
            return false;
    return refused && reported;
}

KTEST(damaged_control_block_fails_safe)
{
    static const int fields[] = { CB_MAGIC, CB_SHIFT, CB_BASE, CB_INDEX, CB_SHAPE };
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    /* the metadata up to the quick caches: the control block, the bitmaps and the index */
    const unsigned char *meta_end = (const unsigned char *)d.control[CB_CACHE];
    for (unsigned f = 0; f < 5; f++) {
        uintptr_t saved = d.control[fields[f]];
        d.control[fields[f]] ^= 0x40;
        KT_EXPECT(calls_refuse_and_write_nothing(d.h, d.b,
                  (size_t)(meta_end - (unsigned char *)d.h)));
        KT_EXPECT(kt_intact(d.a, 48, 1));
        KT_EXPECT(kt_intact(d.b, 16, 2));
        KT_EXPECT(kt_intact(d.c, 80, 3));
        d.control[fields[f]] = saved;
        KT_EXPECT(kheap_check(d.h) == 0);
    }
    KT_EXPECT(kt_intact(d.b, 16, 2));
    KT_EXPECT_EQ(kheap_free(d.h, d.b), 0);
}

KTEST(foreign_handle_fails_safe)
{
    unsigned char *junk = kt_mem(4096, 16);
    KT_ASSERT(junk);
    kt_fill(junk, 4096, 77);
    KT_EXPECT(calls_refuse_and_write_nothing((kheap_t *)junk, junk + 512, 4096));
    KT_EXPECT(kt_intact(junk, 4096, 77));
}

/* The free runs of a pool, from kheap_walk: up to 64 of them. */
struct runs {
    unsigned n;
    unsigned char *p[64];
    size_t size[64];
};

static int note_free(void *ctx, void *p, size_t size, bool used)
{
    struct runs *r = ctx;
    if (!used && r->n < 64)
        r->p[r->n] = p, r->size[r->n++] = size;
    return 0;
}

/* A pool of 16-byte blocks with allocations of 1 to 40 blocks and every third freed, so its
 * index holds many runs in many classes. No quick caches: every free reaches the index. */
static kheap_t *index_pool(struct runs *r)
{
    kheap_t *h = kt_pool_flags(64 * 1024, 16, KHEAP_F_NOCACHE);
    if (!h)
        return 0;
    void *p[120];
    for (unsigned i = 0; i < 120; i++)
        p[i] = kheap_alloc(h, 16 * (1 + i * 7 % 40));
    for (unsigned i = 0; i < 120; i += 3)
        if (!p[i] || kheap_free(h, p[i]) != 0)
            return 0;
    r->n = 0;
    kheap_walk(h, note_free, r);
    return kheap_check(h) == 0 ? h : 0;
}

/* The bits `bits` of word w flipped: kheap_check reports it, once; then w is put back. */
static bool caught_bits(kheap_t *h, uint32_t *w, uint32_t bits)
{
    ktest_expose(w, sizeof *w);             /* (a free run's header: free memory) */
    int before = kt_faults.count;
    *w ^= bits;
    bool caught = kheap_check(h) == KHEAP_ECORRUPT && kt_faults.count == before + 1;
    *w ^= bits;
    return caught && kheap_check(h) == 0;
}

static bool caught_flip(kheap_t *h, uint32_t *w)
{
    return caught_bits(h, w, 1);
}

KTEST(check_catches_every_damaged_index_word)
{
    struct runs r;
    kheap_t *h = index_pool(&r);
    KT_ASSERT(h);
    KT_ASSERT(r.n > 30);
    uint32_t *ix = (uint32_t *)((uintptr_t *)h)[CB_INDEX];
    uint32_t *end = (uint32_t *)((uintptr_t *)h)[CB_CACHE];
    unsigned tried = 0, caught = 0;
    for (uint32_t *w = ix; w < end; w++, tried++)
        caught += caught_flip(h, w);            /* class maps and heads */
    tried++;
    caught += caught_bits(h, ix, 1u << 30);     /* a first level past the pool's */
    for (unsigned k = 0; k < r.n; k++) {
        if (r.p[k] + r.size[k] == (unsigned char *)((uintptr_t *)h)[CB_LIMIT])
            continue;                           /* the top run: no header (its words above) */
        uint32_t *hdr = (uint32_t *)r.p[k];
        for (unsigned f = RUN_LEN; f <= RUN_CHECK; f++, tried++)
            caught += caught_flip(h, &hdr[f]);
        if (r.size[k] > 16) {                   /* its footer */
            tried++;
            caught += caught_flip(h, (uint32_t *)(r.p[k] + r.size[k]) - 1);
        }
    }
    KT_EXPECT(tried > IX_HEADS + 4 * 30);
    KT_EXPECT_EQ(caught, tried);
    kheap_t *d = kt_pool_flags(16 * 1024, 16, KHEAP_F_DEBUG);  /* no index: every class empty */
    KT_ASSERT(d);
    KT_EXPECT(caught_flip(d, (uint32_t *)((uintptr_t *)d)[CB_INDEX]));
}

/* A write after free that forges a consistent header (a run of 200 blocks where 4 are free,
 * its check word right, at the head of the class of 200): the hint fails its check against
 * the used bitmap, the index is made anew and reported, the request fails (no run of 150
 * blocks exists, though more are free), no used block is handed out and every live byte
 * stays as it was. */
KTEST(forged_run_header_never_hands_out_a_used_block)
{
    kheap_t *h = kt_pool_flags(64 * 1024, 16, KHEAP_F_NOCACHE);    /* frees reach the index */
    KT_ASSERT(h);
    unsigned char **p = kt_mem(2048 * sizeof *p, sizeof *p);
    KT_ASSERT(p);
    unsigned n = 0;
    while (n < 2048 && (p[n] = kheap_alloc(h, 64)) != 0)
        kt_fill(p[n], 64, n), n++;
    KT_ASSERT(n > 900);
    for (unsigned i = 1; i < n; i += 2)       /* holes of 4 blocks: enough free, no run */
        KT_ASSERT(kheap_free(h, p[i]) == 0);
    unsigned k = n / 2 | 1;
    uint32_t first = (uint32_t)(((uintptr_t)p[k] - ((uintptr_t *)h)[CB_BASE]) / 16);
    uint32_t *hdr = (uint32_t *)p[k], *ix = (uint32_t *)((uintptr_t *)h)[CB_INDEX];
    ktest_expose(hdr, 16);                  /* the write after free */
    KT_ASSERT(hdr[RUN_LEN] == 4);
    unsigned cls = (7 - 4) * 16 + (200 >> 3);  /* 200: bsr 7, so (7 - 4) * 16 + (200 >> 3) */
    hdr[RUN_LEN] = 200, hdr[RUN_NEXT] = hdr[RUN_PREV] = NIL;
    reseal(hdr, first);
    ix[IX_HEADS + cls] = first;
    ix[1 + cls / 16] |= 1u << (cls % 16);
    ix[0] |= 1u << (cls / 16);
    size_t failed = kt_stats(h).failed_allocs;
    int before = kt_faults.count;
    KT_EXPECT_EQ(kheap_alloc(h, 150 * 16), 0);
    KT_EXPECT_EQ(kt_stats(h).failed_allocs, failed + 1);
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT(kt_faults.last.kind == KHEAP_FAULT_CORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, ix);
    bool intact = true;
    for (unsigned i = 0; i < n; i += 2)
        intact = intact && kt_intact(p[i], 64, i);
    KT_EXPECT(intact);
    KT_EXPECT_EQ(kheap_check(h), 0);           /* made anew from the bitmaps */
    unsigned char *q = kheap_alloc(h, 64);     /* a hole serves again */
    bool hole = false;
    for (unsigned i = 1; i < n; i += 2)
        hole = hole || q == p[i];
    KT_EXPECT(hole);
}

/* A class's head cut at its front, the rest keeping the class (a run of 67 blocks heading
 * class 48, the run of 66 after it in its list): the rest may take the head's place, but
 * only after the run after it names the head back. That link forged (the run names no run
 * before it, its check word right): the allocation reports the index damaged (made anew
 * from the bitmaps) and still serves from a free block, no live byte changes, and the pool
 * checks clean. */
KTEST(class_head_cut_in_place_checks_the_next_run_names_it)
{
    kheap_t *h = kt_pool_flags(64 * 1024, 16, KHEAP_F_NOCACHE);    /* frees reach the index */
    KT_ASSERT(h);
    unsigned char *a = kheap_alloc(h, 16), *r = kheap_alloc(h, 67 * 16);
    unsigned char *b = kheap_alloc(h, 16), *n = kheap_alloc(h, 66 * 16);
    unsigned char *c = kheap_alloc(h, 16);
    KT_ASSERT(a && r && b && n && c);
    KT_ASSERT(r == a + 16 && b == r + 67 * 16 && n == b + 16 && c == n + 66 * 16);
    kt_fill(a, 16, 1), kt_fill(b, 16, 2), kt_fill(c, 16, 3);
    KT_ASSERT(kheap_free(h, n) == 0);
    KT_ASSERT(kheap_free(h, r) == 0);       /* the newest: the head of class 48 */
    uintptr_t base = ((uintptr_t *)h)[CB_BASE];
    uint32_t rfirst = (uint32_t)(((uintptr_t)r - base) / 16);
    uint32_t nfirst = (uint32_t)(((uintptr_t)n - base) / 16);
    uint32_t *rh = (uint32_t *)r, *nh = (uint32_t *)n, *ix = (uint32_t *)((uintptr_t *)h)[CB_INDEX];
    ktest_expose(rh, 16);
    ktest_expose(nh, 16);
    unsigned cls = (6 - 4) * 16 + (67 >> 2);   /* 67: bsr 6 */
    KT_ASSERT(ix[IX_HEADS + cls] == rfirst);
    KT_ASSERT(rh[RUN_LEN] == 67 && rh[RUN_PREV] == NIL && rh[RUN_NEXT] == nfirst);
    KT_ASSERT(nh[RUN_LEN] == 66 && nh[RUN_PREV] == rfirst);
    KT_ASSERT(kheap_check(h) == 0);
    nh[RUN_PREV] = NIL;                     /* the write after free */
    reseal(nh, nfirst);
    int before = kt_faults.count;
    unsigned char *q = kheap_alloc(h, 16);
    KT_EXPECT(q != 0);
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT(kt_faults.last.kind == KHEAP_FAULT_CORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, ix);
    KT_EXPECT(q != a && q != b && q != c);
    KT_EXPECT(kt_intact(a, 16, 1) && kt_intact(b, 16, 2) && kt_intact(c, 16, 3));
    KT_EXPECT_EQ(kheap_check(h), 0);
}
