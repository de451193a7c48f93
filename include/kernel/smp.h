/* smp.h - the CPUs: found in the MADT, the application processors started (each with its own
 * stack, GDT, local APIC timer and index), and work run on all of them at once. */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H

#include <stdbool.h>
#include <stdint.h>

#define SMP_MAX_CPUS 16                     /* as ACPI_MAX_CPUS */
#define SMP_TIMER_HZ 1000u                  /* each AP's local APIC timer */

/* One per CPU, reached through the CPU's own segment (gdt.h); index must stay first. */
struct cpu {
    unsigned index;                         /* 0: the bootstrap processor */
    uint32_t apic_id;
    volatile uint32_t ticks;                /* its timer interrupts (the BSP's: the PIT's) */
    volatile uint32_t calls;                /* its LAPIC_CALL_VECTOR interrupts */
    volatile uint32_t online;                /* 1 once it runs ap_main's loop */
};

/* The bootstrap processor's own GDT and per-CPU data: first thing in kmain. */
void smp_boot_cpu(void);
/* Finds the CPUs and starts every AP the MADT lists (up to SMP_MAX_CPUS), after the IDT, the
 * PIC and the PIT (the delays are PIT ticks), with interrupts on. Prints one line. */
void smp_init(void);
unsigned smp_cpus(void);                    /* CPUs online, the BSP included */
unsigned cpu_index(void);                   /* this CPU's, 0 .. smp_cpus() - 1 */
const struct cpu *smp_cpu(unsigned index);
/* Runs fn(cpu, arg) on every online CPU at once (this one, the BSP, as CPU 0) and returns
 * when all have returned. The APs run it with interrupts on. Not nestable, BSP only. */
void smp_run(void (*fn)(unsigned cpu, void *arg), void *arg);
/* fn(cpu) runs in every AP's timer interrupt (interrupts off); NULL removes it. */
void smp_set_tick_hook(void (*fn)(unsigned cpu));
/* Sends LAPIC_CALL_VECTOR to CPU index; fn(cpu) runs there in the interrupt. */
void smp_set_call_hook(void (*fn)(unsigned cpu));
void smp_call(unsigned index);
/* What a CPU does while it waits on another: pause (on a host, the thread yields). */
void cpu_relax(void);
/* idt.c's handlers of LAPIC_TIMER_VECTOR and LAPIC_CALL_VECTOR (interrupts off). */
void smp_timer_interrupt(void);
void smp_call_interrupt(void);

#endif
