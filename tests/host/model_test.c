/* model_test.c - the model's own short test: hand-worked expectations for placement, bad
 * frees, realloc and the layout, and one cross-check of the layout against kheap_create. */
#include "ktest.h"
#include "model.h"

static struct model m;
static unsigned char state[64];
static uint64_t stamp[64];

/* A pool of 8 blocks of 16 bytes at address 0x1000. */
static void eight_blocks(void)
{
    model_init(&m, 0x1000, 16, 8, false, state, 0, stamp);
}

KTEST(model_placement_and_alignment)
{
    eight_blocks();
    KT_EXPECT(model_alloc(&m, 16, 1) == 0x1000);
    KT_EXPECT(model_alloc(&m, 17, 1) == 0x1010);          /* two blocks */
    KT_EXPECT(model_free(&m, 0x1000) == 0);
    KT_EXPECT(model_alloc(&m, 64, 64) == 0x1040);         /* 0x1000 is free but too small */
    KT_EXPECT(model_alloc(&m, 8, 1) == 0x1030);   /* the newest one-block run: the split's */
    KT_EXPECT(model_alloc(&m, 64, 1) == 0);               /* only 0x1000 is free */
    KT_EXPECT(model_alloc(&m, 0, 1) == 0);
    KT_EXPECT(model_alloc(&m, 16, 3) == 0);
    struct kheap_stats st;
    model_stats(&m, &st);
    KT_EXPECT_EQ(st.failed_allocs, 2);
    KT_EXPECT_EQ(st.live_allocs, 3);
    KT_EXPECT_EQ(st.used, 7 * 16);
    KT_EXPECT_EQ(st.largest_free, 16);
    KT_EXPECT_EQ(st.peak_used, 7 * 16);
}

KTEST(model_bad_frees)
{
    eight_blocks();
    KT_EXPECT(model_alloc(&m, 48, 1) == 0x1000);
    KT_EXPECT(model_free(&m, 0x1010) == KHEAP_EINTERIOR);
    KT_EXPECT(model_free(&m, 0x1001) == KHEAP_EINVAL);
    KT_EXPECT(model_free(&m, 0x1080) == KHEAP_EINVAL);    /* one past the end */
    KT_EXPECT(model_free(&m, 0x0ff0) == KHEAP_EINVAL);
    KT_EXPECT(model_free(&m, 0x1030) == KHEAP_EDOUBLE);   /* never allocated */
    KT_EXPECT(model_free(&m, 0x1000) == 0);
    KT_EXPECT(model_free(&m, 0x1000) == KHEAP_EDOUBLE);
    KT_EXPECT(model_free(&m, 0) == 0);
    struct kheap_stats st;
    model_stats(&m, &st);
    KT_EXPECT_EQ(st.faults, 6);
    KT_EXPECT_EQ(st.live_allocs, 0);
    KT_EXPECT_EQ(st.total_frees, 1);
}

KTEST(model_realloc_in_place_and_moved)
{
    int err;
    eight_blocks();
    KT_EXPECT(model_alloc(&m, 16, 1) == 0x1000);
    KT_EXPECT_EQ(model_realloc(&m, 0x1000, 48, &err), 0x1000);
    KT_EXPECT_EQ(err, 0);  /* grows */
    KT_EXPECT(model_usable(&m, 0x1000) == 48);
    KT_EXPECT(model_alloc(&m, 16, 1) == 0x1030);
    KT_EXPECT(model_realloc(&m, 0x1000, 64, &err) == 0x1040);   /* blocked: moves */
    KT_EXPECT(model_usable(&m, 0x1000) == 0);
    KT_EXPECT(model_realloc(&m, 0x1040, 16, &err) == 0x1040);   /* shrinks */
    KT_EXPECT_EQ(model_realloc(&m, 0x1040, 1000, &err), 0);
    KT_EXPECT_EQ(err, 0);
    KT_EXPECT_EQ(model_realloc(&m, 0x1048, 16, &err), 0);
    KT_EXPECT_EQ(err, KHEAP_EINVAL);
    KT_EXPECT_EQ(model_realloc(&m, 0x1040, 0, &err), 0);
    KT_EXPECT_EQ(err, 0);
    KT_EXPECT(model_usable(&m, 0x1040) == 0);
}

KTEST(model_runs_in_address_order)
{
    uintptr_t p;
    size_t size;
    bool used;
    eight_blocks();
    KT_EXPECT_EQ(model_alloc(&m, 32, 1), 0x1000);
    KT_EXPECT_EQ(model_alloc(&m, 16, 1), 0x1020);
    KT_EXPECT(model_free(&m, 0x1000) == 0);
    KT_ASSERT(model_run(&m, 0, &p, &size, &used));
    KT_EXPECT_EQ(p, 0x1000);
    KT_EXPECT_EQ(size, 32);
    KT_EXPECT(!used);
    KT_ASSERT(model_run(&m, 1, &p, &size, &used));
    KT_EXPECT_EQ(p, 0x1020);
    KT_EXPECT_EQ(size, 16);
    KT_EXPECT(used);
    KT_ASSERT(model_run(&m, 2, &p, &size, &used));
    KT_EXPECT_EQ(p, 0x1030);
    KT_EXPECT_EQ(size, 80);
    KT_EXPECT(!used);
    KT_EXPECT(!model_run(&m, 3, &p, &size, &used));
}

