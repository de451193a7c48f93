/* gdt.c - the kernel's own flat GDT, so it does not depend on the loader's table (the
 * IDT's gates name selector 0x08). Null, kernel code, kernel data; no user segments. */
#include <stdint.h>
#include <kernel/gdt.h>

struct gdtr {
    uint16_t limit;
    uintptr_t base;
} __attribute__((packed));

/* Descriptor fields: base 0, limit 0xFFFFF in 4 KiB units (4 GiB); flags 0xC: 32-bit, or
 * for x86-64 code 0xA: the L bit (64-bit code, Intel SDM vol. 3, 3.4.5). */
#define DESCRIPTOR(access, flags) \
    ((uint64_t)0xFFFF | (uint64_t)(access) << 40 | (uint64_t)(0x0F | (flags) << 4) << 48)
#ifdef __x86_64__
#define CODE_FLAGS 0xA
#else
#define CODE_FLAGS 0xC
#endif
#define ACCESS_CODE 0x9A                    /* present, ring 0, code, readable */
#define ACCESS_DATA 0x92                    /* present, ring 0, data, writable */

static const uint64_t gdt[3] __attribute__((aligned(8))) = {
    0, DESCRIPTOR(ACCESS_CODE, CODE_FLAGS), DESCRIPTOR(ACCESS_DATA, 0xC) };

void gdt_load(const struct gdtr *gdtr);     /* boot/cpu.asm */

void gdt_init(void)
{
    static const struct gdtr gdtr = { sizeof gdt - 1, (uintptr_t)gdt };
    gdt_load(&gdtr);
}
