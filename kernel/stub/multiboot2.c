/* multiboot2.c - a Multiboot2 loader's information (GRUB's `multiboot2`, which the x86-64 ISO
 * uses) turned into the v1 structure the rest of the kernel reads: command line, memory sizes
 * and the memory map, copied into the kernel image so nothing of the loader's is needed after. */
#include <kernel/memmap.h>
#include <kernel/multiboot.h>

/* Multiboot2 Specification 1.0, 3.6: a fixed part, then 8-byte-aligned tags until type 0. */
#define MB2_TAG_END      0
#define MB2_TAG_CMDLINE  1
#define MB2_TAG_MEMINFO  4
#define MB2_TAG_MMAP     6
#define MAX_ENTRIES      64
#define CMDLINE_MAX      256

struct mb2_tag {
    uint32_t type, size;
};

struct mb2_mmap_entry {
    uint64_t addr, len;
    uint32_t type, reserved;
};

static struct multiboot_info info;
static struct multiboot_mmap_entry map[MAX_ENTRIES];
static char cmdline[CMDLINE_MAX];

/* A 32-bit physical address of the kernel's own data, as the v1 structure holds them. */
static uint32_t phys32(const void *p)
{
    return (uint32_t)((uintptr_t)p - KERNEL_VMA);
}

static void copy_mmap(const struct mb2_tag *tag)
{
    const uint32_t *head = (const uint32_t *)(tag + 1);     /* entry_size, entry_version */
    uint32_t entry_size = head[0], n = 0;
    const unsigned char *e = (const unsigned char *)(head + 2);
    const unsigned char *end = (const unsigned char *)tag + tag->size;
    for (; e + entry_size <= end && n < MAX_ENTRIES && entry_size >= 20; e += entry_size, n++) {
        const struct mb2_mmap_entry *m = (const void *)e;
        map[n] = (struct multiboot_mmap_entry){ sizeof map[n] - sizeof map[n].size, m->addr,
                                                m->len, m->type };
    }
    info.mmap_addr = phys32(map);
    info.mmap_length = n * (uint32_t)sizeof map[0];
    info.flags |= MB_INFO_MMAP;
}

const struct multiboot_info *multiboot2_to_v1(const void *mb2)
{
    const unsigned char *at = (const unsigned char *)mb2 + 8;   /* total_size, reserved */
    const unsigned char *end = (const unsigned char *)mb2 + *(const uint32_t *)mb2;
    info = (struct multiboot_info){ 0 };
    while (at + sizeof(struct mb2_tag) <= end) {
        const struct mb2_tag *tag = (const void *)at;
        if (tag->type == MB2_TAG_END)
            break;
        if (tag->type == MB2_TAG_CMDLINE) {
            const char *s = (const char *)(tag + 1);
            unsigned i = 0;
            for (; s[i] && i < CMDLINE_MAX - 1; i++)
                cmdline[i] = s[i];
            cmdline[i] = '\0';
            info.cmdline = phys32(cmdline);
            info.flags |= MB_INFO_CMDLINE;
        } else if (tag->type == MB2_TAG_MEMINFO) {
            const uint32_t *mem = (const uint32_t *)(tag + 1);
            info.mem_lower = mem[0], info.mem_upper = mem[1];
            info.flags |= MB_INFO_MEMORY;
        } else if (tag->type == MB2_TAG_MMAP) {
            copy_mmap(tag);
        }
        at += (tag->size + 7) & ~7u;
    }
    return &info;
}