KTEST(model_geometry_by_hand_and_against_kheap)
{
    uintptr_t base;
    size_t n;
#if UINTPTR_MAX == 0xFFFFFFFFu
    /* i386. 4096 bytes at 0x1000: control (116 bytes) to 0x1074, three 7-word bitmaps to
     * 0x10c8, the index (class maps and top words 136 bytes, heads for 5 first levels: 320)
     * to 0x1290, the quick-cache set's header alone (32 bytes: fewer than 512 blocks, no
     * classes) to 0x12b0, a one-word summary and its mirror to 0x12b8, block 0 at 0x12c0,
     * then (0x2000 - 0x12c0) / 16 = 212 blocks (still 7 words). Debug, 8 more bytes a block:
     * n = 142 has 5-word bitmaps to 0x10b0, the side table to 0x1520, the index to 0x16e8,
     * the header to 0x1708, the summary to 0x1710, block 0 there, and its blocks end at
     * 0x1ff0; n = 143 would end at 0x2010. */
    const uintptr_t plain_base = 0x12c0, debug_base = 0x1710;
    const size_t plain_n = 212, debug_n = 142;
#else
    /* x86-64. 4096 bytes at 0x1000: control (232 bytes) to 0x10e8, three 4-word bitmaps
     * (96 bytes) to 0x1148, the index (136 bytes of class maps and top words, heads for 5
     * first levels: 320) to 0x1310, the set's header alone (64 bytes) to 0x1350, the summary
     * word and its mirror to 0x1360, block 0 there, then (0x2000 - 0x1360) / 16 = 202 blocks
     * (still 4 words). Debug, 16 more bytes a block: n = 104 has 2-word bitmaps to 0x1118,
     * the side table to 0x1798, the index (4 first levels) to 0x1920, the header to 0x1960,
     * the summary to 0x1970, block 0 there, and its blocks end at 0x1ff0; n = 105 would end
     * at 0x2010. */
    const uintptr_t plain_base = 0x1360, debug_base = 0x1970;
    const size_t plain_n = 202, debug_n = 104;
#endif
    KT_EXPECT(model_geometry(0x1000, 4096, 16, false, &base, &n));
    KT_EXPECT_EQ(base, plain_base);
    KT_EXPECT_EQ(n, plain_n);
    KT_EXPECT(!model_geometry(0x1000, 90, 16, false, &base, &n));
    KT_EXPECT(model_geometry(0x1000, 4096, 16, true, &base, &n));
    KT_EXPECT_EQ(base, debug_base);
    KT_EXPECT_EQ(n, debug_n);
    unsigned char *mem = kt_mem(5000, 16);
    KT_ASSERT(mem);
    kheap_t *h = kheap_create(mem + 3, 4999, 32);
    KT_ASSERT(h);
    KT_EXPECT(model_geometry((uintptr_t)mem + 3, 4999, 32, false, &base, &n));
    void *p = kheap_alloc(h, 1);
    KT_EXPECT_EQ((uintptr_t)p, base);
    KT_EXPECT_EQ(kt_stats(h).capacity, n * 32);
    h = kheap_create_flags(mem + 3, 4999, 32, KHEAP_F_DEBUG);
    KT_ASSERT(h);
    KT_EXPECT(model_geometry((uintptr_t)mem + 3, 4999, 32, true, &base, &n));
    p = kheap_alloc(h, 1);
    KT_EXPECT_EQ((uintptr_t)p, base);
    KT_EXPECT_EQ(kt_stats(h).capacity, n * 32);
    size_t big = 1 << 20;                   /* 65536 blocks: all 64 quick-cache classes */
    unsigned char *mem2 = kt_mem(big, 16);
    KT_ASSERT(mem2);
    h = kheap_create(mem2, big, 0);
    KT_ASSERT(h);
    KT_EXPECT(model_geometry((uintptr_t)mem2, big, 16, false, &base, &n));
    p = kheap_alloc(h, 1);
    KT_EXPECT_EQ((uintptr_t)p, base);
    KT_EXPECT_EQ(kt_stats(h).capacity, n * 16);
}

KTEST(model_debug_pool_keeps_the_guard_and_the_size_asked)
{
    static size_t asked[8];
    int err;
    model_init(&m, 0x1000, 16, 8, true, state, asked, stamp);
    KT_EXPECT(model_alloc(&m, 12, 1) == 0x1000);        /* 12 + 4 guard: one block */
    KT_EXPECT(model_alloc(&m, 13, 1) == 0x1010);        /* 13 + 4: two blocks */
    KT_EXPECT(model_usable(&m, 0x1010) == 13);
    KT_EXPECT(model_alloc(&m, 1, 1) == 0x1030);
    KT_EXPECT_EQ(model_realloc(&m, 0x1000, 12, &err), 0x1000);
    KT_EXPECT_EQ(model_usable(&m, 0x1000), 12);
    KT_EXPECT(model_realloc(&m, 0x1000, 13, &err) == 0x1040);   /* needs a second block */
}
