/* irqstress.c - the heap shared by an interrupt handler and the main loop: each side keeps
 * its own allocations filled with a pattern and checks them, so any race shows as damage. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kheap.h>
#include <kernel/irqlock.h>
#include <kernel/irqstress.h>
#include <kernel/pit.h>

#define MAIN_SLOTS 96
#define IRQ_SLOTS 16

struct slot {
    unsigned char *p;
    size_t size;
    unsigned char tag;
};

static struct slot main_slots[MAIN_SLOTS], irq_slots[IRQ_SLOTS];
static struct irq_stress result;
static uint32_t irq_rng = 0x1234567u, main_rng = 0x89ABCDEu;

static uint32_t next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void fill(struct slot *s, unsigned char *p, size_t size, unsigned char tag)
{
    s->p = p, s->size = size, s->tag = tag;
    for (size_t i = 0; i < size; i++)
        p[i] = tag;
}

static bool intact(const struct slot *s)
{
    for (size_t i = 0; i < s->size; i++)
        if (s->p[i] != s->tag)
            return false;
    return true;
}

/* Releases a slot, checking its bytes first. The slot lets go before the heap does, so an
 * interrupt between the two never sees a block that is both free and still claimed. */
static void release(struct slot *s)
{
    unsigned char *p = s->p;
    result.damaged += !intact(s);
    s->p = 0;
    kfree(p);
}

static bool overlaps_any(const struct slot *set, unsigned n, const unsigned char *p, size_t size)
{
    for (unsigned i = 0; i < n; i++)
        if (set[i].p && set[i].p != p && p < set[i].p + set[i].size && set[i].p < p + size)
            return true;
    return false;
}

/* The timer tick: one allocation or free on the kernel heap, in interrupt context. */
static void irq_work(void)
{
    struct slot *s = &irq_slots[next(&irq_rng) % IRQ_SLOTS];
    if (s->p) {
        release(s);
        result.irq_frees++;
        return;
    }
    size_t size = 16 + next(&irq_rng) % 240;
    unsigned char *p = kmalloc(size);
    if (!p) {
        result.irq_failed++;
        return;
    }
    result.overlaps += overlaps_any(main_slots, MAIN_SLOTS, p, size);
    fill(s, p, size, (unsigned char)(0x80 | (result.irq_allocs & 0x7F)));
    result.irq_allocs++;
}

/* One step of the main loop's random stress. */
static void main_work(void)
{
    struct slot *s = &main_slots[next(&main_rng) % MAIN_SLOTS];
    uint32_t r = next(&main_rng);
    result.main_ops++;
    if (s->p && r % 4 != 0) {
        release(s);
        return;
    }
    size_t size = 16 + r % 1024;
    if (s->p) {                                     /* resize, keeping the bytes */
        unsigned char *p = s->p;
        result.damaged += !intact(s);
        s->p = 0;                                   /* (as in release) */
        unsigned char *q = krealloc(p, size);
        if (!q) {
            s->p = p;
            result.main_failed++;
            return;
        }
        s->p = q;
        s->size = size < s->size ? size : s->size;
        result.damaged += !intact(s);
        fill(s, q, size, s->tag);
        return;
    }
    unsigned char *p = kmalloc(size);
    if (!p) {
        result.main_failed++;
        return;
    }
    result.overlaps += overlaps_any(main_slots, MAIN_SLOTS, p, size);
    fill(s, p, size, (unsigned char)(result.main_ops & 0x7F));
}

static void count_bad_free(const struct kheap_fault *f)
{
    (void)f;
    result.bad_frees++;
}

struct irq_stress irq_stress(bool locked, unsigned ms, void *pool, size_t size)
{
    result = (struct irq_stress){0};
    for (unsigned i = 0; i < MAIN_SLOTS; i++)
        main_slots[i].p = 0;
    for (unsigned i = 0; i < IRQ_SLOTS; i++)
        irq_slots[i].p = 0;
    kmalloc_init(pool, size);
    kheap_set_lock(locked ? irq_save : 0, locked ? irq_restore : 0);
    kheap_set_fault_handler(count_bad_free);

    uint32_t start = pit_ticks();
    pit_set_hook(irq_work);
    while (pit_ticks() - start < ms * PIT_HZ / 1000)
        main_work();
    pit_set_hook(0);
    result.ticks = pit_ticks() - start;

    for (unsigned i = 0; i < IRQ_SLOTS; i++)
        if (irq_slots[i].p)
            release(&irq_slots[i]);
    for (unsigned i = 0; i < MAIN_SLOTS; i++)
        if (main_slots[i].p)
            release(&main_slots[i]);
    result.check = kheap_check(kmalloc_heap());
    kheap_set_fault_handler(0);
    kheap_set_lock(0, 0);
    return result;
}
