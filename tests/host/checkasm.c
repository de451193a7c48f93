/* checkasm.c - every exported routine of asm/kheap_core.asm keeps the ABI's callee-saved registers,
 * the stack pointer and the direction flag (clear), on its paths that matter: each call goes
 * through checkasm_call (tests/host/checkasm.asm), which loads those registers with fresh
 * random values and reports any that differ on return. A host program at both widths. */
#include "ktest.h"

/* asm/kheap_core.asm's routines, by address alone: every call goes through checkasm_call below,
 * with the arguments the routine table at the top of that file gives. */
extern const char kh_init[], kh_take[], kh_claim[], kh_release[], kh_mark[], kh_unmark[],
    kh_index_build[], kh_largest_run[], kh_run_start[], kh_run_end[], kh_next_used[], kh_next_free[], kh_alloc_blocks[], kh_summary_build[], kh_block_of[], kh_cache_take[],
    kh_cache_put[], kh_fast_alloc[], kh_fast_free[], kh_heap_alloc[], kh_heap_free[], kh_cpu_alloc[], kh_cpu_free[], kh_geometry[], kh_handle_ok[], kh_fill[], kh_unlike[], kh_copy[];

/* tests/host/checkasm.asm */
uintptr_t checkasm_call(void *fn, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3,
                        uintptr_t a4);
extern uintptr_t checkasm_values[];
extern uintptr_t checkasm_clobbered;

#if UINTPTR_MAX > 0xffffffffu
static const char *const kept[] = { "rbx", "rbp", "r12", "r13", "r14", "r15", "rsp", "DF" };
#else
static const char *const kept[] = { "ebx", "esi", "edi", "ebp", "esp", "DF" };
#endif
#define NKEPT (sizeof kept / sizeof kept[0])
#define NSAVED (NKEPT - 2)                  /* the registers; then the stack pointer and DF */

static char why[160];                       /* the failure's text: routine and registers */

static void append(size_t *at, const char *s)
{
    while (*s && *at < sizeof why - 1)
        why[(*at)++] = *s++;
    why[*at] = 0;
}

/* Calls fn(a0, .., a4) through the trampoline; a failed check names fn and every register
 * it did not keep. Returns fn's result. */
static uintptr_t checked(const char *name, void *fn, uintptr_t a0, uintptr_t a1, uintptr_t a2,
                         uintptr_t a3, uintptr_t a4, const char *file, int line)
{
    for (size_t i = 0; i < NSAVED; i++) {
        uintptr_t v = kt_rand();
        if (sizeof v > 4)
            v = (v << 16 << 16) | kt_rand();
        checkasm_values[i] = v;
    }
    uintptr_t r = checkasm_call(fn, a0, a1, a2, a3, a4);
    size_t at = 0;
    why[0] = 0;
    append(&at, name);
    append(&at, " keeps");
    for (size_t i = 0; i < NKEPT; i++)
        if (checkasm_clobbered & ((uintptr_t)1 << i)) {
            append(&at, " !");
            append(&at, kept[i]);
        }
    kt_expect(checkasm_clobbered == 0, file, line, why);
    return r;
}

/* CALL(routine, arguments...): up to five; the missing ones are 0. */
#define CALL(...) CALL5(__VA_ARGS__, 0, 0, 0, 0, 0)
#define CALL5(fn, a0, a1, a2, a3, a4, ...)                                              \
    checked(#fn, (void *)(fn), (uintptr_t)(a0), (uintptr_t)(a1), (uintptr_t)(a2),       \
            (uintptr_t)(a3), (uintptr_t)(a4), __FILE__, __LINE__)

/* The check itself: routines that break the rule are caught (tests/host/checkasm.asm). */
void checkasm_clobber_first(void);          /* changes ebx / rbx */
void checkasm_leave_df_set(void);           /* returns with the direction flag set */

