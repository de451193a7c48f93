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
ASFLAGS     := -f elf32 -g -F dwarf -Wall -Werror
LDFLAGS     := -m elf_i386 -T linker.ld -nostdlib

MODULE_OBJS := $(BUILD)/asm/kheap_asm.o $(BUILD)/kernel/kheap.o   # distinct names inside the .a
KERNEL_SRCS := kernel/kmain.c kernel/serial.c kernel/kprintf.c kernel/string.c \
               kernel/panic.c kernel/multiboot.c kernel/demo.c kernel/ktest_backend.c \
               kernel/gdt.c kernel/idt.c kernel/pic.c kernel/pit.c kernel/irqlock.c \
               kernel/irqstress.c kernel/memmap.c kernel/perf.c
TEST_SRCS   := $(wildcard tests/*.c)
KTEST_SRCS  := $(wildcard tests/kernel/*.c)      # tests that need the stub kernel
KERNEL_OBJS := $(BUILD)/boot/boot.o $(BUILD)/boot/cpu.o $(KERNEL_SRCS:%.c=$(BUILD)/%.o) \
               $(TEST_SRCS:%.c=$(BUILD)/%.o) $(KTEST_SRCS:%.c=$(BUILD)/%.o)
KERNEL      := $(BUILD)/kheap.elf
ISO         := $(BUILD)/kheap.iso
LIB         := $(BUILD)/libkheap.a

.PHONY: all run test iso lib host fuzz coverage irq-nolock debug-cost bench bench-cg bench-kvm deps deps-run clean help
all: $(KERNEL)

help:
	@echo "make run    boot the demo kernel in QEMU (serial on this terminal)"
	@echo "make test   build and run the KTAP suite: booted with -kernel and from the GRUB ISO"
	@echo "make iso    $(ISO) (boots the test suite; the demo is its second menu entry)"
	@echo "make irq-nolock  the interrupt stress without the heap's lock (shows the corruption)"
	@echo "make debug-cost  what KHEAP_F_DEBUG costs in time and memory"
	@echo "make bench  kheap, glibc malloc and a naive bitmap on the same traces"
	@echo "make bench-cg  instructions per alloc and per free (callgrind), W2 at 1 and 16 MiB"
	@echo "make bench-kvm the kernel's own cycles per kmalloc/kfree pair, under KVM"
	@echo "make lib    $(LIB): the module's i386 objects only"
	@echo "make fuzz   differential fuzzing against the model (FUZZ_SECONDS=60)"
	@echo "make coverage  line coverage of kernel/kheap.c, branch targets of asm/kheap.asm"
	@echo "make deps   install missing Debian packages (apt-get, sudo when not root)"
	@echo "make deps-run  only those make run needs"
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
	@undef=$$(nm $@ | awk '$$1 == "U" { u[$$2] = 1 } NF == 3 { d[$$3] = 1 } \
	    END { for (s in u) if (!(s in d)) print s }'); \
	if [ -n "$$undef" ]; then echo "$@ needs symbols from outside the module:"; \
	    echo "$$undef"; rm -f $@; exit 1; fi

lib: $(LIB)

# ---- the stub kernel ----
$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -DKHEAP_POOL_SIZE=$(KHEAP_POOL_SIZE) -c $< -o $@

# Tests register in source order, so KTAP numbers follow the files.
$(BUILD)/tests/%.o: CFLAGS += -fno-toplevel-reorder

$(BUILD)/boot/%.o: boot/%.asm
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

# ---- the host twin: the same test sources as a 32-bit host program ----
# plain: linked with $(LIB) as shipped; san: module and tests under ASan+UBSan;
# vg: the module with Valgrind mempool annotations (-DKHEAP_VALGRIND), run under memcheck.
HOST_CFLAGS := -m32 -std=gnu11 -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer \
               -fno-toplevel-reorder -Iinclude -Itests
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
VALGRIND    := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all
HOST_TESTS  := $(TEST_SRCS) tests/host/backend.c
HOST_SUITES := $(BUILD)/host/ktest $(BUILD)/host/ktest-san $(BUILD)/host/ktest-vg
ASM_OBJ     := $(BUILD)/asm/kheap_asm.o

$(BUILD)/host/plain/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/host/san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@
$(BUILD)/host/vg/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -DKHEAP_VALGRIND -MMD -MP -c $< -o $@

$(BUILD)/host/ktest: $(HOST_TESTS:%.c=$(BUILD)/host/plain/%.o) $(LIB)
	$(CC) -m32 -no-pie -o $@ $^
$(BUILD)/host/ktest-san: $(HOST_TESTS:%.c=$(BUILD)/host/san/%.o) $(BUILD)/host/san/kernel/kheap.o $(ASM_OBJ)
	$(CC) -m32 -no-pie $(SAN_FLAGS) -o $@ $^
$(BUILD)/host/ktest-vg: $(HOST_TESTS:%.c=$(BUILD)/host/vg/%.o) $(BUILD)/host/vg/kernel/kheap.o $(ASM_OBJ)
	$(CC) -m32 -no-pie -o $@ $^

# The model's own test, and the fuzz target replaying the committed corpora (ASan+UBSan).
$(BUILD)/host/model_test: $(BUILD)/host/plain/tests/ktest.o $(BUILD)/host/plain/tests/host/backend.o \
                          $(BUILD)/host/plain/tests/host/model.o $(BUILD)/host/plain/tests/host/model_test.o $(LIB)
	$(CC) -m32 -no-pie -o $@ $^
# The fuzzer's module: run-tree leaves of 2 words (64 blocks) instead of 16, so its small
# pools have trees up to 6 levels deep; asm and C get the same -D.
SMALL_LEAF  := -DKHEAP_LEAF_WORDS_LOG2=1
FUZZ_ASM    := $(BUILD)/fuzz/kheap_asm.o
$(FUZZ_ASM): asm/kheap.asm $(BUILD)/kheap_offsets.inc
	@mkdir -p $(@D)
	$(AS) $(ASFLAGS) -DKHEAP_CHECK_OFFSETS $(SMALL_LEAF) -I$(BUILD)/ $< -o $@
$(BUILD)/host/leaf/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Itests/host $(SAN_FLAGS) $(SMALL_LEAF) -MMD -MP -c $< -o $@
$(BUILD)/host/replay: $(BUILD)/host/leaf/tests/host/replay.o $(BUILD)/host/leaf/tests/host/fuzz_kheap.o \
                      $(BUILD)/host/leaf/tests/host/model.o $(BUILD)/host/leaf/kernel/kheap.o $(FUZZ_ASM)
	$(CC) -m32 -no-pie $(SAN_FLAGS) -o $@ $^
HOST_SUITES += $(BUILD)/host/model_test $(BUILD)/host/replay

host: $(HOST_SUITES)

# ---- the differential fuzzer: libFuzzer, kheap against the model ----
FUZZ_SECONDS ?= 60
FUZZ_BASE    := -m32 -g -O1 -fno-sanitize-recover=all -Iinclude -Itests -Itests/host
FUZZ_FLAGS   := $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined
FUZZ_CORPORA := tests/fuzz/seeds tests/fuzz/regressions

# The model is built without coverage feedback: the fuzzer should steer by kheap's
# branches and the decoder's, not the model's.
$(BUILD)/fuzz/model.o: tests/host/model.c tests/host/model.h include/kheap.h
	@mkdir -p $(@D)
	clang $(FUZZ_BASE) $(SMALL_LEAF) -fsanitize=address,undefined -c $< -o $@
$(BUILD)/fuzz/fuzz_kheap: tests/host/fuzz_kheap.c tests/host/model.h kernel/kheap.c include/kheap.h \
                          $(BUILD)/fuzz/model.o $(FUZZ_ASM)
	clang $(FUZZ_FLAGS) $(SMALL_LEAF) -no-pie -o $@ tests/host/fuzz_kheap.c kernel/kheap.c \
	    $(BUILD)/fuzz/model.o $(FUZZ_ASM)

# New inputs go to build/fuzz/corpus; a finding is written to build/fuzz/ as crash-*:
# copy it into tests/fuzz/regressions once fixed.
fuzz: deps $(BUILD)/fuzz/fuzz_kheap
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_kheap -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(FUZZ_CORPORA)

# ---- coverage: lines of kernel/kheap.c (gcov/lcov) and branch targets of asm/kheap.asm (gdb),
# both from the host suite plus the replay of the committed fuzz corpora ----
COV_FLAGS := -m32 -std=gnu11 -g -O0 -fno-toplevel-reorder -Iinclude -Itests -Itests/host
$(BUILD)/cov/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(COV_FLAGS) -c $< -o $@
$(BUILD)/cov/kernel/kheap.o: kernel/kheap.c include/kheap.h
	@mkdir -p $(@D)
	$(CC) $(COV_FLAGS) --coverage -c $< -o $@
$(BUILD)/cov/ktest: $(HOST_TESTS:%.c=$(BUILD)/cov/%.o) $(BUILD)/cov/kernel/kheap.o $(ASM_OBJ)
	$(CC) -m32 -no-pie --coverage -o $@ $^
$(BUILD)/cov/replay: $(BUILD)/cov/tests/host/replay.o $(BUILD)/cov/tests/host/fuzz_kheap.o \
                     $(BUILD)/cov/tests/host/model.o $(BUILD)/cov/kernel/kheap.o $(ASM_OBJ)
	$(CC) -m32 -no-pie --coverage -o $@ $^

coverage: deps $(BUILD)/cov/ktest $(BUILD)/cov/replay
	@find $(BUILD)/cov -name '*.gcda' -delete
	@$(BUILD)/cov/ktest > /dev/null && $(BUILD)/cov/replay $(FUZZ_CORPORA) > /dev/null
	@lcov -q --capture --directory $(BUILD)/cov --output-file $(BUILD)/cov/all.info 2>/dev/null
	@lcov -q --extract $(BUILD)/cov/all.info '*/kernel/kheap.c' --output-file $(BUILD)/cov/kheap.info
	@genhtml -q $(BUILD)/cov/kheap.info --output-directory $(BUILD)/cov/html
	@echo "kernel/kheap.c (report: $(BUILD)/cov/html/index.html):"
	@lcov --summary $(BUILD)/cov/kheap.info 2>&1 | grep -E 'lines|functions'
	@echo "asm/kheap.asm (gdb, tests/asm-coverage.sh):"
	@tests/asm-coverage.sh $(BUILD)/cov/ktest -- $(BUILD)/cov/replay $(FUZZ_CORPORA)

# ---- what debug pools cost (a benchmark: prints figures) ----
$(BUILD)/host/debug_cost: tests/host/debug_cost.c tests/host/rng.h include/kheap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) -m32 -no-pie -O2 -Iinclude -Itests/host -o $@ $< $(LIB)

