/* smpstress.c - every CPU allocating and freeing in one heap at once, through shared slots
 * so that many frees meet another CPU's allocation, then a hand-over: each CPU frees what
 * the next one allocated. Each allocation's bytes name its CPU and size, so a race that lost
 * or mixed data shows as damage. */
#include <stdint.h>
#include <kernel/smpstress.h>

#define SLOTS 64                            /* shared: the next CPU to pick one frees it */
#define HANDED SMP_STRESS_HANDED

static struct {
    kheap_t *h;
    unsigned ops;
    void *volatile slot[SLOTS];
    struct smp_stress *out;
    volatile unsigned ready;                /* CPUs at the start line */
    volatile unsigned handed;               /* CPUs whose hand-over allocations are made */
    unsigned char *outbox[SMP_MAX_CPUS][HANDED];
} run;

/* An allocation's contents: its CPU, its size, then a pattern of both. */
static void fill(unsigned char *p, unsigned cpu, unsigned size)
{
    p[0] = (unsigned char)cpu;
    p[1] = (unsigned char)size;
    for (unsigned i = 2; i < size; i++)
        p[i] = (unsigned char)(cpu * 37 + size + i);
}

/* The CPU fill named, or -1 when any byte changed. */
static int owner(const unsigned char *p)
{
    unsigned cpu = p[0], size = p[1];
    if (cpu >= SMP_MAX_CPUS || size < 16)
        return -1;
    for (unsigned i = 2; i < size; i++)
        if (p[i] != (unsigned char)(cpu * 37 + size + i))
            return -1;
    return (int)cpu;
}

static void release(unsigned cpu, unsigned char *p)
{
    struct smp_stress_count *c = &run.out->cpu[cpu];
    int by = owner(p);
    c->damaged += by < 0;
    c->foreign += by >= 0 && (unsigned)by != cpu;
    if (run.h)
        c->refused += kheap_free(run.h, p) != 0;
    else
        kfree(p);
    c->frees++;
}

/* Every CPU waits until all have added one to *count. */
static void all_at(volatile unsigned *count)
{
    __atomic_add_fetch(count, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(count, __ATOMIC_ACQUIRE) < smp_cpus())
        cpu_relax();
}

/* The hand-over: HANDED allocations made here, then the next CPU's freed here (with one
 * CPU, its own). */
static void hand_over(unsigned cpu)
{
    for (unsigned k = 0; k < HANDED; k++) {
        unsigned size = 16 + (cpu * 131 + k * 29) % 240;
        unsigned char *p = run.h ? kheap_alloc(run.h, size) : kmalloc(size);
        run.outbox[cpu][k] = p;
        if (!p) {
            run.out->cpu[cpu].failed++;
            continue;
        }
        run.out->cpu[cpu].allocs++;
        fill(p, cpu, size);
    }
    all_at(&run.handed);
    unsigned from = (cpu + 1) % smp_cpus();
    for (unsigned k = 0; k < HANDED; k++)
        if (run.outbox[from][k])
            release(cpu, run.outbox[from][k]);
}

static void work(unsigned cpu, void *arg)
{
    (void)arg;
    struct smp_stress_count *c = &run.out->cpu[cpu];
    all_at(&run.ready);                     /* all start together, so their work overlaps */
    uint32_t rnd = 2463534242u + cpu * 7919u;
    for (unsigned n = 0; n < run.ops; n++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;      /* xorshift32 */
        unsigned size = 16 + rnd % 240;
        unsigned char *p = run.h ? kheap_alloc(run.h, size) : kmalloc(size);
        if (!p) {
            c->failed++;
            continue;
        }
        c->allocs++;
        fill(p, cpu, size);
        unsigned char *q = __atomic_exchange_n(&run.slot[(rnd >> 8) % SLOTS], p,
                                               __ATOMIC_ACQ_REL);
        if (q)
            release(cpu, q);
    }
    hand_over(cpu);
}

void smp_stress(kheap_t *h, unsigned ops, struct smp_stress *out)
{
    *out = (struct smp_stress){0};
    run.h = h, run.ops = ops, run.out = out, run.ready = run.handed = 0;
    for (unsigned i = 0; i < SLOTS; i++)
        run.slot[i] = 0;
    smp_run(work, 0);
    for (unsigned i = 0; i < SLOTS; i++)
        if (run.slot[i])
            release(0, run.slot[i]);
    struct smp_stress_count *t = &out->total;
    for (unsigned c = 0; c < smp_cpus(); c++) {
        t->allocs += out->cpu[c].allocs, t->failed += out->cpu[c].failed;
        t->frees += out->cpu[c].frees, t->foreign += out->cpu[c].foreign;
        t->damaged += out->cpu[c].damaged, t->refused += out->cpu[c].refused;
    }
}
