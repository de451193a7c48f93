/* threads.c - the host's CPUs for the cases of tests/smp: threads stand in for them (smp_run
 * starts one per CPU but the first, which the calling thread plays), cpu_index is the
 * thread's, and the heap's lock (heap_lock, heap_unlock) is a mutex. Prints KTAP.
 *
 * Usage: threads [CPUS]      (default 4) */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <kernel/irqlock.h>
#include <kernel/smp.h>
#include "ktest.h"

static unsigned ncpus = 4;
static __thread unsigned my_index;
static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;

struct start {
    pthread_t thread;
    unsigned index;
    void (*fn)(unsigned cpu, void *arg);
    void *arg;
};

unsigned smp_cpus(void)
{
    return ncpus;
}

unsigned cpu_index(void)
{
    return my_index;
}

void cpu_relax(void)
{
    sched_yield();                          /* more threads than cores: let the others run */
}

uintptr_t heap_lock(void)
{
    pthread_mutex_lock(&heap_mutex);
    return 0;
}

void heap_unlock(uintptr_t state)
{
    (void)state;
    pthread_mutex_unlock(&heap_mutex);
}

static void *cpu_main(void *arg)
{
    struct start *s = arg;
    my_index = s->index;
    s->fn(s->index, s->arg);
    return 0;
}

void smp_run(void (*fn)(unsigned cpu, void *arg), void *arg)
{
    static struct start cpus[SMP_MAX_CPUS];
    for (unsigned i = 1; i < ncpus; i++) {
        cpus[i] = (struct start){ .index = i, .fn = fn, .arg = arg };
        if (pthread_create(&cpus[i].thread, 0, cpu_main, &cpus[i]) != 0) {
            perror("pthread_create");
            exit(2);
        }
    }
    fn(0, arg);
    for (unsigned i = 1; i < ncpus; i++)
        pthread_join(cpus[i].thread, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        ncpus = (unsigned)atoi(argv[1]);
    if (ncpus < 1 || ncpus > SMP_MAX_CPUS) {
        fprintf(stderr, "usage: threads [CPUS]   (1 to %u)\n", SMP_MAX_CPUS);
        return 2;
    }
    return ktest_run() == 0 ? 0 : 1;
}
