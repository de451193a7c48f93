/* idt.c - the interrupt descriptor table (one, loaded by every CPU) and the C side of every
 * interrupt: CPU exceptions print the registers and end the run as a failure, PIC interrupts
 * go to their handler, the local APIC's timer and call vectors to smp.c. */
#include <kernel/idt.h>
#include <kernel/kprintf.h>
#include <kernel/lapic.h>
#include <kernel/panic.h>
#include <kernel/pic.h>
#include <kernel/smp.h>

#define VECTORS 256
#define EXCEPTIONS 32
#define GATE_INTERRUPT 0x8E                 /* present, ring 0, interrupt gate (32 or 64-bit) */
#define KERNEL_CODE 0x08

/* A gate (Intel SDM vol. 3, 6.11 and 6.14.1): 8 bytes on i386, 16 in long mode. */
struct gate {
    uint16_t offset_low, selector;
    uint8_t ist, type;
    uint16_t offset_mid;
#ifdef __x86_64__
    uint32_t offset_high, reserved;
#endif
} __attribute__((packed));

struct idtr {
    uint16_t limit;
    uintptr_t base;
} __attribute__((packed));

extern const uintptr_t isr_table[VECTORS];  /* boot/cpu.asm: 0 where there is no stub */
static struct gate idt[VECTORS];
static void (*irq_handlers[16])(struct regs *r);

static const char *const exception_names[EXCEPTIONS] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
    "invalid opcode", "device not available", "double fault", "coprocessor overrun",
    "invalid TSS", "segment not present", "stack fault", "general protection",
    "page fault", "reserved", "x87 error", "alignment check", "machine check",
    "SIMD error", "virtualization", "control protection",
};

void idt_init(void)
{
    for (unsigned v = 0; v < VECTORS; v++) {
        uintptr_t at = isr_table[v];
        if (!at)
            continue;                       /* not present: a stray vector faults */
        idt[v] = (struct gate){ .offset_low = (uint16_t)at, .selector = KERNEL_CODE,
                                .type = GATE_INTERRUPT, .offset_mid = (uint16_t)(at >> 16) };
#ifdef __x86_64__
        idt[v].offset_high = (uint32_t)(at >> 32);
#endif
    }
    idt_load();
}

void idt_load(void)
{
    struct idtr idtr = { sizeof idt - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void irq_set_handler(unsigned irq, void (*fn)(struct regs *r))
{
    if (irq < 16)
        irq_handlers[irq] = fn;
}

/* A CPU exception is a bug: show where, then stop the run as a failure. */
static void exception(const struct regs *r)
{
    uintptr_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    const char *name = exception_names[r->vector] ? exception_names[r->vector] : "reserved";
    kprintf("\n# CPU EXCEPTION %u (%s) on CPU %u, error code %x\n", (unsigned)r->vector, name,
            cpu_index(), (unsigned)r->error);
#ifdef __x86_64__
    kprintf("#   rip %016lx  cs %04lx  rflags %08lx  cr2 %016lx\n", r->rip, r->cs, r->rflags,
            cr2);
    kprintf("#   rax %016lx  rbx %016lx  rcx %016lx  rdx %016lx\n", r->rax, r->rbx, r->rcx,
            r->rdx);
    kprintf("#   rsi %016lx  rdi %016lx  rbp %016lx  rsp %016lx\n", r->rsi, r->rdi, r->rbp,
            r->rsp);
    kprintf("#   r8  %016lx  r9  %016lx  r10 %016lx  r11 %016lx\n", r->r8, r->r9, r->r10,
            r->r11);
    kprintf("#   r12 %016lx  r13 %016lx  r14 %016lx  r15 %016lx\n", r->r12, r->r13, r->r14,
            r->r15);
#else
    kprintf("#   eip %08x  cs %04x  eflags %08x  cr2 %08x\n", r->eip, r->cs, r->eflags, cr2);
    kprintf("#   eax %08x  ebx %08x  ecx %08x  edx %08x\n", r->eax, r->ebx, r->ecx, r->edx);
    kprintf("#   esi %08x  edi %08x  ebp %08x  esp %08x\n", r->esi, r->edi, r->ebp,
            r->esp + 20);                   /* before the CPU and the stub pushed */
#endif
    qemu_exit(QEMU_EXIT_FAILURE);
}

void isr_dispatch(struct regs *r)
{
    if (r->vector < EXCEPTIONS) {
        exception(r);
        return;
    }
    if (r->vector == LAPIC_SPURIOUS_VECTOR)
        return;                             /* no end of interrupt for it */
    if (r->vector == LAPIC_TIMER_VECTOR || r->vector == LAPIC_CALL_VECTOR) {
        if (r->vector == LAPIC_TIMER_VECTOR)
            smp_timer_interrupt();
        else
            smp_call_interrupt();
        lapic_eoi();
        return;
    }
    unsigned irq = r->vector - EXCEPTIONS;
    if (pic_spurious(irq))
        return;
    if (irq_handlers[irq])
        irq_handlers[irq](r);
    pic_eoi(irq);
}
