/* perf.c - rdtsc cycles per kmalloc/kfree pair, measured in the kernel on the metal it runs
 * on: under QEMU's emulation (TCG) the cycles are emulated; under KVM they are the host's. */
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <kheap.h>
#include <kernel/kprintf.h>
#include <kernel/perf.h>

#define PERF_POOL (16u << 20)
#define PERF_SLOTS 8192
#define PERF_OPS 20000u                     /* steady-state operations measured */

static unsigned char pool[PERF_POOL] __attribute__((aligned(4096)));
static void *slot[PERF_SLOTS];
static uint32_t size_of[PERF_SLOTS];
static uint32_t rng = 2027;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* The hypervisor's CPUID signature (leaf 0x40000000), or "" on a CPU that says none. */
static void hypervisor(char name[13])
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    name[0] = '\0';
    if (!(c & (1u << 31)))
        return;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000), "c"(0));
    const uint32_t words[3] = { b, c, d };
    for (int i = 0; i < 12; i++)
        name[i] = (char)(words[i / 4] >> (8 * (i % 4)));
    name[12] = '\0';
}

/* One W2 step: 70% 16-256 B, 20% 257 B-2 KiB, 8% 4 KiB page-aligned, 2% 8-64 KiB, frees at
 * random, live bytes held near 40% of the pool. Returns 1 for an allocation made. */
static int step(uint32_t *live)
{
    uint32_t s = next() % PERF_SLOTS;
    if (*live < PERF_POOL / 10 * 4 && !slot[s]) {
        uint32_t r = next() % 100, size;
        if (r < 98 && r >= 90) {
            size = 4096;
            slot[s] = kmalloc_aligned(size, 4096);
        } else {
            size = r < 70 ? 16 + next() % 241 : r < 90 ? 257 + next() % 1792 : 8192 + next() % 57345;
            slot[s] = kmalloc(size);
        }
        if (slot[s]) {
            size_of[s] = size;
            *live += size;
            return 1;
        }
    } else if (slot[s]) {
        kfree(slot[s]);
        *live -= size_of[s];
        slot[s] = 0;
    }
    return 0;
}

void perf_report(void)
{
    char hv[13];
    uint32_t live = 0, pairs = 0;
    hypervisor(hv);
    if (kmalloc_init(pool, sizeof pool) != 0)
        return;
    while (live < PERF_POOL / 10 * 4 * 9 / 10)   /* fill to the steady state, unmeasured */
        step(&live);
    uint64_t start = rdtsc();
    for (uint32_t op = 0; op < PERF_OPS; op++)
        pairs += step(&live);
    uint64_t cycles = rdtsc() - start;
    for (unsigned i = 0; i < PERF_SLOTS; i++)
        if (slot[i])
            kfree(slot[i]), slot[i] = 0;
    bool kvm = hv[0] == 'K' && hv[1] == 'V' && hv[2] == 'M';
    while (cycles >> 32) {                  /* a 32-bit division: no libgcc in the kernel */
        cycles >>= 1;
        pairs >>= 1;
    }
    kprintf("# perf: W2 kernel mix, 16 MiB pool, %u operations: %u rdtsc cycles per "
            "kmalloc/kfree pair\n", PERF_OPS, (uint32_t)cycles / (pairs ? pairs : 1));
    kprintf("# perf: %s (hypervisor signature \"%s\"); a report, not a test\n",
            kvm ? "under KVM: the host CPU's cycles" :
                  "QEMU-emulated (no KVM): emulated cycles, not real hardware", hv);
}
