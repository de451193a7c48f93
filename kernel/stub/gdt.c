/* gdt.c - each CPU's own flat GDT, so the kernel does not depend on the loader's table (the
 * IDT's gates name selector 0x08). Null, kernel code, kernel data, and on i386 a data segment
 * based at the CPU's struct cpu (loaded in fs); on x86-64 the GS base register holds that
 * address instead (segment bases are 32-bit there). No user segments. */
#include <stdint.h>
#include <kernel/gdt.h>
#include <kernel/smp.h>

struct gdtr {
    uint16_t limit;
    uintptr_t base;
} __attribute__((packed));

/* Descriptor fields: base, limit 0xFFFFF in 4 KiB units (4 GiB); flags 0xC: 32-bit, or
 * for x86-64 code 0xA: the L bit (64-bit code, Intel SDM vol. 3, 3.4.5). */
#define DESCRIPTOR(base, access, flags) \
    ((uint64_t)0xFFFF | ((uint64_t)(base) & 0xFFFFFF) << 16 | (uint64_t)(access) << 40 | \
     (uint64_t)(0x0F | (flags) << 4) << 48 | ((uint64_t)(base) >> 24 & 0xFF) << 56)
#ifdef __x86_64__
#define CODE_FLAGS 0xA
#else
#define CODE_FLAGS 0xC
#endif
#define ACCESS_CODE 0x9A                    /* present, ring 0, code, readable */
#define ACCESS_DATA 0x92                    /* present, ring 0, data, writable */
#define PERCPU_SELECTOR 0x18
#define MSR_GS_BASE 0xC0000101

static uint64_t gdt[SMP_MAX_CPUS][4] __attribute__((aligned(8)));

void gdt_load(const struct gdtr *gdtr);     /* boot/cpu.asm */

void gdt_init_cpu(unsigned index, void *self)
{
    uint64_t *g = gdt[index];
    g[1] = DESCRIPTOR(0, ACCESS_CODE, CODE_FLAGS);
    g[2] = DESCRIPTOR(0, ACCESS_DATA, 0xC);
    g[3] = DESCRIPTOR((uintptr_t)self, ACCESS_DATA, 0xC);
    struct gdtr gdtr = { sizeof gdt[index] - 1, (uintptr_t)g };
    gdt_load(&gdtr);
#ifdef __x86_64__
    uint64_t at = (uintptr_t)self;
    __asm__ volatile("wrmsr" : : "c"(MSR_GS_BASE), "a"((uint32_t)at), "d"((uint32_t)(at >> 32)));
#else
    __asm__ volatile("mov %0, %%fs" : : "r"((uint16_t)PERCPU_SELECTOR));
#endif
}
