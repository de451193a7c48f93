/* preload.c - kheap as the malloc of any Linux program: LD_PRELOAD=build/libkheap-preload.so
 * replaces the C and POSIX allocation functions with kheap pools in mmap'd memory, to
 * exercise the heap under real programs. It is not a replacement for the system allocator.
 *
 * Settings, read from the environment at the first call (tests/README.md, "Real programs"):
 *   KHEAP_PRELOAD_POOL     bytes of each pool, with an optional K, M or G (default 64M; 16M
 *                          for debug pools); another pool is mapped whenever none can serve
 *   KHEAP_PRELOAD_BLOCK    block size, a power of two from 16 to 4096 (default 16)
 *   KHEAP_PRELOAD_DEBUG    1: debug pools (guards, poison, callers: KHEAP_F_DEBUG)
 *   KHEAP_PRELOAD_NOCACHE  1: no quick caches (KHEAP_F_NOCACHE)
 *   KHEAP_PRELOAD_STATS    "stderr", or a file path (each %p becomes the process id): one
 *                          line of stats when the process exits, after kheap_check of
 *                          every pool
 * A bad free or detected corruption prints the kheap fault (kind, pointer, the program's
 * caller) on stderr and aborts. A pointer from outside every pool (memory the dynamic
 * loader got before this library served it) is left alone by free, counted ("foreign" in
 * the stats), and copied out by realloc as far as it is mapped.
 *
 * All calls run under one mutex; the pools have no lock hooks of their own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kheap.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_POOLS 256
#define PAGE 4096u

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool ready;
static kheap_t *pools[MAX_POOLS];
static size_t pool_bytes[MAX_POOLS];
static unsigned npools, last;                /* last: the pool that served the last call */
static size_t pool_size = 64u << 20, block = 16;
static unsigned flags;
static size_t foreign_frees;
static const void *caller;                   /* the program's return address, for faults */

/* ---------------------------------------------------------------- output without malloc */

static void put(int fd, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w, n -= (size_t)w;
    }
}

/* v in decimal (base 10) or hex (16, with 0x) into buf (24 bytes at least). */
static const char *num(char *buf, uintptr_t v, unsigned base)
{
    char *p = buf + 23;
    *p = 0;
    do
        *--p = "0123456789abcdef"[v % base];
    while (v /= base);
    if (base == 16)
        *--p = 'x', *--p = '0';
    return p;
}

static void on_fault(const struct kheap_fault *f)
{
    static const char *const kind[] = { "?", "invalid pointer", "double free",
                                        "interior pointer", "corruption" };
    char b[24];
    put(2, "kheap-preload: ");
    put(2, kind[f->kind <= KHEAP_FAULT_CORRUPT ? f->kind : 0]);
    put(2, ", ptr ");
    put(2, num(b, (uintptr_t)f->ptr, 16));
    put(2, ", heap ");
    put(2, num(b, (uintptr_t)f->heap, 16));
    put(2, caller ? ", called from " : ", found at exit");
    put(2, caller ? num(b, (uintptr_t)caller, 16) : "");
    put(2, "\n");
    abort();
}

/* ---------------------------------------------------------------- settings and pools */

static bool same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v && same(v, "1");
}

/* "64M" and the like; 0 when it is not a size. */
static size_t env_size(const char *name)
{
    const char *v = getenv(name);
    size_t n = 0;
    if (!v || !*v)
        return 0;
    for (; *v >= '0' && *v <= '9'; v++)
        n = n * 10 + (size_t)(*v - '0');
    unsigned shift = *v == 'K' ? 10 : *v == 'M' ? 20 : *v == 'G' ? 30 : 0;
    if (shift)
        v++;
    return *v ? 0 : n << shift;
}

static void init(void)
{
    flags = (env_on("KHEAP_PRELOAD_DEBUG") ? KHEAP_F_DEBUG : 0)
          | (env_on("KHEAP_PRELOAD_NOCACHE") ? KHEAP_F_NOCACHE : 0);
    if (flags & KHEAP_F_DEBUG)
        pool_size = 16u << 20;
    size_t s = env_size("KHEAP_PRELOAD_POOL"), b = env_size("KHEAP_PRELOAD_BLOCK");
    if (s >= PAGE)
        pool_size = s;
    if (b >= 16 && b <= 4096 && (b & (b - 1)) == 0)
        block = b;
    kheap_set_fault_handler(on_fault);
    ready = true;
}

