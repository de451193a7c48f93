/* test_kmalloc.c - the kernel-wide heap: init and re-init, the kmalloc family, ksize,
 * added regions served after the first fills, and bad frees reported against region one. */
#include "ktest.h"

#define REGION (64 * 1024)

KTEST(kmalloc_init_rejects_bad_memory)
{
    KT_EXPECT(kmalloc_init(0, REGION) == KHEAP_EINVAL);
    KT_EXPECT(kmalloc_init(kt_mem(64, 16), 32) == KHEAP_EINVAL);
    KT_EXPECT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    KT_EXPECT(kmalloc_heap() != 0);
}

KTEST(kmalloc_family_basics)
{
    KT_ASSERT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    kheap_t *h = kmalloc_heap();
    unsigned char *a = kmalloc(100);
    KT_ASSERT(a);
    KT_EXPECT(kheap_owns(h, a));
    KT_EXPECT_EQ(ksize(a), 112);
    KT_EXPECT_EQ((uintptr_t)a % 16, 0);
    kt_fill(a, 100, 1);
    unsigned char *z = kzalloc(300);
    KT_ASSERT(z);
    KT_EXPECT(kt_all_bytes(z, ksize(z), 0));
    unsigned char *c = kcalloc(10, 30);
    KT_ASSERT(c);
    KT_EXPECT_EQ(ksize(c), 304);
    KT_EXPECT(kt_all_bytes(c, 304, 0));
    KT_EXPECT(kcalloc(SIZE_MAX / 4, 8) == 0);
    KT_EXPECT_EQ(kmalloc(0), 0);
    KT_EXPECT_EQ(kzalloc(0), 0);
    unsigned char *al = kmalloc_aligned(64, 4096);
    KT_ASSERT(al);
    KT_EXPECT_EQ((uintptr_t)al % 4096, 0);
    KT_EXPECT(kmalloc_aligned(64, 24) == 0);
    KT_EXPECT_EQ(ksize(0), 0);
    KT_EXPECT_EQ(ksize(a + 16), 0);
    KT_EXPECT(kt_stats(h).failed_allocs == 2);
    kfree(z);
    kfree(c);
    kfree(al);
    kfree(0);
    KT_EXPECT(kt_intact(a, 100, 1));
    KT_EXPECT(kt_stats(h).live_allocs == 1);
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
}

KTEST(krealloc_rules)
{
    KT_ASSERT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    unsigned char *p = krealloc(0, 50);
    KT_ASSERT(p);
    kt_fill(p, 50, 2);
    unsigned char *wall = kmalloc(16);
    unsigned char *q = krealloc(p, 5000);
    KT_ASSERT(q);
    KT_ASSERT(q != p);
    KT_ASSERT(wall);
    KT_EXPECT(kt_intact(q, 50, 2));
    KT_EXPECT(ksize(p) == 0);
    KT_EXPECT(krealloc(q, REGION) == 0);                  /* fails: q stays */
    KT_EXPECT_EQ(ksize(q), 5008);
    KT_EXPECT(kt_intact(q, 50, 2));
    KT_EXPECT(krealloc(q, 0) == 0);
    KT_EXPECT(ksize(q) == 0);
    KT_EXPECT(krealloc(wall + 1, 10) == 0);               /* bad pointer: reported */
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INVALID);
    KT_EXPECT(kheap_check(kmalloc_heap()) == 0);
}

KTEST(kfree_bad_pointers_go_to_the_fault_hook)
{
    static unsigned char elsewhere[32];
    KT_ASSERT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    unsigned char *p = kmalloc(64);
    KT_ASSERT(p);
    kt_fill(p, 64, 3);
    struct kheap_stats before = kt_stats(kmalloc_heap());
    kfree(elsewhere);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INVALID);
    KT_EXPECT_EQ(kt_faults.last.heap, kmalloc_heap());
    KT_EXPECT_EQ(kt_faults.last.ptr, elsewhere);
    kfree(p + 16);
    KT_EXPECT_EQ(kt_faults.count, 2);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INTERIOR);
    kfree(p);
    kfree(p);
    KT_EXPECT_EQ(kt_faults.count, 3);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_DOUBLE_FREE);
    KT_EXPECT(kt_faults.last.caller != 0);
    struct kheap_stats after = kt_stats(kmalloc_heap());
    KT_EXPECT_EQ(after.faults, before.faults + 3);
    KT_EXPECT_EQ(after.live_allocs, 0);
    KT_EXPECT(kheap_check(kmalloc_heap()) == 0);
}

