/* test_damage.c - one damaged metadata word at a time, as reproduced from outside: the module
 * must stay inside its region, refuse rather than guess, and leave every live byte intact. */
#include "ktest.h"

/* The free-run index (I3 in asm/kheap_core.asm): a run header's dwords, the class maps before
 * the heads; the control block's word positions (CB_*) are in ktest.h. */
enum { RUN_LEN, RUN_NEXT, RUN_PREV, RUN_CHECK };
#define RUN_SEED 0x52554E53u
#define IX_HEADS 34
#define TAIL 256                            /* bytes watched after each region */

static uintptr_t *control(kheap_t *h)
{
    return (uintptr_t *)h;
}

static uint32_t *index_of(kheap_t *h)
{
    return (uint32_t *)control(h)[CB_INDEX];
}

/* The header of the free run at p, sealed again after a change (a forged write after free). */
static void reseal(kheap_t *h, void *p)
{
    uint32_t *r = p, first = (uint32_t)(((uintptr_t)p - control(h)[CB_BASE]) / 16);
    r[RUN_CHECK] = r[RUN_LEN] ^ r[RUN_NEXT] ^ r[RUN_PREV] ^ first ^ RUN_SEED;
}

/* A pool of `size` bytes followed by TAIL watched bytes (tag 99). */
static kheap_t *watched_pool(size_t size, unsigned flags)
{
    unsigned char *mem = kt_mem(size + TAIL, 16);
    if (!mem)
        return 0;
    kt_fill(mem + size, TAIL, 99);
    kheap_t *h = kheap_create_flags(mem, size, 16, flags);
    KT_EXPECT(h != 0);
    return h;
}

static bool tail_intact(kheap_t *h, size_t size)
{
    return kt_intact((unsigned char *)h + size, TAIL, 99);
}

/* A full pool of `size` bytes but for `holes` one-block holes at its start (blocks 0, 2, 4,
 * ...), so that free_blocks lets a request of up to `holes` blocks reach the search, and no
 * run of two blocks exists. *p is the rest of the pool but the last block, *last that block;
 * both hold patterns 5 and 6. */
struct holed {
    kheap_t *h;
    unsigned char *p, *last;
    size_t bytes;
};

static bool full_pool_with_holes(struct holed *d, size_t size, unsigned holes)
{
    void *single[64];
    d->h = watched_pool(size, KHEAP_F_NOCACHE);    /* the holes are in the bitmaps */
    if (!d->h || holes > 32)
        return false;
    for (unsigned k = 0; k < 2 * holes; k++)
        if (!(single[k] = kheap_alloc(d->h, 16)))
            return false;
    d->bytes = kt_stats(d->h).capacity - (2 * holes + 1) * 16;
    d->p = kheap_alloc(d->h, d->bytes);
    d->last = kheap_alloc(d->h, 16);
    if (!d->p || !d->last)
        return false;
    for (unsigned k = 0; k < 2 * holes; k += 2)
        if (kheap_free(d->h, single[k]) != 0)
            return false;
    kt_fill(d->p, d->bytes, 5), kt_fill(d->last, 16, 6);
    return kheap_check(d->h) == 0;
}

static bool holed_intact(const struct holed *d, size_t size)
{
    return kt_intact(d->p, d->bytes, 5) && kt_intact(d->last, 16, 6) && tail_intact(d->h, size);
}

#define HOLED_SIZE (20 * 1024)

/* Class words that lie: a first level past the last one, and a class whose bit is set with
 * no head. The search never reads past the index, reports it and makes it anew; the request
 * fails only because no run fits, and every live byte stays. */
KTEST(damaged_class_words_never_send_the_search_past_the_index)
{
    struct holed d;
    KT_ASSERT(full_pool_with_holes(&d, HOLED_SIZE, 8));
    kheap_t *h = d.h;
    uint32_t *ix = index_of(h);
    int before = kt_faults.count;
    ix[0] |= 1u << 30;                                   /* past fls */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 2 * 16), 0);
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, ix);
    KT_EXPECT_EQ(kheap_check(h), 0);                     /* made anew */
    ix[1] |= 1u << 2;                                    /* class 2: no head */
    ix[0] |= 1u;
    KT_EXPECT_PTR_EQ(kheap_alloc_aligned(h, 2 * 16, 256), 0);
    KT_EXPECT_EQ(kt_faults.count, before + 2);
    KT_EXPECT(holed_intact(&d, HOLED_SIZE));
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT(kheap_alloc(h, 16) != 0);                  /* the holes still serve */
}

