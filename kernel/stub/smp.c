/* smp.c - the application processors: found in the MADT, started one at a time through the
 * trampoline (boot/trampoline.asm) with INIT and STARTUP IPIs (Intel SDM vol. 3, 8.4.4.1),
 * each given its stack, GDT, per-CPU data, the IDT and a 1 kHz local APIC timer; then work for
 * all of them at once (smp_run) and IPIs to one (smp_call). */
#include <stddef.h>
#include <kernel/acpi.h>
#include <kernel/gdt.h>
#include <kernel/idt.h>
#include <kernel/irqlock.h>
#include <kernel/kprintf.h>
#include <kernel/lapic.h>
#include <kernel/multiboot.h>
#include <kernel/pit.h>
#include <kernel/smp.h>
#include <kernel/string.h>

#define TRAMPOLINE_BASE 0x7000u             /* boot/trampoline.asm: the same page */
#define TRAMPOLINE_PAGE 0x1000u
#define AP_STACK_BYTES  (16 * 1024)
#define INIT_WAIT_MS    10                  /* INIT to STARTUP (the MP specification's wait) */
#define STARTUP_WAIT_MS 10                  /* for the AP to leave the trampoline */
#define ONLINE_WAIT_MS  1000                /* for the AP to reach ap_main's loop */
#define FLAGS_IF        (1u << 9)

/* boot/trampoline.asm: the code to copy, and its parameter block (addresses of the original:
 * what the AP reads is the copy, in_copy). */
extern const char trampoline_start[], trampoline_end[];
extern const char tr_stack[], tr_entry[], tr_cr3[], tr_index[], tr_started[];

static struct cpu cpus[SMP_MAX_CPUS];
static unsigned online = 1;
static uint64_t lapic_base;
static unsigned char ap_stacks[SMP_MAX_CPUS][AP_STACK_BYTES] __attribute__((aligned(16)));

static void (*volatile tick_hook)(unsigned cpu);
static void (*volatile call_hook)(unsigned cpu);

/* smp_run's job: a generation number each AP waits to change, and how many have finished. */
static void (*volatile job_fn)(unsigned cpu, void *arg);
static void *volatile job_arg;
static volatile uint32_t job_generation, job_done;

static volatile void *in_copy(const char *symbol)
{
    return (volatile void *)(uintptr_t)(TRAMPOLINE_BASE + (symbol - trampoline_start));
}

unsigned cpu_index(void)
{
    unsigned index;
#ifdef __x86_64__
    __asm__ volatile("movl %%gs:0, %0" : "=r"(index));
#else
    __asm__ volatile("movl %%fs:0, %0" : "=r"(index));
#endif
    return index;
}

void cpu_relax(void)
{
    __asm__ volatile("pause");
}

unsigned smp_cpus(void)
{
    return online;
}

const struct cpu *smp_cpu(unsigned index)
{
    return index < online ? &cpus[index] : 0;
}

void smp_boot_cpu(void)
{
    cpus[0] = (struct cpu){ .index = 0, .online = 1 };
    gdt_init_cpu(0, &cpus[0]);
}

/* Waits until *flag is non-zero or ms milliseconds of PIT ticks have passed. */
static bool wait_for(volatile uint32_t *flag, unsigned ms)
{
    uint32_t start = pit_ticks();
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        if (pit_ticks() - start > ms * PIT_HZ / 1000)
            return false;
        __asm__ volatile("pause");
    }
    return true;
}

static void wait_ms(unsigned ms)
{
    uint32_t never = 0;
    wait_for(&never, ms);
}

/* Where an AP's C life begins (the trampoline jumps here on the AP's own stack). */
static __attribute__((noreturn, used)) void ap_main(unsigned index)
{
    struct cpu *me = &cpus[index];
    gdt_init_cpu(index, me);
    idt_load();
    lapic_init(lapic_base, false);
    lapic_timer_start(SMP_TIMER_HZ);
    __atomic_store_n(&me->online, 1, __ATOMIC_RELEASE);
    __asm__ volatile("sti");
    uint32_t seen = 0;
    for (;;) {
        while (__atomic_load_n(&job_generation, __ATOMIC_ACQUIRE) == seen)
            __asm__ volatile("hlt");            /* the timer wakes it every millisecond */
        seen = job_generation;
        job_fn(index, job_arg);
        __atomic_fetch_add(&job_done, 1, __ATOMIC_RELEASE);
    }
}

