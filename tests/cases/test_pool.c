/* test_pool.c - kheap_create: bad arguments, geometry, block sizes, odd alignment, tiny pools.
 * Every pool lives in scratch memory from kt_mem. */
#include "ktest.h"

KTEST(create_rejects_bad_arguments)
{
    unsigned char *mem = kt_mem(4096, 16);
    KT_EXPECT(kheap_create(0, 4096, 0) == 0);
    KT_EXPECT(kheap_create(mem, 0, 0) == 0);
    KT_EXPECT(kheap_create(mem, 40, 0) == 0);            /* smaller than the control block */
    KT_EXPECT(kheap_create(mem, 4096, 3) == 0);
    KT_EXPECT(kheap_create(mem, 4096, 24) == 0);
    KT_EXPECT(kheap_create(mem, 4096, 2) == 0);           /* below the 4-byte minimum */
    KT_EXPECT(kheap_create(mem, 4096, (size_t)1 << 21) == 0); /* above the 1 MiB maximum */
    KT_EXPECT(kheap_create(mem, SIZE_MAX, 0) == 0);       /* wraps past the address space */
    KT_EXPECT(kheap_create(mem, 4096, 0) != 0);           /* and the same memory is fine */
}

KTEST(create_default_geometry)
{
    size_t size = 1024 * 1024;
    unsigned char *mem = kt_mem(size, 4096);
    kheap_t *h = kheap_create(mem, size, 0);
    KT_ASSERT(h != 0);
    KT_EXPECT((unsigned char *)h >= mem);
    KT_EXPECT((unsigned char *)h < mem + 64);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT(st.block_size == KHEAP_DEFAULT_BLOCK);
    KT_EXPECT(st.capacity % KHEAP_DEFAULT_BLOCK == 0);
    /* overhead: a control block, three bits per block, the free-run index and the summary
     * (together under 3/512 of the pool here: the index is 136 bytes and 64 a power of two of
     * blocks, the summary a word and its mirror per word of bits of bitmap words), the quick
     * caches (a set: a header and 64 classes of KT_CACHE_DEPTH + 1 dwords) and less than a
     * block of pad */
    KT_EXPECT(st.capacity >= size - 256 - size / 128 * 3 - size / 512 * 3
                             - KHEAP_CPU_SET_BYTES - 2 * KHEAP_DEFAULT_BLOCK);
    KT_EXPECT(st.capacity <= size - size / 65);
    KT_EXPECT_EQ(st.used, 0);
    KT_EXPECT_EQ(st.live_allocs, 0);
    KT_EXPECT_EQ(st.peak_used, 0);
    KT_EXPECT(st.largest_free == st.capacity);
    KT_EXPECT(kheap_check(h) == 0);
    unsigned char *p = kheap_alloc(h, st.capacity);      /* the whole block area, in bounds */
    KT_ASSERT(p != 0);
    KT_EXPECT(p > (unsigned char *)h);
    KT_EXPECT(p + st.capacity <= mem + size);
}

KTEST(create_other_block_sizes)
{
    static const size_t sizes[] = { 4, 8, 32, 64, 256, 4096 };
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t bs = sizes[i];
        kheap_t *h = kheap_create(kt_mem(256 * 1024, 16), 256 * 1024, bs);
        KT_ASSERT(h != 0);
        KT_EXPECT(kt_stats(h).block_size == bs);
        unsigned char *a = kheap_alloc(h, 1), *b = kheap_alloc(h, bs + 1);
        KT_ASSERT(a);
        KT_ASSERT(b);
        KT_EXPECT_EQ((uintptr_t)a % bs, 0);
        KT_EXPECT_EQ((uintptr_t)b % bs, 0);
        KT_EXPECT(kheap_usable_size(h, a) == bs);
        KT_EXPECT(kheap_usable_size(h, b) == 2 * bs);
        KT_EXPECT(b == a + bs);                           /* the rest of the run: right after a */
        KT_EXPECT_EQ(kheap_free(h, a), 0);
        KT_EXPECT_EQ(kheap_free(h, b), 0);
        KT_EXPECT(kheap_check(h) == 0);
    }
}

KTEST(create_on_unaligned_memory)
{
    unsigned char *mem = (unsigned char *)kt_mem(64 * 1024 + 8, 16) + 3;
    kheap_t *h = kheap_create(mem, 64 * 1024, 0);
    KT_ASSERT(h != 0);
    KT_EXPECT((uintptr_t)h % sizeof(void *) == 0);
    struct kheap_stats st = kt_stats(h);
    unsigned char *p = kheap_alloc(h, st.capacity);
    KT_ASSERT(p != 0);
    KT_EXPECT((uintptr_t)p % KHEAP_DEFAULT_BLOCK == 0);
    KT_EXPECT(p >= mem);
    KT_EXPECT(p + st.capacity <= mem + 64 * 1024);
    kt_fill(p, st.capacity, 7);                           /* writes the whole area */
    KT_EXPECT(kheap_check(h) == 0);
    KT_EXPECT(kt_intact(p, st.capacity, 7));
}

KTEST(create_smallest_pool_holds_one_block)
{
    unsigned char *mem = kt_mem(1024, 64);
    size_t size;
    kheap_t *h = 0;
    for (size = 16; size <= 1024 && !h; size += 4)       /* the first size that works */
        h = kheap_create(mem, size, 64);
    KT_ASSERT(h != 0);
    struct kheap_stats st = kt_stats(h);
    KT_EXPECT(st.capacity == 64);
    void *p = kheap_alloc(h, 64);
    KT_EXPECT(p != 0);
    KT_EXPECT(kheap_alloc(h, 1) == 0);
    KT_EXPECT(kt_stats(h).failed_allocs == 1);
    KT_EXPECT(kheap_free(h, p) == 0);
    KT_EXPECT(kheap_check(h) == 0);
}
