/* ktest.c - the harness behind ktest.h: runs the registered tests, prints KTAP, and keeps
 * the per-test helpers (scratch arena, seeded PRNG, fault log). Uses only kheap.h. */
#include "ktest.h"

extern const struct ktest __start_ktests[], __stop_ktests[];

struct kt_fault_log kt_faults;

static struct {
    int checks;                 /* assertions evaluated in the current test */
    int failures;               /* of which false */
    const char *file;           /* the first failure, for the result line */
    int line;
    const char *expr;
} cur;

static uint32_t rng_state;
static const char *indent = "";             /* "    " inside a suite (a KTAP subtest) */

char *kt_utoa(char *buf, unsigned long v)
{
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

static void write_location(const char *file, int line, const char *expr)
{
    char num[12];
    ktest_write(file);
    ktest_write(":");
    ktest_write(kt_utoa(num, (unsigned long)line));
    ktest_write(": ");
    ktest_write(expr);
}

bool kt_expect(bool ok, const char *file, int line, const char *expr)
{
    cur.checks++;
    if (ok)
        return true;
    if (cur.failures++ == 0) {
        cur.file = file;
        cur.line = line;
        cur.expr = expr;
    }
    ktest_write(indent);
    ktest_write("# FAIL ");
    write_location(file, line, expr);
    ktest_write("\n");
    return false;
}

/* "# left: VALUE, right: VALUE" after a failed comparison; hex when `hex`. */
static void write_values(uintptr_t a, uintptr_t b, bool hex, bool signed_a, bool signed_b)
{
    uintptr_t v[2] = { a, b };
    bool neg[2] = { signed_a, signed_b };
    const char *label[2] = { "# left: ", ", right: " };
    ktest_write(indent);
    for (int k = 0; k < 2; k++) {
        char digits[24];
        int n = 0;
        uintptr_t x = v[k];
        ktest_write(label[k]);
        if (neg[k]) {
            ktest_write("-");
            x = -x;
        }
        if (hex)
            ktest_write("0x");
        do {
            digits[n++] = "0123456789abcdef"[x % (hex ? 16 : 10)];
            x /= hex ? 16 : 10;
        } while (x);
        while (n) {
            char d[2] = { digits[--n], 0 };
            ktest_write(d);
        }
    }
    ktest_write("\n");
}

bool kt_expect_eq(intptr_t a, intptr_t b, const char *file, int line, const char *expr)
{
    if (kt_expect(a == b, file, line, expr))
        return true;
    write_values((uintptr_t)a, (uintptr_t)b, false, a < 0, b < 0);
    return false;
}

bool kt_expect_ptr_eq(const void *a, const void *b, const char *file, int line, const char *expr)
{
    if (kt_expect(a == b, file, line, expr))
        return true;
    write_values((uintptr_t)a, (uintptr_t)b, true, false, false);
    return false;
}

void *kt_mem(size_t size, size_t align)
{
    void *p = ktest_scratch(size, align);
    if (!p)
        kt_expect(false, __FILE__, __LINE__, "kt_mem: out of scratch memory");
    return p;
}

kheap_t *kt_pool(size_t size, size_t block)
{
    return kt_pool_flags(size, block, 0);
}

kheap_t *kt_pool_flags(size_t size, size_t block, unsigned flags)
{
    void *mem = kt_mem(size, 16);
    kheap_t *h = mem ? kheap_create_flags(mem, size, block, flags) : 0;
    if (!h)
        kt_expect(false, __FILE__, __LINE__, "kt_pool: kheap_create refused the pool");
    return h;
}

void kt_seed(uint32_t seed)
{
    rng_state = seed ? seed : 0x2545F491u;
}

uint32_t kt_rand(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

uint32_t kt_range(uint32_t lo, uint32_t hi)
{
    return lo + kt_rand() % (hi - lo + 1);
}

static unsigned char pattern(uint32_t tag, size_t i)
{
    uint32_t x = tag * 2654435761u + (uint32_t)i * 40503u;
    return (unsigned char)(x ^ (x >> 13) ^ (x >> 24));
}

void kt_fill(void *p, size_t n, uint32_t tag)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(tag, i);
}

bool kt_intact(const void *p, size_t n, uint32_t tag)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(tag, i))
            return false;
    return true;
}