debug-cost: deps $(BUILD)/host/debug_cost
	@$(BUILD)/host/debug_cost

# ---- make bench: kheap, glibc malloc and a naive bitmap on the same traces (prints figures) ----
$(BUILD)/host/bench: tests/host/bench.c tests/host/rng.h include/kheap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) -m32 -no-pie -O2 -Iinclude -Itests/host -o $@ $< $(LIB)

bench: deps $(BUILD)/host/bench
	@mkdir -p $(BUILD)/bench
	@$(BUILD)/host/bench $(BUILD)/bench/bench.dat | tee $(BUILD)/bench/bench.txt
	@gnuplot tests/bench.gp && echo "plot: $(BUILD)/bench/bench.png"

# Instructions per alloc and per free on W2 at 1 and 16 MiB, from callgrind.
bench-cg: deps $(BUILD)/host/bench
	@tests/bench-cg.sh $(BUILD)/host/bench $(BUILD)/bench-cg

# The in-kernel figure with -enable-kvm, when this machine's KVM can run the kernel (a KVM
# internal error pauses QEMU rather than ending it, hence the timeout).
bench-kvm: deps-run $(KERNEL)
	@if [ ! -w /dev/kvm ]; then echo "bench-kvm: /dev/kvm is not usable here"; exit 0; fi; \
	out=$$(timeout 30 $(QEMU) $(QEMU_FLAGS) -enable-kvm -kernel $(KERNEL) -append perf 2>&1); rc=$$?; \
	if [ $$rc -eq 33 ]; then echo "$$out" | grep '^# perf'; \
	else echo "bench-kvm: KVM is present but could not run the kernel (QEMU exit $$rc):"; \
	    echo "$$out" | grep -m 3 -iE 'error|failure'; fi

