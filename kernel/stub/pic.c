/* pic.c - the 8259A pair: remapped above the CPU exceptions (IRQ 0-15 -> vectors 32-47),
 * all lines masked until a driver unmasks one, end-of-interrupt, spurious IRQ filtering. */
#include <kernel/io.h>
#include <kernel/pic.h>

#define MASTER_CMD  0x20
#define MASTER_DATA 0x21
#define SLAVE_CMD   0xA0
#define SLAVE_DATA  0xA1
#define ICW1_INIT_ICW4 0x11
#define ICW4_8086   0x01
#define CMD_EOI     0x20
#define CMD_READ_ISR 0x0B
#define VECTOR_BASE 32
#define CASCADE_IRQ 2

void pic_init(void)
{
    outb(MASTER_CMD, ICW1_INIT_ICW4);
    outb(SLAVE_CMD, ICW1_INIT_ICW4);
    outb(MASTER_DATA, VECTOR_BASE);             /* ICW2: vector offsets */
    outb(SLAVE_DATA, VECTOR_BASE + 8);
    outb(MASTER_DATA, 1 << CASCADE_IRQ);        /* ICW3: slave on IRQ 2 */
    outb(SLAVE_DATA, CASCADE_IRQ);
    outb(MASTER_DATA, ICW4_8086);
    outb(SLAVE_DATA, ICW4_8086);
    outb(MASTER_DATA, (uint8_t)~(1 << CASCADE_IRQ));  /* all masked but the cascade */
    outb(SLAVE_DATA, 0xFF);
}

void pic_unmask(unsigned irq)
{
    uint16_t port = irq < 8 ? MASTER_DATA : SLAVE_DATA;
    outb(port, inb(port) & (uint8_t)~(1 << (irq % 8)));
}

void pic_eoi(unsigned irq)
{
    if (irq >= 8)
        outb(SLAVE_CMD, CMD_EOI);
    outb(MASTER_CMD, CMD_EOI);
}

bool pic_spurious(unsigned irq)
{
    if (irq != 7 && irq != 15)
        return false;
    uint16_t cmd = irq == 7 ? MASTER_CMD : SLAVE_CMD;
    outb(cmd, CMD_READ_ISR);
    if (inb(cmd) & 0x80)
        return false;                           /* a real one */
    if (irq == 15)
        outb(MASTER_CMD, CMD_EOI);              /* the master did see the cascade */
    return true;
}
