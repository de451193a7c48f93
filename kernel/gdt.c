/* gdt.c - our own flat GDT, so the kernel no longer depends on the loader's table (the
 * IDT's gates name selector 0x08). Null, kernel code, kernel data; no user segments. */
#include <stdint.h>
#include <kernel/gdt.h>

struct gdtr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

/* Descriptor fields: base 0, limit 0xFFFFF in 4 KiB units (4 GiB), 32-bit. */
#define FLAT(access) ((uint64_t)0xFFFF | (uint64_t)(access) << 40 | (uint64_t)0xCF << 48)
#define ACCESS_CODE 0x9A                    /* present, ring 0, code, readable */
#define ACCESS_DATA 0x92                    /* present, ring 0, data, writable */

static const uint64_t gdt[3] __attribute__((aligned(8))) = { 0, FLAT(ACCESS_CODE), FLAT(ACCESS_DATA) };

void gdt_load(const struct gdtr *gdtr);     /* boot/cpu.asm */

void gdt_init(void)
{
    static const struct gdtr gdtr = { sizeof gdt - 1, (uint32_t)gdt };
    gdt_load(&gdtr);
}