bool kt_all_bytes(const void *p, size_t n, unsigned char value)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != value)
            return false;
    return true;
}

bool kt_stats_same(const struct kheap_stats *a, const struct kheap_stats *b)
{
    return a->block_size == b->block_size && a->capacity == b->capacity
        && a->used == b->used && a->peak_used == b->peak_used
        && a->largest_free == b->largest_free && a->live_allocs == b->live_allocs
        && a->total_allocs == b->total_allocs && a->total_frees == b->total_frees;
}

struct kheap_stats kt_stats(const kheap_t *h)
{
    struct kheap_stats st;
    kheap_get_stats(h, &st);
    return st;
}

static void record_fault(const struct kheap_fault *f)
{
    kt_faults.count++;
    kt_faults.last = *f;
}

/* Every test starts from the same state: no hooks but the fault log, an empty arena. */
static void reset(void)
{
    cur.checks = cur.failures = 0;
    ktest_scratch_reset();
    kt_seed(0);
    kt_faults.count = 0;
    kheap_set_lock(0, 0);
    kheap_set_cpu(0, 0);
    kheap_fail_nth(0);
    kheap_set_fault_handler(record_fault);
}

/* The suite of a test: its file's name without the directory, "test_" and ".c". */
static void write_suite_name(const char *file)
{
    const char *name = file;
    for (const char *c = file; *c; c++)
        if (*c == '/')
            name = c + 1;
    if (name[0] == 't' && name[1] == 'e' && name[2] == 's' && name[3] == 't' && name[4] == '_')
        name += 5;
    for (; *name && *name != '.'; name++) {
        char ch[2] = { *name, 0 };
        ktest_write(ch);
    }
}

static bool same_file(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Tests [first, end) of the section share first's file. */
static unsigned long suite_end(unsigned long first, unsigned long total)
{
    unsigned long end = first + 1;
    while (end < total && same_file(__start_ktests[end].file, __start_ktests[first].file))
        end++;
    return end;
}

static void write_result(bool ok, unsigned long n, const char *name)
{
    char num[12];
    ktest_write(ok ? "ok " : "not ok ");
    ktest_write(kt_utoa(num, n));
    ktest_write(" ");
    ktest_write(name);
}

/* Runs one test; writes its result line (indented) and returns whether it passed. */
static bool run_one(const struct ktest *t, unsigned long n)
{
    reset();
    t->fn();
    if (cur.checks == 0)
        kt_expect(false, "ktest.c", 0, "the test asserted nothing");
    ktest_write(indent);
    write_result(cur.failures == 0, n, t->name);
    if (cur.failures) {
        ktest_write(" # ");
        write_location(cur.file, cur.line, cur.expr);
    }
    ktest_write("\n");
    return cur.failures == 0;
}

int ktest_run(void)
{
    char num[12];
    unsigned long total = (unsigned long)(((uintptr_t)__stop_ktests - (uintptr_t)__start_ktests)
                                          / sizeof(struct ktest));
    unsigned long suites = 0;
    for (unsigned long i = 0; i < total; i = suite_end(i, total))
        suites++;
    int failed = 0;
    ktest_write("KTAP version 1\n1..");
    ktest_write(kt_utoa(num, suites));
    ktest_write("\n");
    for (unsigned long i = 0, s = 1; i < total; s++) {
        unsigned long end = suite_end(i, total);
        const char *file = __start_ktests[i].file;
        int suite_failed = 0;
        ktest_write("    KTAP version 1\n    # Subtest: ");
        write_suite_name(file);
        ktest_write("\n    1..");
        ktest_write(kt_utoa(num, end - i));
        ktest_write("\n");
        indent = "    ";
        for (unsigned long n = 1; i < end; i++, n++)
            suite_failed += !run_one(&__start_ktests[i], n);
        indent = "";
        write_result(suite_failed == 0, s, "");
        write_suite_name(file);
        ktest_write("\n");
        failed += suite_failed;
    }
    kheap_set_fault_handler(0);
    ktest_scratch_reset();
    return failed;
}