KTEST(checkasm_catches_a_clobbered_register_and_a_set_direction_flag)
{
    checkasm_call((void *)checkasm_clobber_first, 0, 0, 0, 0, 0);
    KT_EXPECT_EQ(checkasm_clobbered, 1);
    checkasm_call((void *)checkasm_leave_df_set, 0, 0, 0, 0, 0);
    KT_EXPECT_EQ(checkasm_clobbered, (uintptr_t)1 << (NKEPT - 1));
}

/* A pool whose quick caches exist (8 classes) and whose index has several first levels. */
#define POOL_BYTES (256u * 1024)
#define IX_TOP 32                           /* the index area's dword naming the top run (I3) */
static kheap_t *pool(void)
{
    return kt_pool_flags(POOL_BYTES, 16, 0);
}

KTEST(kh_init_keeps_the_registers)
{
    void *mem = kt_mem(POOL_BYTES, 16);
    KT_ASSERT(mem != NULL);
    KT_EXPECT(CALL(kh_init, mem, POOL_BYTES, 4, 0, 1) == (uintptr_t)mem);
    KT_EXPECT(CALL(kh_init, mem, POOL_BYTES, 6, 2 * sizeof(uintptr_t), 1) == (uintptr_t)mem);
    KT_EXPECT(CALL(kh_init, mem, POOL_BYTES, 4, 0, 4) == (uintptr_t)mem);     /* four sets */
    KT_EXPECT_EQ(CALL(kh_init, mem, 64, 4, 0, 1), 0);               /* too small */
}