# ---- running ----
run: deps-run $(KERNEL)
	@$(QEMU) $(QEMU_FLAGS) -kernel $(KERNEL); rc=$$?; \
	if [ $$rc -eq 33 ]; then exit 0; fi; echo "QEMU exited with $$rc (33 means success)"; exit 1

# The interrupt stress without the heap's lock: shows the corruption the lock prevents.
irq-nolock: deps-run $(KERNEL)
	@$(QEMU) $(QEMU_FLAGS) -kernel $(KERNEL) -append irq-nolock; rc=$$?; \
	if [ $$rc -eq 33 ]; then exit 0; fi; echo "QEMU exited with $$rc (33 means success)"; exit 1

test: deps $(KERNEL) $(ISO) $(HOST_SUITES)
	@tests/run-suites.sh --kernel $(KERNEL) --iso $(ISO) \
	    --kernel "$(KERNEL)@-m 64" --kernel "$(KERNEL)@-m 512" --crash $(KERNEL) \
	    --host "host (libkheap.a):$(BUILD)/host/ktest" \
	    --host "host asan+ubsan:$(BUILD)/host/ktest-san" \
	    --host "host valgrind:$(VALGRIND) $(BUILD)/host/ktest-vg" \
	    --host "model:$(BUILD)/host/model_test" \
	    --host "fuzz corpus replay:$(BUILD)/host/replay $(FUZZ_CORPORA)"

