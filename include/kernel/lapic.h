/* lapic.h - the local APIC of each CPU: its id, end of interrupt, the start-up IPIs and a
 * periodic timer on LAPIC_TIMER_VECTOR. */
#ifndef KERNEL_LAPIC_H
#define KERNEL_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_TIMER_VECTOR 48               /* the per-CPU timer (idt.c) */
#define LAPIC_CALL_VECTOR  49               /* an IPI asking a CPU to run smp.c's call */
#define LAPIC_SPURIOUS_VECTOR 255

/* Maps the registers at base (physical) and software-enables this CPU's local APIC; on the
 * bootstrap processor (bsp) LINT0 stays the PIC's ExtINT input and LINT1 the NMI. */
void lapic_init(uint64_t base, bool bsp);
uint32_t lapic_id(void);                    /* this CPU's local APIC id */
void lapic_eoi(void);
/* INIT, then STARTUP at page `vector` (Intel SDM vol. 3, 8.4.4.1), to the CPU with that id;
 * each returns once the IPI was delivered. */
void lapic_send_init(uint32_t apic_id);
void lapic_send_startup(uint32_t apic_id, uint8_t vector);
/* A fixed IPI with this vector to the CPU with that id. */
void lapic_send_ipi(uint32_t apic_id, uint8_t vector);
/* Measures the timer against the PIT (on the BSP, interrupts on: 10 PIT ticks). */
void lapic_timer_calibrate(void);
/* This CPU's timer, periodic at hz on LAPIC_TIMER_VECTOR (after lapic_timer_calibrate). */
void lapic_timer_start(unsigned hz);

#endif