/* A head that names a used block, and one that names a block past the pool: neither is
 * handed out. */
KTEST(damaged_head_never_hands_out_a_used_block)
{
    struct holed d;
    KT_ASSERT(full_pool_with_holes(&d, HOLED_SIZE, 8));
    kheap_t *h = d.h;
    uint32_t *ix = index_of(h);
    uint32_t saved = ix[IX_HEADS + 1];                   /* class 1: the holes */
    ix[IX_HEADS + 1] = (uint32_t)((d.p - (unsigned char *)control(h)[CB_BASE]) / 16);
    unsigned char *q = kheap_alloc(h, 16);
    KT_EXPECT(q != 0 && (q < d.p || q >= d.p + d.bytes) && q != d.last);
    ix[IX_HEADS + 1] = 0xFFFFFFF0u;
    q = kheap_alloc(h, 16);
    KT_EXPECT(q != 0 && (q < d.p || q >= d.p + d.bytes) && q != d.last);
    (void)saved;
    KT_EXPECT(holed_intact(&d, HOLED_SIZE));
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* One cleared pad bit: block N looks free. The free of the last block does not join it to
 * the run there, and no run that ends past the last block is handed out. */
KTEST(damaged_pad_bit_never_extends_a_run_past_the_pool)
{
    struct holed d;
    KT_ASSERT(full_pool_with_holes(&d, 4096 + 16 * 7, 1));
    kheap_t *h = d.h;
    uintptr_t n = control(h)[CB_NBLOCKS];
    KT_ASSERT(n % KT_WORD_BITS != 0);                      /* the last word has pad bits */
    KT_ASSERT(d.last == d.p + d.bytes);
    uintptr_t *used = (uintptr_t *)control(h)[CB_USED];
    used[n / KT_WORD_BITS] &= ~((uintptr_t)1 << (n % KT_WORD_BITS));
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    KT_EXPECT_EQ(kheap_free(h, d.last), 0);
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 2 * 16), 0);
    KT_EXPECT(kt_intact(d.p, d.bytes, 5));
    KT_EXPECT(tail_intact(h, 4096 + 16 * 7));
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), (void *)control(h)[CB_BASE]);  /* the hole first */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), d.last);   /* then the top run, of one block: inside */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), 0);        /* and nothing past it */
}

/* A debug pool's side-table size that is not below the allocation's length (one flipped
 * bit): realloc refuses (the size asked for is unknown), usable_size gives 0, and nothing is
 * written past the allocation. */
KTEST(damaged_side_table_size_fails_realloc_safely)
{
    kheap_t *h = watched_pool(16 * 1024, KHEAP_F_DEBUG);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 40), *wall = kheap_alloc(h, 16);
    KT_ASSERT(p);
    KT_ASSERT(wall);
    kt_fill(p, 40, 7), kt_fill(wall, 16, 8);
    uintptr_t i = ((uintptr_t)p - control(h)[CB_BASE]) >> control(h)[CB_SHIFT];
    uintptr_t *size = (uintptr_t *)control(h)[CB_SIDE] + 2 * i + 1;  /* {caller, size} */
    KT_ASSERT(*size == 40);
    for (unsigned bit = 6; bit < KT_WORD_BITS; bit++) {
        *size = 40 ^ ((uintptr_t)1 << bit);
        int before = kt_faults.count;
        KT_EXPECT_PTR_EQ(kheap_realloc(h, p, 100), 0);
        KT_EXPECT_EQ(kt_faults.count, before + 1);
        KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
        KT_EXPECT_EQ(kheap_usable_size(h, p), 0);
        KT_EXPECT(kt_intact(p, 40, 7));
        KT_EXPECT(kt_intact(wall, 16, 8));
    }
    KT_EXPECT(tail_intact(h, 16 * 1024));
    *size = 40;
    KT_EXPECT_EQ(kheap_check(h), 0);
    unsigned char *q = kheap_realloc(h, p, 100);        /* moved past the wall, as usual */
    KT_EXPECT(q > wall);
    KT_EXPECT(kt_intact(q, 40, 7));
}