KTEST(kh_take_keeps_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    const uintptr_t none = ((uintptr_t)1 << (KT_WORD_BITS - 2)) - 1;   /* NO_BLOCK */
    KT_EXPECT_EQ(CALL(kh_take, h, 1, 1), 0);                        /* the head of a class */
    KT_EXPECT_EQ(CALL(kh_take, h, 1u << 30, 1), none);              /* no class holds it */
    uintptr_t b = CALL(kh_take, h, 4, 8);                           /* aligned: split twice */
    KT_EXPECT_EQ((((uintptr_t *)h)[CB_BASE] + b * 16) % 128, 0);
    CALL(kh_release, h, 0, 1);
    CALL(kh_claim, h, 1, 1);                                        /* a one-block hole at 0 */
    uintptr_t c = CALL(kh_take, h, 1, 2);                           /* a class-1 head first */
    KT_EXPECT(c != 1 && c < KT_WORD_BITS && (((uintptr_t *)h)[CB_BASE] + c * 16) % 32 == 0);
    CALL(kh_release, h, c, 1);
    CALL(kh_release, h, 1, 1);
    CALL(kh_release, h, b, 4);
    KT_EXPECT_EQ(kheap_check(h), 0);
    uintptr_t all = ((uintptr_t *)h)[CB_NBLOCKS];                   /* the top run: them all */
    KT_EXPECT_EQ(CALL(kh_take, h, all, 1, 1), 0);       /* heads alone try the top run too */
    CALL(kh_release, h, 0, all);
    CALL(kh_claim, h, all - 1, 1);                      /* no top run: one indexed run */
    KT_EXPECT_EQ(CALL(kh_take, h, all - 1, 1, 1), none);   /* heads alone: its class is below */
    KT_EXPECT_EQ(CALL(kh_take, h, 1, 1, 1), 0);         /* .. the class that surely fits */
    CALL(kh_release, h, 0, 1);
    KT_EXPECT_EQ(CALL(kh_take, h, all - 1, 1, 0), 0);   /* the walk finds it */
    CALL(kh_release, h, 0, all - 1);
    CALL(kh_release, h, all - 1, 1);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_index_build_kh_largest_run_kh_run_start_and_kh_run_end_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    uintptr_t n = kt_stats(h).capacity / 16;
    CALL(kh_claim, h, 70, 10);
    KT_EXPECT_EQ(CALL(kh_largest_run, h), n - 80);
    KT_EXPECT_EQ(CALL(kh_run_start, h, 70), 0);                      /* through the footer */
    KT_EXPECT_EQ(CALL(kh_run_start, h, 60), 0);                      /* inside: the bitmap */
    KT_EXPECT_EQ(CALL(kh_run_end, h, 80), n);                        /* through the header */
    KT_EXPECT_EQ(CALL(kh_run_end, h, 90), n);                        /* inside: the bitmap */
    CALL(kh_index_build, h);
    CALL(kh_release, h, 70, 10);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_claim_and_kh_release_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    CALL(kh_claim, h, 5, 7);                                        /* inside a leaf */
    CALL(kh_claim, h, 100, 3 * KT_WIDE_BLOCKS);                     /* leaves set whole */
    KT_EXPECT_EQ(CALL(kh_alloc_blocks, h, 5), 7);
    CALL(kh_release, h, 100, 3 * KT_WIDE_BLOCKS);
    CALL(kh_release, h, 5, 7);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_mark_and_kh_unmark_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    CALL(kh_claim, h, 0, 3);
    CALL(kh_mark, h, 3, 2);
    KT_EXPECT_EQ(CALL(kh_alloc_blocks, h), 5);
    CALL(kh_unmark, h, 3, 2);
    KT_EXPECT_EQ(CALL(kh_alloc_blocks, h), 3);
    CALL(kh_release, h, 0, 3);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_next_used_and_kh_next_free_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    CALL(kh_claim, h, 70, 10);
    KT_EXPECT_EQ(CALL(kh_next_used, h, 0, 1000), 70);
    KT_EXPECT_EQ(CALL(kh_next_used, h, 80, 1000), 1000);            /* none: the limit */
    KT_EXPECT_EQ(CALL(kh_next_free, h, 70, 1000), 80);
    CALL(kh_release, h, 70, 10);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_alloc_blocks_keeps_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    CALL(kh_claim, h, 10, 2 * KT_WORD_BITS + 3);                    /* over word boundaries */
    KT_EXPECT_EQ(CALL(kh_alloc_blocks, h, 10), 2 * KT_WORD_BITS + 3);
    CALL(kh_release, h, 10, 2 * KT_WORD_BITS + 3);
    uintptr_t n = 3 * KT_WORD_BITS * KT_WORD_BITS / 2;              /* past a level-1 word */
    CALL(kh_claim, h, 10, n);
    KT_EXPECT_EQ(CALL(kh_alloc_blocks, h, 10), n);
    CALL(kh_summary_build, h);
    KT_EXPECT_EQ(CALL(kh_alloc_blocks, h, 10), n);
    CALL(kh_release, h, 10, n);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_block_of_keeps_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    char *p = kheap_alloc(h, 64);
    KT_ASSERT(p != NULL);
    intptr_t b = (intptr_t)CALL(kh_block_of, h, p);
    KT_EXPECT(b >= 0);
    KT_EXPECT_EQ((intptr_t)CALL(kh_block_of, h, p + 16), KHEAP_EINTERIOR);
    KT_EXPECT_EQ((intptr_t)CALL(kh_block_of, h, p + 1), KHEAP_EINVAL);
    KT_EXPECT_EQ((intptr_t)CALL(kh_block_of, h, p + 256), KHEAP_EDOUBLE);
    KT_EXPECT_EQ((intptr_t)CALL(kh_block_of, h, (char *)h - 16), KHEAP_EINVAL);
    KT_EXPECT_EQ(kheap_free(h, p), 0);
}

