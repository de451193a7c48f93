/* test_damage.c - one damaged metadata word at a time, as reproduced from outside: the module
 * must stay inside its region, refuse rather than guess, and leave every live byte intact. */
#include "ktest.h"

/* The default leaf of the run tree (asm/kheap_core.asm: 16 bitmap words); the control
 * block's word positions (CB_*) are in ktest.h. */
enum { NODE_PRE, NODE_SUF, NODE_BEST, NODE_WORDS };
#define LEAF_BLOCKS KT_LEAF_BLOCKS
#define TAIL 256                            /* bytes watched after each region */

static uintptr_t *control(kheap_t *h)
{
    return (uintptr_t *)h;
}

static uintptr_t *node(kheap_t *h, uintptr_t k, unsigned field)
{
    return (uintptr_t *)control(h)[CB_TREE] + k * NODE_WORDS + field;
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

/* About 2.5 leaves: 3 leaves, rounded up to 4, so the last lies wholly past the last block. */
#define PAST_SIZE (5 * LEAF_BLOCKS * 16 / 2)

KTEST(damaged_root_best_never_sends_the_search_past_the_pool)
{
    struct holed d;
    KT_ASSERT(full_pool_with_holes(&d, PAST_SIZE, 8));
    kheap_t *h = d.h;
    KT_EXPECT_EQ(control(h)[CB_LEAVES], 4);
    KT_EXPECT(control(h)[CB_NBLOCKS] <= 3 * LEAF_BLOCKS);
    uintptr_t saved = *node(h, 1, NODE_BEST);
    *node(h, 1, NODE_BEST) = control(h)[CB_NBLOCKS];   /* no child fits: right, right */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 2 * 16), 0);
    KT_EXPECT_PTR_EQ(kheap_alloc_aligned(h, 2 * 16, 256), 0);
    KT_EXPECT(holed_intact(&d, PAST_SIZE));
    KT_EXPECT_EQ(kheap_check(h), KHEAP_ECORRUPT);
    *node(h, 1, NODE_BEST) = saved;
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(damaged_left_suffix_cannot_start_a_run_below_block_0)
{
    struct holed d;
    KT_ASSERT(full_pool_with_holes(&d, PAST_SIZE, 8));
    kheap_t *h = d.h;
    uintptr_t saved[3] = { *node(h, 1, NODE_BEST), *node(h, 2, NODE_SUF), *node(h, 3, NODE_PRE) };
    uintptr_t half = 2 * LEAF_BLOCKS;                   /* the root's children's length */
    *node(h, 1, NODE_BEST) = 8;
    *node(h, 2, NODE_SUF) = half + 4;                   /* mid - suf: below block 0 */
    *node(h, 3, NODE_PRE) = 4;
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 8 * 16), 0);
    *node(h, 2, NODE_SUF) = half - ((uintptr_t)1 << (KT_WORD_BITS - 3));  /* far past the pool */
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 8 * 16), 0);
    KT_EXPECT(holed_intact(&d, PAST_SIZE));
    *node(h, 1, NODE_BEST) = saved[0], *node(h, 2, NODE_SUF) = saved[1];
    *node(h, 3, NODE_PRE) = saved[2];
    KT_EXPECT_EQ(kheap_check(h), 0);
}

/* One cleared pad bit: block N looks free. The free of the last block folds it into the
 * tree, but no run that ends past the last block is handed out. */
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
    KT_EXPECT_PTR_EQ(kheap_alloc(h, 16), control(h)[CB_BASE]);  /* the hole at block 0 */
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
    uintptr_t copy[CB_LEAVES + 1];
    for (unsigned k = 0; k <= CB_LEAVES; k++)
        copy[k] = first[k];
    int before = kt_faults.count;
    KT_EXPECT_PTR_EQ(krealloc(p, 4096), 0);                /* more than region 2 has after p */
    KT_EXPECT_EQ(kt_faults.count, before + 1);
    KT_EXPECT_PTR_EQ(kt_faults.last.ptr, first);
    unsigned changed = 0;
    for (unsigned k = 0; k <= CB_LEAVES; k++)
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

/* The hang the damage campaign found: an aligned request retries from round_up(b); a damaged
 * tree whose "middle" run starts before that point would send every retry back to b. Four
 * leaves; a one-block hole at an unaligned block u, the rest full; the lie: the right half
 * of the root holds a run across its middle that starts L.suf blocks before it, at u. */
KTEST(damaged_tree_cannot_send_an_aligned_search_round_forever)
{
    const size_t size = LEAF_BLOCKS * 15 / 4 * 16 + 2048;   /* 3.75 leaves of blocks */
    kheap_t *h = watched_pool(size, 0);
    KT_ASSERT(h);
    KT_ASSERT(control(h)[CB_LEAVES] == 4);
    unsigned u = (control(h)[CB_BASE] / 16) % 2 == 0 ? 1 : 0;  /* (base/16 + u) odd */
    unsigned char *single[2] = { kheap_alloc(h, 16), kheap_alloc(h, 16) };
    size_t rest = kt_stats(h).capacity - 32;
    unsigned char *big = kheap_alloc(h, rest);
    KT_ASSERT(single[0]);
    KT_ASSERT(single[1]);
    KT_ASSERT(big);
    kt_fill(big, rest, 4);
    KT_ASSERT(kheap_free(h, single[u]) == 0);
    *node(h, 3, NODE_BEST) = 1;
    *node(h, 6, NODE_SUF) = 3 * LEAF_BLOCKS - u;            /* mid - suf = u */
    KT_EXPECT_PTR_EQ(kheap_alloc_aligned(h, 16, 32), 0);     /* fails; never loops */
    KT_EXPECT(kt_intact(big, rest, 4));
    KT_EXPECT(tail_intact(h, size));
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
