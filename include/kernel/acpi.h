/* acpi.h - the CPUs the firmware lists: ACPI's MADT (found through the RSDP and the RSDT). */
#ifndef KERNEL_ACPI_H
#define KERNEL_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 16                    /* CPUs past this many are left halted */

struct acpi_cpus {
    uint64_t lapic_base;                    /* the local APIC's physical address */
    unsigned count;                         /* enabled processors found, at most ACPI_MAX_CPUS */
    uint8_t apic_id[ACPI_MAX_CPUS];         /* their local APIC ids, in the MADT's order */
};

/* Fills out from the MADT. False (out untouched) when there is no RSDP, no RSDT, no MADT, or
 * a checksum does not add up: the caller then runs on the bootstrap processor alone. */
bool acpi_find_cpus(struct acpi_cpus *out);

#endif
