/* idt.c - the interrupt descriptor table and the C side of every interrupt: CPU exceptions
 * print the registers and end the run as a failure, PIC interrupts go to their handler. */
#include <kernel/idt.h>
#include <kernel/kprintf.h>
#include <kernel/panic.h>
#include <kernel/pic.h>

#define VECTORS 48
#define EXCEPTIONS 32
#define GATE_INTERRUPT 0x8E                 /* present, ring 0, 32-bit interrupt gate */
#define KERNEL_CODE 0x08

struct gate {
    uint16_t offset_low, selector;
    uint8_t zero, type;
    uint16_t offset_high;
} __attribute__((packed));

struct idtr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

extern const uint32_t isr_table[VECTORS];  /* boot/cpu.asm */
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
    for (unsigned v = 0; v < VECTORS; v++)
        idt[v] = (struct gate){ (uint16_t)isr_table[v], KERNEL_CODE, 0, GATE_INTERRUPT,
                                (uint16_t)(isr_table[v] >> 16) };
    struct idtr idtr = { sizeof idt - 1, (uint32_t)idt };
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
    uint32_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    const char *name = exception_names[r->vector] ? exception_names[r->vector] : "reserved";
    kprintf("\n# CPU EXCEPTION %u (%s), error code %x\n", r->vector, name, r->error);
    kprintf("#   eip %08x  cs %04x  eflags %08x  cr2 %08x\n", r->eip, r->cs, r->eflags, cr2);
    kprintf("#   eax %08x  ebx %08x  ecx %08x  edx %08x\n", r->eax, r->ebx, r->ecx, r->edx);
    kprintf("#   esi %08x  edi %08x  ebp %08x  esp %08x\n", r->esi, r->edi, r->ebp,
            r->esp + 20);                   /* before the CPU and the stub pushed */
    qemu_exit(QEMU_EXIT_FAILURE);
}

void isr_dispatch(struct regs *r)
{
    if (r->vector < EXCEPTIONS) {
        exception(r);
        return;
    }
    unsigned irq = r->vector - EXCEPTIONS;
    if (pic_spurious(irq))
        return;
    if (irq_handlers[irq])
        irq_handlers[irq](r);
    pic_eoi(irq);
}