# ---- toolchain: each needed command, and the Debian package that has it ----
# deps-run: what `make run` needs to build and boot the kernel, kept small so a first run
# is quick. deps: everything, adding GRUB and the ISO tools, and for the host twin valgrind
# (with 32-bit glibc symbols, libc6-dbg:i386), clang with its libFuzzer runtime
# (libclang-rt-dev, g++-multilib for the 32-bit C++ runtime), lcov and gnuplot (make bench).
RUN_DEPS := nasm:nasm ld:binutils gcc:gcc qemu-system-i386:qemu-system-x86
ALL_DEPS := $(RUN_DEPS) grub-mkrescue:grub-common grub-file:grub-common xorriso:xorriso \
            mformat:mtools valgrind:valgrind clang:clang lcov:lcov gnuplot:gnuplot-nox

# $(call install_missing,COMMAND:PACKAGE list,extra checks yes/no)
define install_missing
	@missing=""; \
	for d in $(1); do command -v $${d%%:*} >/dev/null 2>&1 || missing="$$missing $${d#*:}"; done; \
	echo 'int main(void){return 0;}' | $(CC) -m32 -x c - -o /dev/null >/dev/null 2>&1 || \
	    missing="$$missing gcc-multilib"; \
	i386=""; \
	if [ "$(2)" = yes ]; then \
	    [ -d /usr/lib/grub/i386-pc ] || missing="$$missing grub-pc-bin"; \
	    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' | \
	        clang -m32 -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1 || \
	        missing="$$missing libclang-rt-dev g++-multilib"; \
	    dpkg -s libc6-dbg:i386 >/dev/null 2>&1 || { i386=yes; missing="$$missing libc6-dbg:i386"; }; \
	fi; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing% }" ]; then \
	    sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	    echo "make deps: installing $$missing(apt-get$${sudo:+ via sudo})"; \
	    if [ -n "$$i386" ]; then echo "make deps: dpkg --add-architecture i386 (for libc6-dbg:i386)"; \
	        $$sudo dpkg --add-architecture i386; fi; \
	    $$sudo apt-get update -qq || echo "make deps: apt-get update had errors; trying the install"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi
endef

deps-run:
	$(call install_missing,$(RUN_DEPS),no)

deps:
	$(call install_missing,$(ALL_DEPS),yes)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
