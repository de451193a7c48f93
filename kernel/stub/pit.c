/* pit.c - channel 0 of the programmable interval timer at PIT_HZ: counts ticks and calls
 * the tick hook, which is how tests run code in interrupt context. */
#include <kernel/idt.h>
#include <kernel/io.h>
#include <kernel/pic.h>
#include <kernel/pit.h>

#define PIT_CHANNEL0 0x40
#define PIT_COMMAND  0x43
#define PIT_CH0_LOHI_SQUARE 0x36            /* channel 0, low then high byte, mode 3 */
#define PIT_INPUT_HZ 1193182u

static volatile uint32_t ticks;
static void (*volatile tick_hook)(void);

static void on_tick(struct regs *r)
{
    (void)r;
    ticks++;
    void (*fn)(void) = tick_hook;
    if (fn)
        fn();
}

void pit_init(void)
{
    uint32_t divisor = (PIT_INPUT_HZ + PIT_HZ / 2) / PIT_HZ;
    outb(PIT_COMMAND, PIT_CH0_LOHI_SQUARE);
    outb(PIT_CHANNEL0, (uint8_t)divisor);
    outb(PIT_CHANNEL0, (uint8_t)(divisor >> 8));
    irq_set_handler(0, on_tick);
    pic_unmask(0);
}

uint32_t pit_ticks(void)
{
    return ticks;
}

void pit_set_hook(void (*fn)(void))
{
    tick_hook = fn;
}
