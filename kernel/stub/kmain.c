/* kmain.c - the stub kernel's entry: serial console, CPU tables and timer, the other CPUs,
 * memory map, the kernel heap (IRQ- and SMP-safe), then the demo, the KTAP tests or another
 * mode the command line names. */
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <kheap.h>
#include <kernel/demo.h>
#include <kernel/gdt.h>
#include <kernel/idt.h>
#include <kernel/irqlock.h>
#include <kernel/irqstress.h>
#include <kernel/kprintf.h>
#include <kernel/multiboot.h>
#include <kernel/panic.h>
#include <kernel/perf.h>
#include <kernel/pic.h>
#include <kernel/pit.h>
#include <kernel/serial.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include "ktest.h"

#ifndef KHEAP_POOL_SIZE
#define KHEAP_POOL_SIZE (1024 * 1024)   /* make KHEAP_POOL_SIZE=... changes it */
#endif

static unsigned char kernel_pool[KHEAP_POOL_SIZE] __attribute__((aligned(4096)));

static const char *fault_name(enum kheap_fault_kind kind)
{
    switch (kind) {
    case KHEAP_FAULT_INVALID: return "invalid pointer";
    case KHEAP_FAULT_DOUBLE_FREE: return "double free";
    case KHEAP_FAULT_INTERIOR: return "interior pointer";
    case KHEAP_FAULT_CORRUPT: return "corruption";
    }
    return "unknown";
}

/* The kernel's fault hook: one line over serial, and the kernel carries on. */
static void print_fault(const struct kheap_fault *f)
{
    kprintf("kheap fault: %s, ptr %p, heap %p, called from %p\n",
            fault_name(f->kind), f->ptr, (void *)f->heap, f->caller);
}

/* "irq-nolock": the interrupt stress without the heap's lock, to show what it prevents. */
static void irq_nolock(void)
{
    kprintf("\nThe kernel heap shared with a %u Hz timer interrupt, WITHOUT its lock, 2 s:\n",
            PIT_HZ);
    struct irq_stress r = irq_stress(false, 2000, kernel_pool, sizeof kernel_pool);
    kprintf("interrupt side: %u allocations, %u frees; main loop: %u operations\n",
            r.irq_allocs, r.irq_frees, r.main_ops);
    kprintf("damaged allocations %u, overlapping allocations %u, refused frees %u, "
            "kheap_check %d\n", r.damaged, r.overlaps, r.bad_frees, r.check);
    kprintf(r.damaged || r.overlaps || r.bad_frees || r.check ?
            "=> corruption, as expected without the lock (make test runs it locked)\n" :
            "=> no corruption seen this time; the race is still there\n");
}

void kmain(uint32_t magic, const void *loader_info)
{
    smp_boot_cpu();                             /* its GDT and cpu_index, before any print */
    serial_init();
    kprintf("\nkheap kernel: booted (%s)\n", sizeof(void *) == 8 ? "x86-64" : "i386");
    const struct multiboot_info *mbi = loader_info;
    if (magic == MULTIBOOT2_BOOTLOADER_MAGIC)
        mbi = multiboot2_to_v1(loader_info);
    else if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        panic("not started by a multiboot loader (eax = %x)", magic);
    boot_info = mbi;
    idt_init();
    pic_init();
    pit_init();
    __asm__ volatile("sti");
    kprintf("interrupts: GDT, IDT, PIC remapped to 32-47, PIT at %u Hz\n", PIT_HZ);
    smp_init();
    const char *cmdline = multiboot_cmdline(mbi);
    kprintf("command line: \"%s\"\n", cmdline);
    multiboot_print_memory(mbi);

    kheap_set_cpu(cpu_index, smp_cpus());       /* a quick-cache set per CPU in each pool */
    if (kmalloc_init(kernel_pool, sizeof kernel_pool) != 0)
        panic("kmalloc_init refused the %u-byte static pool", (unsigned)sizeof kernel_pool);
    kheap_set_lock(heap_lock, heap_unlock);
    kheap_set_fault_handler(print_fault);
    struct kheap_stats st;
    kheap_get_stats(kmalloc_heap(), &st);
    kprintf("kernel heap: %u KiB static pool at %p: %u blocks of %u bytes, %u bytes usable\n",
            (unsigned)(sizeof kernel_pool / 1024), (void *)kernel_pool,
            (unsigned)(st.capacity / st.block_size), (unsigned)st.block_size,
            (unsigned)st.capacity);

    if (has_word(cmdline, "test")) {
        int failed = ktest_run();
        kheap_set_cpu(cpu_index, smp_cpus());
        kheap_set_lock(heap_lock, heap_unlock);
        perf_report();                          /* a report after the KTAP count, not a test */
        qemu_exit(failed == 0 ? QEMU_EXIT_SUCCESS : QEMU_EXIT_FAILURE);
    }
    if (has_word(cmdline, "perf")) {
        kheap_set_lock(heap_lock, heap_unlock);
        perf_report();
        qemu_exit(QEMU_EXIT_SUCCESS);
    }
    if (has_word(cmdline, "crash"))             /* proves the exception path: must not return */
        __asm__ volatile("ud2");
    if (has_word(cmdline, "irq-nolock")) {
        irq_nolock();
        qemu_exit(QEMU_EXIT_SUCCESS);
    }
    demo_run();
    qemu_exit(QEMU_EXIT_SUCCESS);
}
