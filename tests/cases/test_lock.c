/* test_lock.c - the lock hooks: every public call takes the lock once and gives back the
 * state it got, nothing runs the fault hook under the lock, and half a pair means none. */
#include "ktest.h"

static struct {
    int depth, max_depth, locks, mismatches, hook_depth;
    uintptr_t issued;
} lk;

static uintptr_t test_lock(void)
{
    lk.depth++;
    lk.locks++;
    if (lk.depth > lk.max_depth)
        lk.max_depth = lk.depth;
    return lk.issued = 0xA000u + (uintptr_t)lk.locks;
}

static void test_unlock(uintptr_t state)
{
    if (state != lk.issued)
        lk.mismatches++;
    lk.depth--;
}

static void hook_sees_depth(const struct kheap_fault *f)
{
    (void)f;
    lk.hook_depth = lk.depth;
}

/* Runs one call and checks it locked exactly once, balanced. */
#define LOCKED_ONCE(call) do {                              \
        int before_ = lk.locks;                             \
        call;                                               \
        KT_EXPECT(lk.locks == before_ + 1);                 \
        KT_EXPECT(lk.depth == 0);                           \
    } while (0)

static int count_run(void *ctx, void *p, size_t size, bool used)
{
    (void)p, (void)size, (void)used;
    ++*(int *)ctx;
    return 0;
}

KTEST(lock_wraps_every_pool_call)
{
    kheap_t *h = kt_pool(32 * 1024, 0);
    KT_ASSERT(h);
    lk = (typeof(lk)){0};
    kheap_set_lock(test_lock, test_unlock);
    void *p = 0, *q = 0;
    int runs = 0;
    struct kheap_stats st;
    LOCKED_ONCE(p = kheap_alloc(h, 100));
    LOCKED_ONCE(q = kheap_alloc_aligned(h, 100, 512));
    LOCKED_ONCE(kheap_free(h, q));
    LOCKED_ONCE(q = kheap_calloc(h, 4, 8));
    LOCKED_ONCE(p = kheap_realloc(h, p, 3000));
    LOCKED_ONCE(kheap_usable_size(h, p));
    LOCKED_ONCE(kheap_check(h));
    LOCKED_ONCE(kheap_get_stats(h, &st));
    LOCKED_ONCE(kheap_walk(h, count_run, &runs));
    LOCKED_ONCE(kheap_free(h, p));
    KT_EXPECT(p);
    KT_EXPECT(q);
    KT_EXPECT(runs > 0);
    KT_EXPECT_EQ(lk.max_depth, 1);
    KT_EXPECT_EQ(lk.mismatches, 0);
}

KTEST(lock_wraps_every_kmalloc_call)
{
    lk = (typeof(lk)){0};
    kheap_set_lock(test_lock, test_unlock);
    LOCKED_ONCE(KT_ASSERT(kmalloc_init(kt_mem(32 * 1024, 16), 32 * 1024) == 0));
    void *p = 0;
    LOCKED_ONCE(p = kmalloc(10));
    LOCKED_ONCE(p = krealloc(p, 200));
    LOCKED_ONCE(ksize(p));
    LOCKED_ONCE(kfree(p));
    LOCKED_ONCE(p = kzalloc(10));
    LOCKED_ONCE(kfree(p));
    LOCKED_ONCE(p = kcalloc(2, 10));
    LOCKED_ONCE(kfree(p));
    LOCKED_ONCE(p = kmalloc_aligned(10, 1024));
    LOCKED_ONCE(kfree(p));
    LOCKED_ONCE(kmalloc_add_region(kt_mem(8 * 1024, 16), 8 * 1024));
    KT_EXPECT_EQ(lk.max_depth, 1);
    KT_EXPECT_EQ(lk.mismatches, 0);
    kheap_set_lock(0, 0);
}

KTEST(fault_hook_runs_with_the_lock_released)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    unsigned char *p = kheap_alloc(h, 64);
    KT_ASSERT(p);
    lk = (typeof(lk)){0};
    lk.hook_depth = -1;
    kheap_set_lock(test_lock, test_unlock);
    kheap_set_fault_handler(hook_sees_depth);
    KT_EXPECT(kheap_free(h, p + 16) == KHEAP_EINTERIOR);
    KT_EXPECT(lk.hook_depth == 0);
    KT_EXPECT_EQ(lk.locks, 1);
    KT_EXPECT_EQ(lk.depth, 0);
}

KTEST(lock_with_one_hook_missing_is_no_lock)
{
    kheap_t *h = kt_pool(16 * 1024, 0);
    KT_ASSERT(h);
    lk = (typeof(lk)){0};
    kheap_set_lock(test_lock, 0);
    void *p = kheap_alloc(h, 16);
    kheap_set_lock(0, test_unlock);
    KT_EXPECT(kheap_free(h, p) == 0);
    KT_EXPECT(p != 0);
    KT_EXPECT_EQ(lk.locks, 0);
    KT_EXPECT_EQ(lk.depth, 0);
}
