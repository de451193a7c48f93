/* before_init.c - every call of the kmalloc family before kmalloc_init is reported to the
 * fault hook (KHEAP_FAULT_INVALID, heap NULL) and does nothing. A program of its own, since
 * the other suites' tests set the kernel heap up and it cannot be taken down again. */
#include "ktest.h"

/* The one fault the last call made: INVALID, no heap, the pointer it was given. */
static bool reported(const void *ptr)
{
    bool ok = kt_faults.count == 1 && kt_faults.last.kind == KHEAP_FAULT_INVALID &&
              kt_faults.last.heap == 0 && kt_faults.last.ptr == ptr;
    kt_faults.count = 0;
    return ok;
}

KTEST(every_kmalloc_call_before_init_is_reported)
{
    char local[64];
    struct kheap_stats st = { .capacity = 1 };
    KT_EXPECT(kmalloc(32) == 0);
    KT_EXPECT(reported(0));
    KT_EXPECT(kzalloc(32) == 0);
    KT_EXPECT(reported(0));
    KT_EXPECT(kcalloc(4, 8) == 0);
    KT_EXPECT(reported(0));
    KT_EXPECT(kmalloc_aligned(64, 64) == 0);
    KT_EXPECT(reported(0));
    KT_EXPECT(krealloc(0, 16) == 0);
    KT_EXPECT(reported(0));
    KT_EXPECT(krealloc(local, 16) == 0);
    KT_EXPECT(reported(local));
    kfree(local);
    KT_EXPECT(reported(local));
    KT_EXPECT_EQ(ksize(local), 0);
    KT_EXPECT(reported(local));
    KT_EXPECT_EQ(kmalloc_add_region(local, sizeof local), KHEAP_EINVAL);
    KT_EXPECT(reported(local));
    KT_EXPECT_EQ(kmalloc_trim(), 0);
    KT_EXPECT(reported(0));
    kmalloc_get_stats(&st);
    KT_EXPECT_EQ(st.capacity, 0);
    KT_EXPECT(reported(0));
    kfree(0);                                   /* no-ops: no report */
    KT_EXPECT(kmalloc_heap() == 0);
    KT_EXPECT_EQ(kt_faults.count, 0);
}