#define REGION (16 * 1024)

/* A kmalloc heap of two watched regions, the first full. Returns a live block of region 2. */
static unsigned char *two_regions(kheap_t **r2)
{
    unsigned char *m1 = kt_mem(REGION + TAIL, 16), *m2 = kt_mem(REGION + TAIL, 16);
    if (!m1 || !m2)
        return 0;
    kt_fill(m1 + REGION, TAIL, 99), kt_fill(m2 + REGION, TAIL, 99);
    if (kmalloc_init(m1, REGION) != 0 || kmalloc_add_region(m2, REGION) != 0)
        return 0;
    *r2 = (kheap_t *)m2;
    void *fill = kmalloc(kt_stats(kmalloc_heap()).capacity);
    unsigned char *p = kmalloc(64);
    if (!fill || !p || !kheap_owns(*r2, p))
        return 0;
    kt_fill(p, 64, 9);
    return p;
}

static bool regions_intact(kheap_t *r2)
{
    return tail_intact(kmalloc_heap(), REGION) && tail_intact(r2, REGION);
}

KTEST(damaged_second_region_is_never_used)
{
    kheap_t *r2;
    unsigned char *p = two_regions(&r2);
    KT_ASSERT(p);
    control(r2)[CB_NBLOCKS] ^= 1;
    int before = kt_faults.count;
    KT_EXPECT_PTR_EQ(kmalloc(16), 0);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, r2);
    KT_EXPECT_PTR_EQ(krealloc(p, 128), 0);
    kfree(p);
    KT_EXPECT_EQ(kt_faults.count, before + 3);
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), KHEAP_ECORRUPT);   /* the check walks the chain */
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, r2);
    KT_EXPECT(kt_intact(p, 64, 9));
    KT_EXPECT(regions_intact(r2));
    control(r2)[CB_NBLOCKS] ^= 1;
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
    KT_EXPECT_EQ(ksize(p), 64);
}

KTEST(damaged_next_link_is_never_followed)
{
    kheap_t *r2;
    unsigned char *p = two_regions(&r2);
    KT_ASSERT(p);
    kheap_t *first = kmalloc_heap();
    uintptr_t saved = control(first)[CB_NEXT];
    control(first)[CB_NEXT] = (uintptr_t)p + 0x4000000;   /* anywhere */
    int before = kt_faults.count;
    KT_EXPECT_PTR_EQ(kmalloc(16), 0);
    kfree(p);
    KT_EXPECT_EQ(ksize(p), 0);
    KT_EXPECT_EQ(kheap_check(first), KHEAP_ECORRUPT);
    unsigned char *more = kt_mem(REGION, 16);
    KT_ASSERT(more);
    KT_EXPECT_EQ(kmalloc_add_region(more, REGION), KHEAP_ECORRUPT);
    KT_EXPECT_EQ(kt_faults.count, before + 4);              /* kmalloc, kfree, check, add */
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, first);
    KT_EXPECT(kt_intact(p, 64, 9));
    KT_EXPECT(regions_intact(r2));
    control(first)[CB_NEXT] = saved;
    KT_EXPECT_EQ(kheap_check(first), 0);
    KT_EXPECT_EQ(ksize(p), 64);
}

/* krealloc counts its failure in, and may move into, the first region: checked first. */
KTEST(damaged_first_region_is_not_written_by_krealloc)
{
    kheap_t *r2;
    unsigned char *p = two_regions(&r2);
    KT_ASSERT(p);
    uintptr_t *first = control(kmalloc_heap());
    first[CB_SHIFT] ^= 1;
    uintptr_t copy[CB_SHAPE + 1];
    for (unsigned k = 0; k <= CB_SHAPE; k++)
        copy[k] = first[k];
    int before = kt_faults.count;
    KT_EXPECT_PTR_EQ(krealloc(p, 4096), 0);                /* more than region 2 has after p */
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, first);
    unsigned changed = 0;
    for (unsigned k = 0; k <= CB_SHAPE; k++)
        changed += copy[k] != first[k];
    KT_EXPECT_EQ(changed, 0);
    KT_EXPECT(kt_intact(p, 64, 9));
    first[CB_SHIFT] ^= 1;
    KT_EXPECT_EQ(kheap_check(kmalloc_heap()), 0);
}