KTEST(kmalloc_add_region_serves_after_the_first_fills)
{
    KT_ASSERT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    kheap_t *first = kmalloc_heap();
    unsigned char *second_mem = kt_mem(REGION, 16);
    KT_ASSERT(kmalloc_add_region(second_mem, REGION) == 0);
    struct kheap_stats st = kt_stats(first);
    unsigned char *fill = kmalloc(st.capacity);           /* the first region is now full */
    KT_ASSERT(fill);
    KT_ASSERT(kheap_owns(first, fill));
    unsigned char *next = kmalloc(1000);
    KT_ASSERT(next);
    KT_EXPECT(!kheap_owns(first, next));
    KT_EXPECT(next > second_mem);
    KT_EXPECT(next < second_mem + REGION);
    kt_fill(next, 1000, 4);
    KT_EXPECT(ksize(next) == 1008);
    unsigned char *moved = krealloc(next, 2000);          /* grows in its own region */
    KT_EXPECT_EQ(moved, next);
    KT_EXPECT(kt_intact(moved, 1000, 4));
    unsigned char *wall = kmalloc(16);                    /* region two: right after it */
    KT_EXPECT(wall == moved + 2000);
    kfree(fill);
    unsigned char *back = krealloc(moved, 20000);         /* blocked: moves to region one */
    KT_ASSERT(back);
    KT_EXPECT(kheap_owns(first, back));
    KT_EXPECT(kt_intact(back, 1000, 4));
    KT_EXPECT(kmalloc(REGION * 2) == 0);                  /* no region can: one failure */
    KT_EXPECT(kt_stats(first).failed_allocs == 1);
    KT_EXPECT(ksize(moved) == 0);                         /* and region two freed it */
    kfree(back);
    kfree(wall);
    KT_EXPECT_EQ(kt_faults.count, 0);
    KT_EXPECT_EQ(kheap_check(first), 0);
}

KTEST(kmalloc_add_region_rejects_bad_regions)
{
    unsigned char *mem = kt_mem(3 * REGION, 16);
    KT_ASSERT(kmalloc_init(mem, REGION) == 0);
    KT_EXPECT(kmalloc_add_region(mem + REGION / 2, REGION) == KHEAP_EINVAL);   /* overlaps */
    KT_EXPECT(kmalloc_add_region(mem - 100, 200) == KHEAP_EINVAL);            /* overlaps */
    KT_EXPECT(kmalloc_add_region(mem + REGION, 40) == KHEAP_EINVAL);          /* too small */
    KT_EXPECT(kmalloc_add_region(0, REGION) == KHEAP_EINVAL);
    KT_EXPECT(kmalloc_add_region(mem + REGION, REGION) == 0);
    KT_EXPECT(kmalloc_add_region(mem + REGION, REGION) == KHEAP_EINVAL);      /* twice */
    KT_EXPECT(kmalloc_add_region(mem + 2 * REGION, REGION) == 0);
}

KTEST(kmalloc_init_again_recreates)
{
    unsigned char *one = kt_mem(REGION, 16), *two = kt_mem(REGION, 16);
    KT_ASSERT(kmalloc_init(one, REGION) == 0);
    KT_ASSERT(kmalloc_add_region(two, REGION) == 0);
    void *p = kmalloc(100);
    KT_ASSERT(p);
    KT_ASSERT(kmalloc_init(one, REGION) == 0);
    struct kheap_stats st = kt_stats(kmalloc_heap());
    KT_EXPECT_EQ(st.live_allocs, 0);
    KT_EXPECT_EQ(st.used, 0);
    KT_EXPECT_EQ(st.total_allocs, 0);
    KT_EXPECT(kmalloc_add_region(two, REGION) == 0);      /* region two was forgotten */
    KT_EXPECT(kmalloc(100) == p);
}

KTEST(krealloc_of_a_pointer_in_no_region_changes_nothing)
{
    static unsigned char elsewhere[64];
    KT_ASSERT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    unsigned char *p = kmalloc(100);
    KT_ASSERT(p);
    kt_fill(p, 100, 6);
    struct kheap_stats before = kt_stats(kmalloc_heap());
    KT_EXPECT(krealloc(elsewhere, 50) == 0);
    KT_EXPECT_EQ(kt_faults.count, 1);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INVALID);
    KT_EXPECT_EQ(kt_faults.last.ptr, elsewhere);
    KT_EXPECT_EQ(kt_faults.last.heap, kmalloc_heap());
    KT_EXPECT(krealloc(elsewhere, 0) == 0);               /* as a free: reported the same way */
    KT_EXPECT_EQ(kt_faults.count, 2);
    KT_EXPECT_EQ(kt_faults.last.kind, KHEAP_FAULT_INVALID);
    struct kheap_stats after = kt_stats(kmalloc_heap());
    KT_EXPECT(kt_stats_same(&before, &after));
    KT_EXPECT_EQ(after.faults, before.faults + 2);
    KT_EXPECT(after.failed_allocs == before.failed_allocs);
    KT_EXPECT(kt_intact(p, 100, 6));
    KT_EXPECT_EQ(ksize(elsewhere), 0);
}

KTEST(refused_regions_leave_the_kernel_heap_alone)
{
    KT_ASSERT(kmalloc_init(kt_mem(REGION, 16), REGION) == 0);
    kheap_t *h = kmalloc_heap();
    KT_EXPECT(kmalloc_init(0, REGION) == KHEAP_EINVAL);
    KT_EXPECT(kmalloc_heap() == h);
    unsigned char *odd = kt_mem(64, 16);
    KT_EXPECT(kmalloc_add_region(odd, 64) == KHEAP_EINVAL);   /* too small to be a pool */
    KT_EXPECT(kmalloc_add_region(odd, SIZE_MAX) == KHEAP_EINVAL);   /* wraps */
    KT_EXPECT(kmalloc(100) != 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}