KTEST(kh_cache_routines_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    char *p = kheap_alloc(h, 48);                                   /* 3 blocks */
    KT_ASSERT(p != NULL);
    intptr_t b = (intptr_t)CALL(kh_block_of, h, p);
    KT_EXPECT_EQ(CALL(kh_cache_put, h, b, 3, 0), 1);                /* pushed */
    KT_EXPECT_EQ((intptr_t)CALL(kh_cache_take, h, 3, 0), b);        /* popped */
    KT_EXPECT_EQ((intptr_t)CALL(kh_cache_take, h, 3, 0), -1);       /* empty */
    KT_EXPECT_EQ(CALL(kh_cache_put, h, b, 1u << 20, 0), 0);         /* no such class */
    KT_EXPECT_EQ(CALL(kh_cache_put, h, b, 3, 5), 1);                /* CPU 5: set 5 % 1 */
    KT_EXPECT_EQ((intptr_t)CALL(kh_cache_take, h, 3, 0), b);
    KT_EXPECT_EQ(kheap_free(h, p), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_fast_routines_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    char *p = kheap_alloc(h, 48);                                   /* 3 blocks */
    KT_ASSERT(p != NULL);
    KT_EXPECT_EQ(CALL(kh_fast_free, h, p, 0), 3);                   /* pushed, counted */
    KT_EXPECT_EQ(CALL(kh_fast_free, h, p, 0), 0);                   /* held: the full path's */
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_PTR_EQ(CALL(kh_fast_alloc, h, 33, 3), p);             /* popped (3 % 1), counted */
    KT_EXPECT_EQ(CALL(kh_fast_alloc, h, 48, 0), 1);                 /* empty: FAST_MISS */
    KT_EXPECT_EQ(CALL(kh_fast_alloc, h, 0, 0), 0);                  /* no class holds 0 */
    KT_EXPECT_EQ(CALL(kh_fast_free, h, p + 16, 0), 0);              /* not a start */
    KT_EXPECT_EQ(CALL(kh_fast_free, 0, p, 0), 0);                   /* no handle */
    KT_EXPECT_EQ(CALL(kh_fast_alloc, 0, 48, 0), 0);
    KT_EXPECT_EQ(CALL(kh_geometry, h, 0), ((uintptr_t *)h)[CB_GEOMETRY]);
    KT_EXPECT_EQ(CALL(kh_geometry, h, 1), ((uintptr_t *)h)[CB_QUICK_GEOMETRY]);
    /* kh_handle_ok: each of its four refusals, then the handle as it was */
    uintptr_t *cb = (uintptr_t *)h;
    KT_EXPECT_EQ(CALL(kh_handle_ok, h), 1);
    KT_EXPECT_EQ(CALL(kh_handle_ok, 0), 0);
    static const int words[] = { CB_MAGIC, CB_SHIFT, CB_LIMIT };    /* magic, quick, rest */
    for (unsigned i = 0; i < sizeof words / sizeof words[0]; i++) {
        cb[words[i]] ^= 1;
        KT_EXPECT_EQ(CALL(kh_handle_ok, h), 0);
        cb[words[i]] ^= 1;
    }
    KT_EXPECT_EQ(CALL(kh_handle_ok, h), 1);
    char *q = kheap_alloc(h, 100 * 16);                             /* past every class */
    KT_ASSERT(q != NULL);
    KT_EXPECT_EQ(CALL(kh_fast_free, h, q, 0), 100);                 /* into the bitmaps */
    KT_EXPECT_EQ(kheap_check(h), 0);
    KT_EXPECT_EQ(kheap_free(h, p), 0);
    kheap_t *d = kt_pool_flags(POOL_BYTES, 16, KHEAP_F_DEBUG);
    KT_ASSERT(d != NULL);
    q = kheap_alloc(d, 16);
    KT_EXPECT_EQ(CALL(kh_fast_alloc, d, 16, 0), 0);                 /* debug: the C layer's */
    KT_EXPECT_EQ(CALL(kh_fast_free, d, q, 0), 0);
    KT_EXPECT_EQ(kheap_free(d, q), 0);
}

/* The four entries of the public calls (kheap_alloc and kheap_free are asm routines too),
 * each way out: returned from asm (a hit, a free into a cache, the fill, a NULL free) and
 * through their calls into kernel/kheap.c (kh_alloc_full, kh_free_full; with a hook set
 * kh_alloc_hooked, kh_free_hooked; kh_free_report: the damage tests), whose C keeps the
 * registers too. */
static uintptr_t no_lock(void)
{
    return 0;
}

static void no_unlock(uintptr_t state)
{
    (void)state;
}

KTEST(kh_entry_routines_keep_the_registers)
{
    kheap_t *h = pool();
    KT_ASSERT(h != NULL);
    char *p = (char *)CALL(kheap_alloc, h, 48);                     /* nothing cached: the fill */
    KT_ASSERT(p != NULL);
    KT_EXPECT_EQ(CALL(kheap_free, h, p), 0);                        /* into a cache */
    KT_EXPECT_PTR_EQ(CALL(kheap_alloc, h, 40), p);                  /* a hit */
    KT_EXPECT_EQ(CALL(kheap_alloc, h, 0), 0);                       /* the full path: size 0 */
    KT_EXPECT_EQ((int)CALL(kheap_free, h, p + 16), KHEAP_EINTERIOR);  /* the full path (an int) */
    KT_EXPECT_EQ(CALL(kheap_free, h, 0), 0);                        /* NULL: nothing */
    KT_EXPECT_EQ(CALL(kheap_free, h, p), 0);
    KT_EXPECT_EQ((int)CALL(kheap_free, h, p), KHEAP_EDOUBLE);       /* held: the full path */
    char *q = (char *)CALL(kh_heap_alloc, h, 48, 0);                   /* (h as a first region) */
    KT_EXPECT_PTR_EQ(q, p);
    char *r = (char *)CALL(kh_heap_alloc, h, 48, 0);                   /* the fill */
    KT_ASSERT(r != NULL && r != q);
    CALL(kh_heap_free, h, r, 0);
    KT_EXPECT_PTR_EQ(CALL(kheap_alloc, h, 48), r);                  /* kh_heap_free cached it */
    char *a = (char *)CALL(kheap_alloc_aligned, h, 100, 256);      /* the aligned fill */
    KT_ASSERT(a != NULL);
    KT_EXPECT_EQ((uintptr_t)a % 256, 0);
    KT_EXPECT_EQ(kheap_usable_size(h, a), 112);
    char *b = (char *)CALL(kheap_alloc_aligned, h, 48, 16);        /* a block: the full path */
    KT_ASSERT(b != NULL);
    KT_EXPECT_EQ(CALL(kheap_alloc_aligned, h, 48, 0), 0);           /* the full path's failures */
    KT_EXPECT_EQ(CALL(kheap_alloc_aligned, h, 48, 96), 0);
    KT_EXPECT_EQ(CALL(kheap_alloc_aligned, h, 0, 256), 0);
    KT_EXPECT_EQ(CALL(kheap_alloc_aligned, h, POOL_BYTES, 256), 0); /* past free_blocks */
    kheap_set_lock(no_lock, no_unlock);                             /* the hooked paths */
    KT_EXPECT_EQ(CALL(kheap_free, h, r), 0);
    KT_EXPECT_PTR_EQ(CALL(kheap_alloc, h, 48), r);
    KT_EXPECT_EQ(CALL(kheap_free, h, 0), 0);
    char *c = (char *)CALL(kheap_alloc_aligned, h, 100, 512);
    KT_ASSERT(c != NULL);
    KT_EXPECT_EQ((uintptr_t)c % 512, 0);
    kheap_set_lock(0, 0);
    KT_EXPECT_EQ(kheap_free(h, q), 0);
    KT_EXPECT_EQ(kheap_free(h, r), 0);
    KT_EXPECT_EQ(kheap_free(h, a), 0);
    KT_EXPECT_EQ(kheap_free(h, b), 0);
    KT_EXPECT_EQ(kheap_free(h, c), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

static int faults;
static struct kheap_fault last_fault;

static void note_fault(const struct kheap_fault *f)
{
    faults++;
    last_fault = *f;
}

/* The entries' fills when kh_take met damage: their call of kh_take_report (ENTRY_CALL)
 * keeps the registers, and the damage is reported once, the allocation still made. */
KTEST(kh_entry_fills_report_damage_and_keep_the_registers)
{
    kheap_set_fault_handler(note_fault);
    for (int aligned = 0; aligned < 2; aligned++) {
        kheap_t *h = pool();
        KT_ASSERT(h != NULL);
        char *p = kheap_alloc(h, 16);                               /* the fill */
        KT_ASSERT(p != NULL);
        uint32_t *ix = (uint32_t *)((uintptr_t *)h)[CB_INDEX];
        ix[IX_TOP] ^= 1;            /* the top run's first block: its mirror disagrees */
        faults = 0;
        char *a = (char *)(aligned ? CALL(kheap_alloc_aligned, h, 100, 256)
                                   : CALL(kheap_alloc, h, 100));
        KT_ASSERT(a != NULL);
        KT_EXPECT_EQ(faults, 1);
        KT_EXPECT_EQ(last_fault.kind, KHEAP_FAULT_CORRUPT);
        KT_EXPECT_PTR_EQ(last_fault.heap, h);
        KT_EXPECT_EQ((uintptr_t)a % (aligned ? 256 : 16), 0);
        KT_EXPECT_EQ(kheap_check(h), 0);
        KT_EXPECT_EQ(kheap_free(h, a), 0);
        KT_EXPECT_EQ(kheap_free(h, p), 0);
        KT_EXPECT_EQ(kheap_check(h), 0);
    }
    kheap_set_fault_handler(0);
}

static unsigned cpu_two(void)
{
    return 2;
}

KTEST(kh_cpu_routines_keep_the_registers)
{
    kheap_set_cpu(cpu_two, 4);
    kheap_t *h = pool();                                            /* four sets */
    kheap_set_cpu(0, 0);
    KT_ASSERT(h != NULL);
    char *p = kheap_alloc(h, 48);
    KT_ASSERT(p != NULL);
    KT_EXPECT_EQ(CALL(kh_cpu_free, h, p, 2), 3);                    /* claimed, pushed */
    KT_EXPECT_EQ(CALL(kh_cpu_free, h, p, 2), 0);                    /* held: the locked path's */
    KT_EXPECT_EQ(CALL(kh_cpu_alloc, h, 48, 1), 0);                  /* CPU 1's set is empty */
    KT_EXPECT_PTR_EQ(CALL(kh_cpu_alloc, h, 33, 6), p);              /* CPU 6: set 6 % 4 = 2 */
    char *q = kheap_alloc(h, 100 * 16);                             /* past every class */
    KT_ASSERT(q != NULL);
    KT_EXPECT_EQ(CALL(kh_cpu_free, h, q, 2), 0);                    /* undone: the locked path's */
    KT_EXPECT_EQ(CALL(kh_cpu_free, h, p + 16, 2), 0);               /* not a start */
    KT_EXPECT_EQ(CALL(kh_cpu_alloc, 0, 48, 0), 0);                  /* no handle */
    kheap_t *one = pool();                                          /* one set */
    KT_ASSERT(one != NULL);
    char *r = kheap_alloc(one, 16);
    KT_EXPECT_EQ(CALL(kh_cpu_free, one, r, 0), 0);                  /* the locked paths' */
    KT_EXPECT_EQ(kheap_free(one, r), 0);
    KT_EXPECT_EQ(kheap_free(h, p), 0);
    KT_EXPECT_EQ(kheap_free(h, q), 0);
    KT_EXPECT_EQ(kheap_check(h), 0);
}

KTEST(kh_fill_kh_unlike_and_kh_copy_keep_the_registers)
{
    unsigned char *a = kt_mem(300, 16), *b = kt_mem(300, 16);
    KT_ASSERT(a != NULL && b != NULL);
    CALL(kh_fill, a + 3, 290, 0x6B);                                /* head, words, tail */
    KT_EXPECT(kt_all_bytes(a + 3, 290, 0x6B));
    KT_EXPECT_EQ(CALL(kh_unlike, a + 3, 290, 0x6B), 0);
    a[200] = 0;
    KT_EXPECT_PTR_EQ(CALL(kh_unlike, a + 3, 290, 0x6B), a + 200);
    CALL(kh_copy, b + 1, a + 3, 290);
    KT_EXPECT_EQ(b[200 - 2], 0);
    KT_EXPECT_EQ(b[1], 0x6B);
}
