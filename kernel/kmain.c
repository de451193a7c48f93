/* kmain.c - the stub kernel's entry: serial console, memory map, the kernel heap, then the
 * demo or (with "test" on the command line) the KTAP test suite. Both end QEMU's run. */
#include <stdint.h>
#include <kheap.h>
#include <kernel/demo.h>
#include <kernel/kprintf.h>
#include <kernel/multiboot.h>
#include <kernel/panic.h>
#include <kernel/serial.h>
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

void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
    serial_init();
    kprintf("\nkheap kernel: booted\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        panic("not started by a multiboot loader (eax = %x)", magic);
    const char *cmdline = multiboot_cmdline(mbi);
    kprintf("command line: \"%s\"\n", cmdline);
    multiboot_print_memory(mbi);

    if (kmalloc_init(kernel_pool, sizeof kernel_pool) != 0)
        panic("kmalloc_init refused the %u-byte static pool", (unsigned)sizeof kernel_pool);
    kheap_set_fault_handler(print_fault);
    struct kheap_stats st;
    kheap_get_stats(kmalloc_heap(), &st);
    kprintf("kernel heap: %u KiB static pool at %p: %u blocks of %u bytes, %u bytes usable\n",
            (unsigned)(sizeof kernel_pool / 1024), (void *)kernel_pool,
            (unsigned)(st.capacity / st.block_size), (unsigned)st.block_size,
            (unsigned)st.capacity);

    if (has_word(cmdline, "test"))
        qemu_exit(ktest_run() == 0 ? QEMU_EXIT_SUCCESS : QEMU_EXIT_FAILURE);
    demo_run();
    qemu_exit(QEMU_EXIT_SUCCESS);
}
