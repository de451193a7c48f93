/* idt.h - interrupts: the IDT for vectors 0-49 and 255, CPU exceptions (a register dump over
 * serial, then the run ends as a failure), handlers for the 16 PIC interrupts, and the local
 * APIC's vectors (lapic.h), which smp.c handles. */
#ifndef KERNEL_IDT_H
#define KERNEL_IDT_H

#include <stdint.h>

#ifdef __x86_64__
/* The frame boot/cpu.asm builds (x86-64): the fifteen registers, then the vector and error code,
 * then what the CPU pushed. */
struct regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};
#else
/* The frame boot/cpu.asm builds: pushad's registers, then the vector and error code,
 * then what the CPU pushed. */
struct regs {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
};
#endif

void idt_init(void);                        /* builds the IDT and loads it */
void idt_load(void);                        /* loads it on this CPU (an AP) */
/* Runs fn(regs) for PIC interrupt line irq (0-15), with interrupts off; NULL removes it. */
void irq_set_handler(unsigned irq, void (*fn)(struct regs *r));
void isr_dispatch(struct regs *r);          /* called by boot/cpu.asm */

#endif
