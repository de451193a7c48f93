/* test_corrupt.c - damage a pool on purpose: every single bit flipped in either bitmap,
 * counters that disagree, a damaged or foreign control block. kheap_check must report each,
 * and calls on a damaged handle must refuse and write nothing. */
#include "ktest.h"

/* Positions in the control block, as README's design section lists its fields. These tests
 * damage the layout on purpose, so they name it; a change of layout shows up here. */
enum { CB_SHIFT = 2, CB_BASE = 7, CB_HINT = 13, CB_FREE_BLOCKS = 14, CB_LIVE_ALLOCS = 15,
       CB_PEAK = 16, CB_CLASS_HINT = 22, CB_CLASSES = 16 };

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
    d->words = (blocks + 31) / 32;
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
        for (unsigned bit = 0; bit < 32; bit++) {
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
    KT_EXPECT(repaired == d->words * 32);
    KT_EXPECT(kt_intact(d->a, 48, 1) && kt_intact(d->b, 16, 2) && kt_intact(d->c, 80, 3));
    KT_EXPECT(kheap_free(d->h, d->b) == 0 && kheap_alloc(d->h, 16) == d->a + 48);  /* the hole */
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
    static const int fields[] = { CB_FREE_BLOCKS, CB_LIVE_ALLOCS, CB_PEAK, CB_HINT };
    static const int deltas[] = { 1, -1, 3 };
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    for (unsigned f = 0; f < 4; f++)
        for (unsigned k = 0; k < 3; k++) {
            if (fields[f] == CB_PEAK && deltas[k] > 0)
                continue;                               /* a higher peak is still true */
            uintptr_t saved = d.control[fields[f]];
            int before = kt_faults.count;
            d.control[fields[f]] += (uintptr_t)deltas[k];
            if (fields[f] == CB_PEAK)
                d.control[fields[f]] = 0;               /* below what is in use */
            KT_EXPECT(kheap_check(d.h) == KHEAP_ECORRUPT);
            KT_EXPECT(kt_faults.count == before + 1 && kt_faults.last.kind == KHEAP_FAULT_CORRUPT);
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
    static const int fields[] = { 0, CB_SHIFT, CB_BASE };
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    for (unsigned f = 0; f < 3; f++) {
        uintptr_t saved = d.control[fields[f]];
        d.control[fields[f]] ^= 0x40;
        /* the metadata: the control block and both bitmaps */
        KT_EXPECT(calls_refuse_and_write_nothing(d.h, d.b,
                  (size_t)((unsigned char *)(d.start + d.words) - (unsigned char *)d.h)));
        KT_EXPECT(kt_intact(d.a, 48, 1) && kt_intact(d.b, 16, 2) && kt_intact(d.c, 80, 3));
        d.control[fields[f]] = saved;
        KT_EXPECT(kheap_check(d.h) == 0);
    }
    KT_EXPECT(kt_intact(d.b, 16, 2) && kheap_free(d.h, d.b) == 0);
}

KTEST(foreign_handle_fails_safe)
{
    unsigned char *junk = kt_mem(4096, 16);
    KT_ASSERT(junk);
    kt_fill(junk, 4096, 77);
    KT_EXPECT(calls_refuse_and_write_nothing((kheap_t *)junk, junk + 512, 4096));
    KT_EXPECT(kt_intact(junk, 4096, 77));
}

KTEST(check_catches_a_class_hint_that_skips_a_free_run)
{
    struct damaged_pool d;
    KT_ASSERT(make(&d));
    /* A hint past every block claims no free run of 2^c blocks exists: false for every class
     * the free tail reaches, true (so not corruption) for the classes beyond it. */
    size_t tail = kt_stats(d.h).largest_free / 16;
    unsigned caught = 0, reached = 0;
    for (unsigned c = 0; c < CB_CLASSES; c++) {
        uintptr_t saved = d.control[CB_CLASS_HINT + c];
        int before = kt_faults.count;
        bool false_claim = ((size_t)1 << c) <= tail;
        reached += false_claim;
        d.control[CB_CLASS_HINT + c] = kt_stats(d.h).capacity / 16;
        int err = kheap_check(d.h);
        if (false_claim)
            caught += err == KHEAP_ECORRUPT && kt_faults.count == before + 1 &&
                      kt_faults.last.ptr == &d.control[CB_CLASS_HINT + c];
        else
            KT_EXPECT(err == 0);
        d.control[CB_CLASS_HINT + c] = saved;
        KT_EXPECT(kheap_check(d.h) == 0);
    }
    KT_EXPECT(reached >= 7 && caught == reached);
    uintptr_t saved = d.control[CB_CLASS_HINT + CB_CLASSES - 1];
    d.control[CB_CLASS_HINT + CB_CLASSES - 1] = kt_stats(d.h).capacity / 16 + 1;  /* past N */
    KT_EXPECT(kheap_check(d.h) == KHEAP_ECORRUPT);
    d.control[CB_CLASS_HINT + CB_CLASSES - 1] = saved;
    d.control[CB_CLASS_HINT] = 0;                   /* lowering is always allowed */
    KT_EXPECT(kheap_check(d.h) == 0);
    KT_EXPECT(kheap_alloc(d.h, 32) == d.a + 48);    /* and first fit is unchanged */
}