/* Starts the AP with that local APIC id as CPU index; false when it did not come up. */
static bool start_ap(unsigned index, uint32_t apic_id)
{
    cpus[index] = (struct cpu){ .index = index, .apic_id = apic_id };
    uintptr_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    *(volatile uintptr_t *)in_copy(tr_stack) = (uintptr_t)(ap_stacks[index] + AP_STACK_BYTES);
    *(volatile uintptr_t *)in_copy(tr_entry) = (uintptr_t)ap_main;
    *(volatile uint32_t *)in_copy(tr_cr3) = (uint32_t)cr3;
    *(volatile uint32_t *)in_copy(tr_index) = index;
    volatile uint32_t *started = in_copy(tr_started);
    *started = 0;
    lapic_send_init(apic_id);
    wait_ms(INIT_WAIT_MS);
    for (int attempt = 0; attempt < 2 && !*started; attempt++) {   /* SDM: STARTUP twice */
        lapic_send_startup(apic_id, TRAMPOLINE_BASE >> 12);
        wait_for(started, STARTUP_WAIT_MS);
    }
    return *started && wait_for(&cpus[index].online, ONLINE_WAIT_MS);
}

/* Whether the loader's information lies clear of the trampoline page. */
static bool trampoline_page_free(void)
{
    uintptr_t lo = TRAMPOLINE_BASE, hi = TRAMPOLINE_BASE + TRAMPOLINE_PAGE;
    uintptr_t mbi = (uintptr_t)boot_info;
    if (mbi < hi && mbi + sizeof *boot_info > lo)
        return false;
    if ((boot_info->flags & MB_INFO_MMAP) && boot_info->mmap_addr < hi
        && boot_info->mmap_addr + boot_info->mmap_length > lo)
        return false;
    const char *cmdline = multiboot_cmdline(boot_info);
    return !((uintptr_t)cmdline < hi && (uintptr_t)cmdline + strlen(cmdline) + 1 > lo);
}

void smp_init(void)
{
    struct acpi_cpus found;
    if (!acpi_find_cpus(&found)) {
        kprintf("smp: no ACPI MADT: 1 CPU\n");
        return;
    }
    lapic_base = found.lapic_base;
    lapic_init(lapic_base, true);
    cpus[0].apic_id = lapic_id();
    lapic_timer_calibrate();
    if (found.count > 1 && !trampoline_page_free()) {
        kprintf("smp: the loader's data lies in the trampoline page %p: 1 CPU\n",
                (void *)(uintptr_t)TRAMPOLINE_BASE);
        return;
    }
    memcpy((void *)(uintptr_t)TRAMPOLINE_BASE, trampoline_start,
           (size_t)(trampoline_end - trampoline_start));
    for (unsigned i = 0; i < found.count && online < SMP_MAX_CPUS; i++) {
        if (found.apic_id[i] == cpus[0].apic_id)
            continue;
        if (start_ap(online, found.apic_id[i]))
            online++;
        else
            kprintf("smp: the CPU with local APIC id %u did not start\n", found.apic_id[i]);
    }
    kprintf("smp: %u of %u CPUs online (ACPI MADT, local APIC at %p)\n", online, found.count,
            (void *)(uintptr_t)lapic_base);
}

void smp_run(void (*fn)(unsigned cpu, void *arg), void *arg)
{
    job_fn = fn;
    job_arg = arg;
    __atomic_store_n(&job_done, 0, __ATOMIC_RELAXED);
    __atomic_fetch_add(&job_generation, 1, __ATOMIC_RELEASE);
    fn(0, arg);
    bool can_halt = cpu_flags() & FLAGS_IF;
    while (__atomic_load_n(&job_done, __ATOMIC_ACQUIRE) < online - 1) {
        if (can_halt)
            __asm__ volatile("hlt");            /* the PIT wakes it every millisecond */
        else
            __asm__ volatile("pause");
    }
}

void smp_set_tick_hook(void (*fn)(unsigned cpu))
{
    tick_hook = fn;
}

void smp_set_call_hook(void (*fn)(unsigned cpu))
{
    call_hook = fn;
}

void smp_call(unsigned index)
{
    if (index < online)
        lapic_send_ipi(cpus[index].apic_id, LAPIC_CALL_VECTOR);
}

void smp_timer_interrupt(void)
{
    unsigned me = cpu_index();
    cpus[me].ticks++;
    void (*fn)(unsigned) = tick_hook;
    if (fn)
        fn(me);
}

void smp_call_interrupt(void)
{
    unsigned me = cpu_index();
    cpus[me].calls++;
    void (*fn)(unsigned) = call_hook;
    if (fn)
        fn(me);
}
