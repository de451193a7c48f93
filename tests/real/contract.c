/* contract.c - the C and POSIX allocation contracts, checked on whatever malloc the process
 * has: run plainly it checks glibc's; with LD_PRELOAD=build/libkheap-preload.so and --shim it
 * checks the shim's, and also that the shim is the one serving, that bad frees abort with the
 * fault on stderr, that foreign pointers are handled, and fork and threads. Prints KTAP. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int n, failed;

/* p, hidden from the compiler, which refuses to compile the bad calls these tests make. */
__attribute__((noinline)) static void *hidden(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* Sizes no heap can serve, kept from the compiler for the same reason. */
static volatile size_t huge = SIZE_MAX;
static const char *why;

/* Records the first failed check of the current test. */
#define CHECK(cond) do { if (!(cond) && !why) why = #cond; } while (0)

static void report(const char *name, void (*fn)(void))
{
    why = 0;
    fn();
    n++;
    if (why)
        printf("not ok %d %s # %s\n", n, name, why), failed++;
    else
        printf("ok %d %s\n", n, name);
    fflush(stdout);
}

static bool aligned_to(const void *p, uintptr_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

static void zero_sizes(void)
{
    void *a = malloc(0), *b = malloc(0), *c = realloc(NULL, 0);
    CHECK(a && b && c && a != b && b != c);
    void *d = malloc(32);
    CHECK(d != NULL);
    errno = 0;
    CHECK(realloc(d, 0) == NULL);           /* frees d */
    free(a), free(b), free(c);
}

static void failures_set_enomem(void)
{
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(huge >> 2) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(huge / 2, 3) == NULL && errno == ENOMEM);      /* the product overflows */
    errno = 0;
    CHECK(reallocarray(NULL, huge / 2, 3) == NULL && errno == ENOMEM);
    char *p = malloc(100);
    CHECK(p != NULL);
    memset(p, 'x', 100);
    errno = 0;
    CHECK(realloc(hidden(p), huge - 64) == NULL && errno == ENOMEM);
    CHECK(p[0] == 'x' && p[99] == 'x');     /* p untouched */
    free(p);
}

static void calloc_zeroes_reused_memory(void)
{
    for (size_t size = 16; size <= 65536; size *= 4) {
        unsigned char *p = malloc(size);
        CHECK(p != NULL);
        memset(p, 0xAA, size);
        free(p);
        unsigned char *q = calloc(1, size);
        CHECK(q != NULL);
        for (size_t i = 0; q && i < size; i++)
            CHECK(q[i] == 0);
        free(q);
    }
}

static void every_pointer_is_16_aligned_and_usable(void)
{
    void *p[64];
    for (int i = 0; i < 64; i++) {
        size_t size = 1 + (size_t)i * 37;
        p[i] = malloc(size);
        CHECK(p[i] && aligned_to(p[i], 16) && malloc_usable_size(p[i]) >= size);
    }
    for (int i = 0; i < 64; i++)
        free(p[i]);
    CHECK(malloc_usable_size(NULL) == 0);
}

static void alignment_functions(void)
{
    void *p = (void *)1;
    CHECK(posix_memalign(&p, 3, 10) == EINVAL && p == (void *)1);
    CHECK(posix_memalign(&p, sizeof(void *) / 2, 10) == EINVAL);
    CHECK(posix_memalign(&p, 4096, 10) == 0 && aligned_to(p, 4096));
    free(p);
    CHECK(posix_memalign(&p, 64, huge - 4096) == ENOMEM);
    p = aligned_alloc(64, 128);
    CHECK(p && aligned_to(p, 64));
    free(p);
    p = memalign(256, 10);
    CHECK(p && aligned_to(p, 256));
    free(p);
    p = valloc(10);
    CHECK(p && aligned_to(p, 4096));
    free(p);
    p = pvalloc(1);
    CHECK(p && aligned_to(p, 4096) && malloc_usable_size(p) >= 4096);
    free(p);
}

static void realloc_keeps_contents(void)
{
    unsigned char *p = malloc(10);
    CHECK(p != NULL);
    for (int i = 0; i < 10; i++)
        p[i] = (unsigned char)i;
    for (size_t size = 20; p && size < (1u << 20); size *= 3) {
        p = realloc(p, size);
        CHECK(p != NULL);
        for (int i = 0; p && i < 10; i++)
            CHECK(p[i] == i);
    }
    p = realloc(p, 5);                      /* shrink */
    CHECK(p && p[4] == 4);
    free(p);
}

/* ---- with --shim only ---- */

static void the_shim_serves(void)
{
    Dl_info info;
    CHECK(dladdr(dlsym(RTLD_DEFAULT, "malloc"), &info) && info.dli_fname &&
          strstr(info.dli_fname, "libkheap-preload"));
}

static void aligned_alloc_refuses_a_bad_alignment(void)
{
    errno = 0;
    CHECK(aligned_alloc(3, 10) == NULL && errno == EINVAL);
}

/* Runs fn in a child; returns its wait status, and its stderr in buf. */
static int in_child(void (*fn)(void), char *buf, size_t room)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        alarm(10);
        fn();
        _exit(0);
    }
    close(fds[1]);
    ssize_t got, total = 0;
    while ((got = read(fds[0], buf + total, room - 1 - (size_t)total)) > 0)
        total += got;
    buf[total] = 0;
    close(fds[0]);
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