/* A second kmalloc_init over the live heap rebuilds it only once the lock is held: the lock
 * hook still sees the old heap's live allocations. */
static uintptr_t live_seen_at_lock;
static uintptr_t *watched_control;
static uintptr_t snapshot_lock(void)
{
    live_seen_at_lock = watched_control[CB_LIVE_ALLOCS];
    return 0;
}
static void plain_unlock(uintptr_t state)
{
    (void)state;
}

KTEST(second_kmalloc_init_rebuilds_under_the_lock)
{
    unsigned char *mem = kt_mem(REGION, 16);
    KT_ASSERT(mem);
    KT_ASSERT(kmalloc_init(mem, REGION) == 0);
    KT_ASSERT(kmalloc(16));
    KT_ASSERT(kmalloc(16));
    KT_ASSERT(kmalloc(16));
    watched_control = (uintptr_t *)kmalloc_heap();
    kheap_set_lock(snapshot_lock, plain_unlock);
    int err = kmalloc_init(mem, REGION);
    kheap_set_lock(0, 0);
    KT_EXPECT_EQ(err, 0);
    KT_EXPECT_EQ(live_seen_at_lock, 3);
    KT_EXPECT_EQ(kt_stats(kmalloc_heap()).live_allocs, 0);
}

/* A forged loop in a class list (two runs of 32 blocks naming each other, their check words
 * right): a request of 33 blocks walks their class (32 and 33 share one, and no run of it
 * holds 33), counts the runs it visits, calls more than the pool's blocks a loop, reports
 * it and makes the index anew; it fails, and never hangs. */
KTEST(looped_class_list_cannot_make_a_search_run_forever)
{
    const size_t size = 16 * 1024;
    kheap_t *h = watched_pool(size, KHEAP_F_NOCACHE);
    KT_ASSERT(h);
    unsigned char *run[2], *wall[2];
    for (unsigned k = 0; k < 2; k++) {
        run[k] = kheap_alloc(h, 32 * 16);
        wall[k] = kheap_alloc(h, 16);
        KT_ASSERT(run[k] && wall[k]);
    }
    size_t rest = kt_stats(h).capacity - 2 * 33 * 16;
    unsigned char *big = kheap_alloc(h, rest);
    KT_ASSERT(big);
    kt_fill(big, rest, 4);
    KT_ASSERT(kheap_free(h, run[0]) == 0 && kheap_free(h, run[1]) == 0);
    uintptr_t base = control(h)[CB_BASE];
    uint32_t a = (uint32_t)(((uintptr_t)run[0] - base) / 16);
    uint32_t b = (uint32_t)(((uintptr_t)run[1] - base) / 16);
    uint32_t *ra = (uint32_t *)run[0], *rb = (uint32_t *)run[1];
    ktest_expose(ra, 16);                   /* the write after free */
    ktest_expose(rb, 16);
    KT_ASSERT(ra[RUN_LEN] == 32 && rb[RUN_LEN] == 32);
    ra[RUN_NEXT] = b, ra[RUN_PREV] = b;     /* a -> b -> a -> ... */
    rb[RUN_NEXT] = a, rb[RUN_PREV] = a;
    reseal(h, ra);
    reseal(h, rb);
    int before = kt_faults.count;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 33 * 16), 0);            /* fails; never loops */
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT(kt_intact(big, rest, 4));
    KT_EXPECT(tail_intact(h, size));
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* The boundary summary (I6 in asm/kheap_core.asm): level 1 has a bit per bitmap word, each
 * level word followed by its complement. A long allocation is measured through it. */
#define LONG_BYTES (300u * 1024)            /* wider than a level-1 word's reach */

struct measured {
    kheap_t *h;
    unsigned char *big, *next;
    uintptr_t *level1;                      /* the summary's first level */
    uintptr_t end_word;                     /* the bitmap word holding big's end */
};

