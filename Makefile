# Makefile - builds the kheap module, the stub kernel and its GRUB ISO; runs the demo and tests.
# Targets: all run test iso lib deps clean. `make help` lists them.

BUILD       := build
KHEAP_POOL_SIZE ?= 1048576
QEMU        := qemu-system-i386
QEMU_FLAGS  := -display none -serial stdio -monitor none -no-reboot \
               -device isa-debug-exit,iobase=0xf4,iosize=0x04

CC          := gcc
AS          := nasm
LD          := ld
AR          := ar
CFLAGS      := -m32 -std=gnu11 -ffreestanding -fno-pie -fno-pic -fno-stack-protector \
               -nostdlib -O2 -Wall -Wextra -Werror -fno-asynchronous-unwind-tables \
               -fno-tree-loop-distribute-patterns -Iinclude -Itests
ASFLAGS     := -f elf32 -Wall -Werror
LDFLAGS     := -m elf_i386 -T linker.ld -nostdlib

MODULE_OBJS := $(BUILD)/asm/kheap_asm.o $(BUILD)/kernel/kheap.o   # distinct names inside the .a
KERNEL_SRCS := kernel/kmain.c kernel/serial.c kernel/kprintf.c kernel/string.c \
               kernel/panic.c kernel/multiboot.c kernel/demo.c
TEST_SRCS   := $(wildcard tests/*.c)
KERNEL_OBJS := $(BUILD)/boot/boot.o $(KERNEL_SRCS:%.c=$(BUILD)/%.o) $(TEST_SRCS:%.c=$(BUILD)/%.o)
KERNEL      := $(BUILD)/kheap.elf
ISO         := $(BUILD)/kheap.iso
LIB         := $(BUILD)/libkheap.a

.PHONY: all run test iso lib deps clean help
all: $(KERNEL)

help:
	@echo "make run    boot the demo kernel in QEMU (serial on this terminal)"
	@echo "make test   build and run the KTAP suite: booted with -kernel and from the GRUB ISO"
	@echo "make iso    $(ISO) (boots the test suite; the demo is its second menu entry)"
	@echo "make lib    $(LIB): the module's i386 objects only"
	@echo "make deps   install missing Debian packages (apt-get, sudo when not root)"
	@echo "make clean  remove $(BUILD)/"

# ---- the module: asm core (its control block checked against the C struct) + C layer ----
$(BUILD)/kheap_offsets.inc: kernel/kheap.c include/kheap.h | $(BUILD)
	$(CC) $(CFLAGS) -S -DKHEAP_EMIT_OFFSETS $< -o $(BUILD)/kheap_offsets.s
	sed -n 's/^->\([A-Z_]*\) \([0-9]*\)$$/%define C_\1 \2/p' $(BUILD)/kheap_offsets.s > $@
	@test -s $@ || { echo "no offsets generated from kernel/kheap.c"; rm -f $@; exit 1; }

$(BUILD)/asm/kheap_asm.o: asm/kheap.asm $(BUILD)/kheap_offsets.inc
	@mkdir -p $(@D)
	$(AS) $(ASFLAGS) -DKHEAP_CHECK_OFFSETS -I$(BUILD)/ $< -o $@

$(LIB): $(MODULE_OBJS)
	rm -f $@
	$(AR) rcs $@ $^
	@undef=$$(nm -u $@ | grep -v -e '^$$' -e ':$$' | grep -v -w -e kh_init -e kh_find \
	    -e kh_claim -e kh_release -e kh_mark -e kh_unmark -e kh_next_used -e kh_next_free \
	    -e kh_alloc_blocks -e kh_block_of -e kh_zero -e kh_copy); \
	if [ -n "$$undef" ]; then echo "$@ needs symbols from outside the module:"; \
	    echo "$$undef"; rm -f $@; exit 1; fi

lib: $(LIB)

# ---- the stub kernel ----
$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -DKHEAP_POOL_SIZE=$(KHEAP_POOL_SIZE) -c $< -o $@

# Tests register in source order, so KTAP numbers follow the files.
$(BUILD)/tests/%.o: CFLAGS += -fno-toplevel-reorder

$(BUILD)/boot/boot.o: boot/boot.asm
	@mkdir -p $(@D)
	$(AS) $(ASFLAGS) $< -o $@

$(KERNEL): $(KERNEL_OBJS) $(LIB) linker.ld
	$(LD) $(LDFLAGS) -o $@ $(KERNEL_OBJS) $(LIB)
	@grub-file --is-x86-multiboot $@ || { echo "$@: no valid multiboot header"; rm -f $@; exit 1; }

$(ISO): $(KERNEL) iso/boot/grub/grub.cfg
	rm -rf $(BUILD)/isodir
	mkdir -p $(BUILD)/isodir
	cp -r iso/. $(BUILD)/isodir/
	cp $(KERNEL) $(BUILD)/isodir/boot/kheap.elf
	grub-mkrescue -o $@ $(BUILD)/isodir 2> $(BUILD)/grub-mkrescue.log || \
	    { cat $(BUILD)/grub-mkrescue.log; exit 1; }

iso: $(ISO)

$(BUILD):
	mkdir -p $@

# ---- running ----
run: deps $(KERNEL)
	@$(QEMU) $(QEMU_FLAGS) -kernel $(KERNEL); rc=$$?; \
	if [ $$rc -eq 33 ]; then exit 0; fi; echo "QEMU exited with $$rc (33 means success)"; exit 1

test: deps $(KERNEL) $(ISO)
	@tests/run-qemu.sh --kernel $(KERNEL) --iso $(ISO)

# ---- toolchain: each needed command, and the Debian package that has it ----
DEPS := nasm:nasm ld:binutils gcc:gcc qemu-system-i386:qemu-system-x86 \
        grub-mkrescue:grub-common grub-file:grub-common xorriso:xorriso mformat:mtools

deps:
	@missing=""; \
	for d in $(DEPS); do command -v $${d%%:*} >/dev/null 2>&1 || missing="$$missing $${d#*:}"; done; \
	[ -d /usr/lib/grub/i386-pc ] || missing="$$missing grub-pc-bin"; \
	echo 'int main(void){return 0;}' | $(CC) -m32 -x c - -o /dev/null >/dev/null 2>&1 || \
	    missing="$$missing gcc-multilib"; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing% }" ]; then \
	    sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	    echo "make deps: installing$$missing (apt-get$${sudo:+ via sudo})"; \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