static void free_twice(void)
{
    void *p = malloc(40), *again = hidden(p);
    free(p);
    free(again);
}

static void free_inside(void)
{
    char *p = malloc(400);
    free(hidden(p + 64));
}

static void bad_frees_abort_with_the_fault(void)
{
    char err[512];
    int st = in_child(free_twice, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "kheap-preload: double free"));
    st = in_child(free_inside, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "interior pointer"));
}

/* Runs this program again as `contract --overflow`, with debug pools and the stats on. */
static void overflow_in_a_debug_pool(void)
{
    char *argv[] = { "contract", "--overflow", 0 };
    setenv("KHEAP_PRELOAD_DEBUG", "1", 1);
    setenv("KHEAP_PRELOAD_STATS", "/dev/null", 1);
    execv("/proc/self/exe", argv);
}

static void damage_left_at_exit_aborts(void)
{
    char err[512];
    int st = in_child(overflow_in_a_debug_pool, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "corruption") &&
          strstr(err, "found at exit"));
}

static void foreign_pointers_are_handled(void)
{
    unsigned char *m = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    munmap(m + 4096, 4096);                 /* a hole after the first page */
    memset(m, 'f', 4096);
    CHECK(malloc_usable_size(m + 16) == 0);
    free(hidden(m + 16));                  /* left alone */
    CHECK(m[16] == 'f');
    unsigned char *q = realloc(hidden(m + 100), 10000);    /* copied as far as mapped */
    CHECK(q != NULL);
    for (int i = 0; q && i < 4096 - 100; i++)
        CHECK(q[i] == 'f');
    free(q);
    munmap(m, 4096);
}

static volatile bool stop;

static void *churn(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg;
    void *slot[32] = {0};
    while (!stop) {
        x = x * 1103515245 + 12345;
        unsigned i = (x >> 8) % 32;
        free(slot[i]);
        slot[i] = malloc(1 + (x >> 16) % 2000);
    }
    for (int i = 0; i < 32; i++)
        free(slot[i]);
    return 0;
}

static void allocate_in_child(void)
{
    for (int i = 0; i < 1000; i++)
        free(malloc(64 + i));
}

static void fork_while_threads_allocate(void)
{
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++)
        pthread_create(&t[i], 0, churn, (void *)(i + 1));
    for (int k = 0; k < 50; k++) {
        char err[64];
        int st = in_child(allocate_in_child, err, sizeof err);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);   /* no deadlock: alarm(10) */
    }
    stop = true;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], 0);
}

static void *fill_and_check(void *arg)
{
    unsigned char tag = (unsigned char)(uintptr_t)arg;
    unsigned char *p[64] = {0};
    size_t size[64] = {0};
    bool ok = true;
    for (int round = 0; round < 20000; round++) {
        int i = round % 64;
        for (size_t k = 0; p[i] && k < size[i]; k++)
            ok &= p[i][k] == tag;
        free(p[i]);
        size[i] = 1 + (size_t)(round * 7919) % 3000;
        p[i] = malloc(size[i]);
        if (p[i])
            memset(p[i], tag, size[i]);
    }
    for (int i = 0; i < 64; i++)
        free(p[i]);
    return (void *)(uintptr_t)ok;
}

static void threads_keep_their_bytes(void)
{
    pthread_t t[4];
    void *ok;
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], 0, fill_and_check, (void *)(i + 0x41));
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &ok);
        CHECK(ok);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--overflow") == 0) {
        char *p = hidden(malloc(10));
        memset(p, 1, 11);                   /* one byte over, never freed */
        return 0;
    }
    bool shim = argc > 1 && strcmp(argv[1], "--shim") == 0;
    printf("KTAP version 1\n1..%d\n", shim ? 13 : 8);
    report("zero_sizes_as_glibc", zero_sizes);
    report("failures_set_enomem_and_keep_p", failures_set_enomem);
    report("calloc_zeroes_reused_memory", calloc_zeroes_reused_memory);
    report("every_pointer_is_16_aligned_and_usable", every_pointer_is_16_aligned_and_usable);
    report("alignment_functions", alignment_functions);
    report("realloc_keeps_contents", realloc_keeps_contents);
    report("threads_keep_their_bytes", threads_keep_their_bytes);
    report("fork_while_threads_allocate", fork_while_threads_allocate);
    if (shim) {
        report("the_shim_serves", the_shim_serves);
        report("aligned_alloc_refuses_a_bad_alignment", aligned_alloc_refuses_a_bad_alignment);
        report("bad_frees_abort_with_the_fault", bad_frees_abort_with_the_fault);
        report("foreign_pointers_are_handled", foreign_pointers_are_handled);
        report("damage_left_at_exit_aborts", damage_left_at_exit_aborts);
    }
    return failed != 0;
}
