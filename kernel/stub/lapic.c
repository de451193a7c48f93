/* lapic.c - the local APIC's registers (Intel SDM vol. 3, chapter 10), through its memory-
 * mapped page: reachable as it is on i386 (paging off) and through the identity map on x86-64. */
#include <kernel/lapic.h>
#include <kernel/pit.h>

#define REG_ID          0x020
#define REG_TPR         0x080
#define REG_EOI         0x0B0
#define REG_SVR         0x0F0
#define REG_ICR_LOW     0x300
#define REG_ICR_HIGH    0x310
#define REG_LVT_TIMER   0x320
#define REG_LVT_LINT0   0x350
#define REG_LVT_LINT1   0x360
#define REG_TIMER_INIT  0x380
#define REG_TIMER_COUNT 0x390
#define REG_TIMER_DIV   0x3E0

#define SVR_ENABLE      (1u << 8)
#define ICR_FIXED       0x000
#define ICR_INIT        0x500
#define ICR_STARTUP     0x600
#define ICR_ASSERT      (1u << 14)
#define ICR_PENDING     (1u << 12)          /* delivery status: not yet accepted */
#define LVT_MASKED      (1u << 16)
#define LVT_PERIODIC    (1u << 17)
#define LVT_EXTINT      0x700
#define LVT_NMI         0x400
#define TIMER_DIV_16    0x3
#define CALIBRATE_TICKS 10

static volatile uint32_t *regs;             /* the same address on every CPU */
static uint32_t counts_per_ms;

static uint32_t reg(unsigned at)
{
    return regs[at / 4];
}

static void set_reg(unsigned at, uint32_t v)
{
    regs[at / 4] = v;
}

void lapic_init(uint64_t base, bool bsp)
{
    regs = (volatile uint32_t *)(uintptr_t)base;
    set_reg(REG_TPR, 0);                    /* accept every priority */
    set_reg(REG_SVR, SVR_ENABLE | LAPIC_SPURIOUS_VECTOR);
    if (bsp) {
        set_reg(REG_LVT_LINT0, LVT_EXTINT);
        set_reg(REG_LVT_LINT1, LVT_NMI);
    }
}

uint32_t lapic_id(void)
{
    return reg(REG_ID) >> 24;
}

void lapic_eoi(void)
{
    set_reg(REG_EOI, 0);
}

static void send(uint32_t apic_id, uint32_t command)
{
    set_reg(REG_ICR_HIGH, apic_id << 24);
    set_reg(REG_ICR_LOW, command);
    while (reg(REG_ICR_LOW) & ICR_PENDING)
        __asm__ volatile("pause");
}

void lapic_send_init(uint32_t apic_id)
{
    send(apic_id, ICR_INIT | ICR_ASSERT);
}

void lapic_send_startup(uint32_t apic_id, uint8_t vector)
{
    send(apic_id, ICR_STARTUP | ICR_ASSERT | vector);
}

void lapic_send_ipi(uint32_t apic_id, uint8_t vector)
{
    send(apic_id, ICR_FIXED | ICR_ASSERT | vector);
}

void lapic_timer_calibrate(void)
{
    set_reg(REG_LVT_TIMER, LVT_MASKED);
    set_reg(REG_TIMER_DIV, TIMER_DIV_16);
    uint32_t t = pit_ticks();
    while (pit_ticks() == t)                /* from the start of a tick */
        __asm__ volatile("pause");
    set_reg(REG_TIMER_INIT, 0xFFFFFFFFu);
    t = pit_ticks();
    while (pit_ticks() - t < CALIBRATE_TICKS)
        __asm__ volatile("pause");
    uint32_t counted = 0xFFFFFFFFu - reg(REG_TIMER_COUNT);
    set_reg(REG_TIMER_INIT, 0);
    counts_per_ms = counted / (CALIBRATE_TICKS * 1000u / PIT_HZ);
    if (counts_per_ms == 0)
        counts_per_ms = 1;
}

void lapic_timer_start(unsigned hz)
{
    set_reg(REG_TIMER_DIV, TIMER_DIV_16);
    set_reg(REG_LVT_TIMER, LVT_PERIODIC | LAPIC_TIMER_VECTOR);
    uint32_t count = counts_per_ms * 1000u / hz;
    set_reg(REG_TIMER_INIT, count ? count : 1);
}
