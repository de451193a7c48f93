/* embed64.c - a kernel that is not the stub kernel: kmain, serial output and QEMU's exit port
 * of its own, and nothing but include/kheap.h and build/libkheap64.a from this project (the
 * long-mode entry aside). Linked at 0xffffffff80100000 with -mcmodel=kernel; prints KTAP. */
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "kheap.h"

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void put(const char *s)                 /* COM1, as the firmware left it */
{
    for (; *s; s++) {
        while (!(inb(0x3F8 + 5) & 0x20))
            ;
        outb(0x3F8, (uint8_t)*s);
    }
}

static unsigned char area[256 * 1024] __attribute__((aligned(16)));

/* Allocates, writes, frees and checks, on the kernel heap in the higher half. */
static int heap_works(void)
{
    if (kmalloc_init(area, sizeof area) != 0)
        return 0;
    unsigned char *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = kmalloc(100 + 37 * i);
        if (!p[i] || (uintptr_t)p[i] < (uintptr_t)area || ksize(p[i]) < (size_t)(100 + 37 * i))
            return 0;
        for (int k = 0; k < 100; k++)
            p[i][k] = (unsigned char)(i + k);
    }
    for (int i = 0; i < 64; i += 2)
        kfree(p[i]);
    for (int i = 1; i < 64; i += 2)
        for (int k = 0; k < 100; k++)
            if (p[i][k] != (unsigned char)(i + k))
                return 0;
    for (int i = 1; i < 64; i += 2)
        kfree(p[i]);
    struct kheap_stats st;
    kheap_get_stats(kmalloc_heap(), &st);
    return kheap_check(kmalloc_heap()) == 0 && st.live_allocs == 0 && st.total_allocs == 64
        && (uintptr_t)area >= 0xffffffff80000000u && kmalloc(st.capacity) != 0;
}

void kmain(uint32_t magic, const void *info)
{
    (void)magic, (void)info;
    int ok = heap_works();
    put("KTAP version 1\n1..1\n");
    put(ok ? "ok 1 embedded_kernel_uses_libkheap64_in_the_higher_half\n"
           : "not ok 1 embedded_kernel_uses_libkheap64_in_the_higher_half\n");
    outb(0xF4, ok ? 0x10 : 0x11);               /* isa-debug-exit: QEMU exits 33 or 35 */
    for (;;)
        __asm__ volatile("cli; hlt");
}