static bool long_allocation(struct measured *m)
{
    m->h = watched_pool(1024 * 1024, KHEAP_F_NOCACHE);
    if (!m->h)
        return false;
    m->big = kheap_alloc(m->h, LONG_BYTES);
    m->next = kheap_alloc(m->h, 16);        /* right after it: its end is a start bit */
    if (!m->big || !m->next || m->next != m->big + LONG_BYTES)
        return false;
    kt_fill(m->big, LONG_BYTES, 7), kt_fill(m->next, 16, 8);
    m->level1 = (uintptr_t *)control(m->h)[CB_SUMMARY];
    m->end_word = ((uintptr_t)m->next - control(m->h)[CB_BASE]) / 16 / KT_WORD_BITS;
    return kheap_usable_size(m->h, m->big) == LONG_BYTES && kheap_check(m->h) == 0;
}

KTEST(damaged_summary_word_is_reported_and_rebuilt_never_trusted)
{
    struct measured m;
    KT_ASSERT(long_allocation(&m));
    uintptr_t j = m.end_word / KT_WORD_BITS, bit = m.end_word % KT_WORD_BITS;
    m.level1[2 * j] &= ~((uintptr_t)1 << bit);  /* big would run on over next */
    KT_EXPECT_EQ(kheap_check(m.h), KHEAP_ECORRUPT);
    kt_faults.count = 0;
    KT_EXPECT_EQ(kheap_usable_size(m.h, m.big), LONG_BYTES);   /* measured by the bitmaps */
    KT_EXPECT_EQ(kheap_free(m.h, m.big), 0);
    KT_EXPECT_EQ(kt_faults.count, 1);                           /* reported once .. */
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT_EQ(kheap_check(m.h), 0);                          /* .. and rebuilt */
    KT_EXPECT(kt_intact(m.next, 16, 8));
    KT_EXPECT_EQ(kheap_usable_size(m.h, m.next), 16);
    KT_EXPECT(tail_intact(m.h, 1024 * 1024));
}

KTEST(summary_bit_over_a_word_without_boundary_is_not_trusted)
{
    struct measured m;
    KT_ASSERT(long_allocation(&m));
    uintptr_t inner = m.end_word - 1;       /* a word wholly inside big */
    uintptr_t j = inner / KT_WORD_BITS, bit = inner % KT_WORD_BITS;
    KT_ASSERT(bit != 0 || j > 0);
    m.level1[2 * j] |= (uintptr_t)1 << bit; /* two words, consistent with each other */
    m.level1[2 * j + 1] = ~m.level1[2 * j];
    KT_EXPECT_EQ(kheap_check(m.h), KHEAP_ECORRUPT);
    kt_faults.count = 0;
    KT_EXPECT_EQ(kheap_free(m.h, m.big), 0);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kheap_check(m.h), 0);
    KT_EXPECT(kt_intact(m.next, 16, 8));
}

/* Size 0 is refused before anything else reads the counters: with free_blocks damaged to its
 * largest value, no request of size 0 reaches the search (a zero-length run). */
KTEST(size_zero_is_refused_whatever_the_free_count_says)
{
    kheap_t *h = watched_pool(64 * 1024, 0);
    KT_ASSERT(h);
    uintptr_t kept = control(h)[CB_FREE_BLOCKS];
    control(h)[CB_FREE_BLOCKS] = ~(uintptr_t)0;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 0), 0);
    KT_EXPECT_PTR_EQ(kheap_calloc(h, 0, 16), 0);
    control(h)[CB_FREE_BLOCKS] = kept;
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT(tail_intact(h, 64 * 1024));
}

KTEST(damaged_summary_mirror_is_reported_by_check_and_by_realloc)
{
    struct measured m;
    KT_ASSERT(long_allocation(&m));
    uintptr_t j = m.end_word / KT_WORD_BITS;
    m.level1[2 * j + 1] ^= 1;               /* the mirror alone */
    KT_EXPECT_EQ(kheap_check(m.h), KHEAP_ECORRUPT);
    kt_faults.count = 0;
    unsigned char *p = kheap_realloc(m.h, m.big, LONG_BYTES / 2);    /* measured, shrunk */
    KT_EXPECT_PTR_EQ(p, m.big);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_CORRUPT);
    KT_EXPECT_EQ(kheap_check(m.h), 0);                          /* rebuilt */
    KT_EXPECT(kt_intact(m.big, LONG_BYTES / 2, 7));
    KT_EXPECT(kt_intact(m.next, 16, 8));
    KT_EXPECT_EQ(kheap_usable_size(m.h, m.big), LONG_BYTES / 2);
}
