/* panic.h - ending the run: QEMU's isa-debug-exit device, and panic for the unrecoverable.
 * Exit codes: QEMU exits with (code << 1) | 1, so 0x10 -> 33 (success), 0x11 -> 35 (failure). */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#define QEMU_EXIT_SUCCESS 0x10
#define QEMU_EXIT_FAILURE 0x11

void qemu_exit(unsigned code) __attribute__((noreturn));
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