/* A new pool of at least `need` bytes of block area, or false. */
static bool add_pool(size_t need)
{
    if (npools == MAX_POOLS)
        return false;
    size_t size = pool_size;
    if (need > size / 2)                     /* room for the request and the metadata */
        size = need > SIZE_MAX / 4 ? 0 : 2 * need + (need >> 2);
    size = (size + PAGE - 1) & ~(size_t)(PAGE - 1);
    if (size == 0)
        return false;
    void *mem = mmap(0, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return false;
    kheap_t *h = kheap_create_flags(mem, size, block, flags);
    if (!h) {
        munmap(mem, size);
        return false;
    }
    pool_bytes[npools] = size;
    last = npools;
    pools[npools++] = h;
    return true;
}

/* The pool whose block area holds p, or NULL. */
static kheap_t *pool_of(const void *p)
{
    if (npools && kheap_owns(pools[last], p))
        return pools[last];
    for (unsigned i = 0; i < npools; i++)
        if (kheap_owns(pools[i], p))
            return last = i, pools[i];
    return 0;
}

static void *alloc_in(kheap_t *h, size_t size, size_t align)
{
    return align ? kheap_alloc_aligned(h, size, align) : kheap_alloc(h, size);
}

/* size bytes at an align-byte boundary (0: the block size's) from the pools, the one that
 * served last first, else from a new pool. Under the lock. */
static void *pool_alloc(size_t size, size_t align)
{
    if (size == 0)
        size = 1;                           /* malloc(0): a unique pointer, as glibc's */
    for (unsigned k = 0; k < npools; k++) {
        unsigned i = (last + k) % npools;
        void *p = alloc_in(pools[i], size, align);
        if (p) {
            last = i;
            return p;
        }
    }
    return add_pool(size + align) ? alloc_in(pools[last], size, align) : 0;
}

/* ---------------------------------------------------------------- the locked entry */

static void enter(const void *from)
{
    pthread_mutex_lock(&lock);
    if (!ready)
        init();
    caller = from;
}

static void leave(void)
{
    pthread_mutex_unlock(&lock);
}

static void *allocated(void *p)
{
    if (!p)
        errno = ENOMEM;
    return p;
}

/* Bytes from p that are mapped, up to n: a foreign block's bytes realloc may copy. */
static size_t mapped_bytes(const void *p, size_t n)
{
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)(PAGE - 1), end = (uintptr_t)p + n;
    unsigned char v;
    for (; page < end; page += PAGE)
        if (mincore((void *)page, PAGE, &v) != 0)
            return page > (uintptr_t)p ? page - (uintptr_t)p : 0;
    return n;
}

static void copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
}

/* free under the lock: a pointer of no pool is counted and left alone. */
static void release(void *p)
{
    kheap_t *h = pool_of(p);
    if (h)
        kheap_free(h, p);
    else
        foreign_frees++;
}

/* ---------------------------------------------------------------- the C and POSIX functions */

EXPORT void *malloc(size_t size)
{
    enter(__builtin_return_address(0));
    void *p = pool_alloc(size, 0);
    leave();
    return allocated(p);
}

EXPORT void free(void *p)
{
    if (!p)
        return;
    enter(__builtin_return_address(0));
    release(p);
    leave();
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return allocated(0);
    enter(__builtin_return_address(0));
    void *p = pool_alloc(n * size, 0);
    kheap_t *h = p ? pool_of(p) : 0;
    size_t bytes = h ? kheap_usable_size(h, p) : 0;
    leave();
    unsigned char *z = p;
    for (size_t i = 0; i < bytes; i++)       /* (reused blocks are not zero) */
        z[i] = 0;
    return allocated(p);
}

EXPORT void *realloc(void *p, size_t size)
{
    if (!p)
        return malloc(size);
    if (size == 0) {                        /* as glibc: frees p, returns NULL */
        free(p);
        return 0;
    }
    enter(__builtin_return_address(0));
    kheap_t *h = pool_of(p);
    void *q = h ? kheap_realloc(h, p, size) : 0;
    if (!q) {                               /* no room in p's pool, or p foreign: move */
        size_t old = h ? kheap_usable_size(h, p) : mapped_bytes(p, size);
        if (!h || old)
            q = pool_alloc(size, 0);
        if (q) {
            copy(q, p, old < size ? old : size);
            release(p);
        }
    }
    leave();
    return allocated(q);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return allocated(0);
    return realloc(p, n * size);
}

