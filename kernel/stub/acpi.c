/* acpi.c - the MADT's list of processors (ACPI 6.4, 5.2.5 RSDP, 5.2.7 RSDT, 5.2.12 MADT).
 * Firmware tables lie in physical memory below 4 GiB: reachable as they are on i386 (paging
 * off) and through the identity map on x86-64. */
#include <stddef.h>
#include <kernel/acpi.h>
#include <kernel/string.h>

#define EBDA_SEGMENT_AT 0x40E               /* BIOS data area: the EBDA's segment */
#define BIOS_AREA_START 0xE0000
#define BIOS_AREA_END   0x100000
#define RSDP_V1_BYTES   20                  /* what the version 1 checksum covers */
#define SDT_HEADER      36                  /* every table's common header */
#define MADT_ENTRIES    44                  /* header, local APIC address, flags */
#define MADT_LOCAL_APIC 0                   /* entry type: a processor's local APIC */
#define MADT_LAPIC_OVERRIDE 5               /* entry type: a 64-bit local APIC address */
#define LAPIC_ENABLED   1u                  /* processor flags: usable now */

/* A physical address as a pointer, hidden from the compiler's bounds checks (which take any
 * constant address below 4 KiB, the BIOS data area's, for a null pointer's offset). */
static const uint8_t *phys(uint64_t addr)
{
    uintptr_t at = (uintptr_t)addr;
    __asm__("" : "+r"(at));
    return (const uint8_t *)at;
}

static uint32_t u32_at(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool sums_to_zero(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    while (n--)
        sum += *p++;
    return sum == 0;
}

/* The RSDP on a 16-byte boundary of [lo, hi), or NULL. */
static const uint8_t *rsdp_in(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t at = lo; at + RSDP_V1_BYTES <= hi; at += 16)
        if (memcmp(phys(at), "RSD PTR ", 8) == 0 && sums_to_zero(phys(at), RSDP_V1_BYTES))
            return phys(at);
    return 0;
}

/* The table the RSDT names with this signature, its checksum good, or NULL. */
static const uint8_t *rsdt_table(const uint8_t *rsdt, const char *signature)
{
    uint32_t entries = (u32_at(rsdt + 4) - SDT_HEADER) / 4;
    for (uint32_t i = 0; i < entries; i++) {
        const uint8_t *t = phys(u32_at(rsdt + SDT_HEADER + 4 * i));
        if (memcmp(t, signature, 4) == 0 && sums_to_zero(t, u32_at(t + 4)))
            return t;
    }
    return 0;
}

bool acpi_find_cpus(struct acpi_cpus *out)
{
    uintptr_t ebda = (uintptr_t)(*(const uint16_t *)phys(EBDA_SEGMENT_AT)) << 4;
    const uint8_t *rsdp = ebda ? rsdp_in(ebda, ebda + 1024) : 0;
    if (!rsdp)
        rsdp = rsdp_in(BIOS_AREA_START, BIOS_AREA_END);
    if (!rsdp)
        return false;
    const uint8_t *rsdt = phys(u32_at(rsdp + 16));
    if (memcmp(rsdt, "RSDT", 4) != 0 || !sums_to_zero(rsdt, u32_at(rsdt + 4)))
        return false;
    const uint8_t *madt = rsdt_table(rsdt, "APIC");
    if (!madt)
        return false;
    struct acpi_cpus found = { .lapic_base = u32_at(madt + SDT_HEADER) };
    const uint8_t *end = madt + u32_at(madt + 4);
    for (const uint8_t *e = madt + MADT_ENTRIES; e + 2 <= end && e[1] >= 2; e += e[1]) {
        if (e[0] == MADT_LOCAL_APIC && e[1] >= 8 && (u32_at(e + 4) & LAPIC_ENABLED)
            && found.count < ACPI_MAX_CPUS)
            found.apic_id[found.count++] = e[3];
        else if (e[0] == MADT_LAPIC_OVERRIDE && e[1] >= 12)
            found.lapic_base = u32_at(e + 4) | (uint64_t)u32_at(e + 8) << 32;
    }
    *out = found;
    return true;
}