static void *aligned(size_t align, size_t size, const void *from)
{
    enter(from);
    void *p = pool_alloc(size, align < block ? block : align);
    leave();
    return allocated(p);
}

static bool power_of_two(size_t v)
{
    return v && (v & (v - 1)) == 0;
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!power_of_two(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, size, __builtin_return_address(0));
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return 0;
    }
    return aligned(align, size, __builtin_return_address(0));
}

/* memalign: as glibc, an alignment that is not a power of two is rounded up to one. */
EXPORT void *memalign(size_t align, size_t size)
{
    size_t a = 1;
    while (a < align && a)
        a <<= 1;
    if (!a) {
        errno = EINVAL;
        return 0;
    }
    return aligned(a, size, __builtin_return_address(0));
}

EXPORT void *valloc(size_t size)
{
    return aligned(PAGE, size, __builtin_return_address(0));
}

EXPORT void *pvalloc(size_t size)
{
    if (size > SIZE_MAX - PAGE)
        return allocated(0);
    size_t whole = (size + PAGE - 1) & ~(size_t)(PAGE - 1);
    return aligned(PAGE, whole ? whole : PAGE, __builtin_return_address(0));
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    enter(__builtin_return_address(0));
    kheap_t *h = pool_of(p);
    size_t n = h ? kheap_usable_size(h, p) : 0;
    leave();
    return n;
}

/* ---------------------------------------------------------------- fork and exit */

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_release(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void at_load(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

/* The stats line: totals over the pools (peak: the sum of each pool's peak). */
static void write_stats(int fd)
{
    struct kheap_stats t = {0}, s;
    for (unsigned i = 0; i < npools; i++) {
        kheap_get_stats(pools[i], &s);
        t.capacity += s.capacity, t.used += s.used, t.peak_used += s.peak_used;
        t.live_allocs += s.live_allocs, t.total_allocs += s.total_allocs;
        t.total_frees += s.total_frees, t.failed_allocs += s.failed_allocs;
        t.faults += s.faults;
        kheap_check(pools[i]);              /* damage found goes to on_fault, which aborts */
    }
    static const char *const label[] = { "kheap-preload: pid ", ": pools ", ", capacity ",
        ", used ", ", peak ", ", live ", ", allocs ", ", frees ", ", failed ", ", faults ",
        ", foreign " };
    const size_t value[] = { (size_t)getpid(), npools, t.capacity, t.used, t.peak_used,
        t.live_allocs, t.total_allocs, t.total_frees, t.failed_allocs, t.faults, foreign_frees };
    char b[24];
    for (unsigned i = 0; i < sizeof value / sizeof value[0]; i++) {
        put(fd, label[i]);
        put(fd, num(b, value[i], 10));
    }
    put(fd, "\n");
}

/* KHEAP_PRELOAD_STATS's path with each %p replaced by the process id, in buf; NULL when too
 * long. */
static const char *stats_path(const char *v, char *buf, size_t room)
{
    char b[24];
    size_t n = 0;
    for (; *v; v++) {
        char one[2] = { *v, 0 };
        const char *s = one;
        if (v[0] == '%' && v[1] == 'p')
            s = num(b, (uintptr_t)getpid(), 10), v++;
        for (; *s; s++) {
            if (n + 1 >= room)
                return 0;
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
    return buf;
}

__attribute__((destructor)) static void at_exit(void)
{
    const char *v = getenv("KHEAP_PRELOAD_STATS");
    if (!v || !*v)
        return;
    pthread_mutex_lock(&lock);
    caller = 0;                             /* a fault now is damage found at exit */
    char path[512];
    int fd = 2;
    if (!same(v, "stderr")) {
        const char *p = stats_path(v, path, sizeof path);
        fd = p ? open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    }
    if (fd >= 0) {
        write_stats(fd);
        if (fd != 2)
            close(fd);
    }
    pthread_mutex_unlock(&lock);
}
