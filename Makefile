# Makefile - builds the kheap module, the stub kernel and its GRUB ISO; runs the demo and tests.
# Targets: all run test iso lib deps clean. `make help` lists them.

BUILD       := build
KHEAP_POOL_SIZE ?= 1048576
# How 32-bit host programs run (tests/run32.sh): auto probes this machine; qemu forces
# qemu-i386 (the route of machines without IA32 emulation); native forces direct execution.
HOST32      ?= auto
export KHEAP_HOST32 := $(HOST32)
export KHEAP_PROBE32 := $(BUILD)/host/probe32
RUN32       := tests/run32.sh
# Stamps (written at the end of this file): every object depends on FLAGS_STAMP, kmain.o
# on POOL_STAMP, so `make VAR=...` with other flags or another pool size rebuilds them.
FLAGS_STAMP := $(BUILD)/flags.stamp
POOL_STAMP  := $(BUILD)/pool.stamp
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
               kernel/irqstress.c kernel/memmap.c kernel/perf.c kernel/multiboot2.c
TEST_SRCS   := $(wildcard tests/*.c)
KTEST_SRCS  := $(wildcard tests/kernel/*.c)      # tests that need the stub kernel
KERNEL_OBJS := $(BUILD)/boot/boot.o $(BUILD)/boot/cpu.o $(KERNEL_SRCS:%.c=$(BUILD)/%.o) \
               $(TEST_SRCS:%.c=$(BUILD)/%.o) $(KTEST_SRCS:%.c=$(BUILD)/%.o)
KERNEL      := $(BUILD)/kheap.elf
ISO         := $(BUILD)/kheap.iso
LIB         := $(BUILD)/libkheap.a

.PHONY: all run test iso iso64 kernel64 lib python host fuzz coverage irq-nolock debug-cost bench bench-cg bench-kvm deps deps-run clean help
all: $(KERNEL)

help:
	@echo "make run    boot the demo kernel in QEMU (serial on this terminal); ARCH=x86_64 for"
	@echo "            the x86-64 kernel (long mode, higher half)"
	@echo "make test   build and run the KTAP suite: booted with -kernel and from the GRUB ISO"
	@echo "make iso    $(ISO) (boots the test suite; the demo is its second menu entry);"
	@echo "            make iso64: $(ISO64), the x86-64 kernel through GRUB's multiboot2"
	@echo "make irq-nolock  the interrupt stress without the heap's lock (shows the corruption)"
	@echo "make debug-cost  what KHEAP_F_DEBUG costs in time and memory"
	@echo "make bench  kheap, glibc malloc and a naive bitmap on the same traces"
	@echo "make bench-cg  instructions per alloc and per free (callgrind), W2 at 1 and 16 MiB"
	@echo "make bench-kvm the kernel's own cycles per kmalloc/kfree pair, under KVM"
	@echo "make lib    $(LIB) and $(LIB64): the module's i386 and x86-64 objects only"
	@echo "make python python/kheap/libkheap.so: the Python interface (PYTHONPATH=python)"
	@echo "make fuzz   differential fuzzing against the model (FUZZ_SECONDS=60)"
	@echo "make coverage  line coverage of kernel/kheap.c, branch targets of asm/kheap.asm"
	@echo "make test HOST32=qemu  run the 32-bit host programs under qemu-i386, as on a"
	@echo "            machine that cannot execute them (HOST32=auto|native|qemu)"
	@echo "make deps   install missing Debian packages (apt-get, sudo when not root)"
	@echo "make deps-run  only those make run needs"
	@echo "make clean  remove $(BUILD)/"

# ---- the module: asm core (its control block checked against the C struct) + C layer ----
# One source, two widths. i386: build/libkheap.a, for the stub kernel and -m32 programs.
# x86-64: build/libkheap64.a (System V, no red zone, no SSE, PC-relative references only), for
# a higher-half kernel built with -mcmodel=kernel and for ordinary x86-64 programs alike.
B64         := $(BUILD)/x86_64
LIB64       := $(BUILD)/libkheap64.a
CFLAGS64    := -m64 -std=gnu11 -ffreestanding -fno-stack-protector -fpie -mno-red-zone \
               -mgeneral-regs-only -O2 -Wall -Wextra -Werror -fno-asynchronous-unwind-tables \
               -fno-tree-loop-distribute-patterns -Iinclude
ASFLAGS64   := -f elf64 -g -F dwarf -Wall -Werror
MODULE_OBJS64 := $(B64)/asm/kheap_asm.o $(B64)/kernel/kheap.o
# the fuzzer's small geometry (asm and C alike): leaves of 2 words, a quick-cache class per
# 4 blocks, so its small pools have deep trees and caches
SMALL_LEAF  := -DKHEAP_LEAF_WORDS_LOG2=1 -DKHEAP_QCLASS_SHIFT=2

# $(call offsets,DIR,CFLAGS): DIR/kheap_offsets.inc, the control block's offsets as C lays it
# out at that width (asm-offsets style), which the asm checks its own layout against.
define offsets
$(1)/kheap_offsets.inc: kernel/kheap.c include/kheap.h $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	$$(CC) $(2) -S -DKHEAP_EMIT_OFFSETS $$< -o $(1)/kheap_offsets.s
	sed -n 's/^->\([A-Z_]*\) \([0-9]*\)$$$$/%define C_\1 \2/p' $(1)/kheap_offsets.s > $$@
	@test -s $$@ || { echo "no offsets generated from kernel/kheap.c"; rm -f $$@; exit 1; }
endef
# $(call asm_object,OBJECT,ASFLAGS,OFFSETS_DIR,EXTRA): the core assembled and checked.
define asm_object
$(1): asm/kheap.asm $(3)/kheap_offsets.inc $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	$$(AS) $(2) -DKHEAP_CHECK_OFFSETS $(4) -I$(3)/ $$< -o $$@
endef
$(eval $(call offsets,$(BUILD),$(CFLAGS)))
$(eval $(call offsets,$(B64),$(CFLAGS64)))
$(eval $(call asm_object,$(BUILD)/asm/kheap_asm.o,$(ASFLAGS),$(BUILD)))
$(eval $(call asm_object,$(BUILD)/leaf/kheap_asm.o,$(ASFLAGS),$(BUILD),$(SMALL_LEAF)))
$(eval $(call asm_object,$(B64)/asm/kheap_asm.o,$(ASFLAGS64),$(B64)))
$(eval $(call asm_object,$(B64)/leaf/kheap_asm.o,$(ASFLAGS64),$(B64),$(SMALL_LEAF)))

$(B64)/kernel/kheap.o: kernel/kheap.c include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS64) -c $< -o $@

# An archive of the module alone: the build fails when it needs a symbol from outside, or
# (x86-64) holds a relocation that is not PC-relative outside the debug sections.
define archive
	rm -f $@
	$(AR) rcs $@ $^
	@undef=$$(nm $@ | awk '$$1 == "U" { u[$$2] = 1 } NF == 3 { d[$$3] = 1 } \
	    END { for (s in u) if (!(s in d)) print s }'); \
	if [ -n "$$undef" ]; then echo "$@ needs symbols from outside the module:"; \
	    echo "$$undef"; rm -f $@; exit 1; fi
endef
$(LIB): $(MODULE_OBJS)
	$(archive)
$(LIB64): $(MODULE_OBJS64)
	$(archive)
	@abs=$$(readelf -rW $^ | awk '/^Relocation section/ { sec = $$3 } \
	    /R_X86_64_/ && sec !~ /debug/ && $$3 !~ /^R_X86_64_(PC32|PLT32)$$/ { print sec, $$3, $$5 }'); \
	if [ -n "$$abs" ]; then echo "$@ has relocations that are not PC-relative:"; \
	    echo "$$abs"; rm -f $@; exit 1; fi

lib: $(LIB) $(LIB64)

# ---- the Python interface (python/kheap): the x86-64 module as a shared library, for ctypes ----
# The same asm object and the C layer built -fPIC; only the public API is exported (kh_* are
# hidden), and the library needs nothing, not even libc.
PY_LIB := python/kheap/libkheap.so
$(B64)/pic/kheap.o: kernel/kheap.c include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(subst -fpie,-fPIC,$(CFLAGS64)) -c $< -o $@
$(PY_LIB): $(B64)/pic/kheap.o $(B64)/asm/kheap_asm.o
	$(CC) -m64 -shared -nostdlib -o $@ $^
	@if nm -D $@ | grep -q ' kh_'; then echo "$@ exports internal kh_* symbols"; rm -f $@; exit 1; fi

python: $(PY_LIB)
# Debian's python3 has python3-pytest; a PATH python without pytest is passed over.
PYTHON := $(shell for p in python3 /usr/bin/python3; do $$p -c 'import pytest' 2>/dev/null && \
	    { echo $$p; break; }; done)

# ---- the stub kernel ----
$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The kernel heap's static pool: `make run KHEAP_POOL_SIZE=...` rebuilds kmain.o alone.
$(BUILD)/kernel/kmain.o: CFLAGS += -DKHEAP_POOL_SIZE=$(KHEAP_POOL_SIZE)
$(BUILD)/kernel/kmain.o: $(POOL_STAMP)

# Tests register in source order, so KTAP numbers follow the files.
$(BUILD)/tests/%.o: CFLAGS += -fno-toplevel-reorder

$(BUILD)/boot/%.o: boot/%.asm $(FLAGS_STAMP)
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

# ---- the host twin: the same test sources as host programs, at both widths ----
# In DIR (build/host for i386, build/x86_64/host for x86-64): ktest, linked with the archive as
# shipped; ktest-san, module and tests under ASan+UBSan; ktest-vg, the module with Valgrind
# mempool annotations (-DKHEAP_VALGRIND), run under memcheck; model_test; replay and
# replay-plain, the fuzz target over the committed corpora with and without ASan+UBSan; damage
# and damage-san, the damage campaign. replay and damage use the fuzzer's small leaves.
HOST_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer \
               -fno-toplevel-reorder -Iinclude -Itests -Itests/host
# _FILE_OFFSET_BITS=64: readdir of a 64-bit file system (ext4's hashed offsets) from a
# 32-bit program under qemu-i386 fails with EOVERFLOW otherwise.
HOST32      := -m32 -D_FILE_OFFSET_BITS=64
HOST64      := -m64
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
VALGRIND    := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all
HOST_TESTS  := $(TEST_SRCS) tests/host/backend.c
REPLAY_SRCS := tests/host/replay.c tests/host/fuzz_kheap.c tests/host/model.c kernel/kheap.c
MODEL_SRCS  := tests/ktest.c tests/host/backend.c tests/host/model.c tests/host/model_test.c
DAMAGE_SRCS := tests/host/damage.c kernel/kheap.c

# $(call objects,DIR,FLAGS): DIR/%.o from %.c
define objects
$(1)/%.o: %.c $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	$$(CC) $(2) -MMD -MP -c $$< -o $$@
endef
# $(call host_twin,DIR,WIDTH FLAGS,LINK FLAGS,ASM OBJECT,SMALL-LEAF ASM OBJECT,ARCHIVE)
define host_twin
$(call objects,$(1)/plain,$(2) $(HOST_CFLAGS))
$(call objects,$(1)/san,$(2) $(HOST_CFLAGS) $(SAN_FLAGS))
$(call objects,$(1)/vg,$(2) $(HOST_CFLAGS) -DKHEAP_VALGRIND)
$(call objects,$(1)/leaf,$(2) $(HOST_CFLAGS) $(SAN_FLAGS) $(SMALL_LEAF))
$(call objects,$(1)/leafplain,$(2) $(HOST_CFLAGS) $(SMALL_LEAF))
$(1)/ktest: $(HOST_TESTS:%.c=$(1)/plain/%.o) $(6)
	$$(CC) $(3) -o $$@ $$^
$(1)/ktest-san: $(HOST_TESTS:%.c=$(1)/san/%.o) $(1)/san/kernel/kheap.o $(4)
	$$(CC) $(3) $$(SAN_FLAGS) -o $$@ $$^
$(1)/ktest-vg: $(HOST_TESTS:%.c=$(1)/vg/%.o) $(1)/vg/kernel/kheap.o $(4)
	$$(CC) $(3) -o $$@ $$^
$(1)/model_test: $(MODEL_SRCS:%.c=$(1)/plain/%.o) $(6)
	$$(CC) $(3) -o $$@ $$^
$(1)/replay: $(REPLAY_SRCS:%.c=$(1)/leaf/%.o) $(5)
	$$(CC) $(3) $$(SAN_FLAGS) -o $$@ $$^
$(1)/replay-plain: $(REPLAY_SRCS:%.c=$(1)/leafplain/%.o) $(5)
	$$(CC) $(3) -o $$@ $$^
$(1)/damage: $(DAMAGE_SRCS:%.c=$(1)/leafplain/%.o) $(5)
	$$(CC) $(3) -o $$@ $$^
$(1)/damage-san: $(DAMAGE_SRCS:%.c=$(1)/leaf/%.o) $(5)
	$$(CC) $(3) $$(SAN_FLAGS) -o $$@ $$^
endef
$(eval $(call host_twin,$(BUILD)/host,$(HOST32),-m32 -no-pie,$(BUILD)/asm/kheap_asm.o,$(BUILD)/leaf/kheap_asm.o,$(LIB)))
$(eval $(call host_twin,$(B64)/host,$(HOST64),-m64,$(B64)/asm/kheap_asm.o,$(B64)/leaf/kheap_asm.o,$(LIB64)))

# ---- the x86-64 stub kernel: the same kernel sources in long mode, in the higher half ----
# boot/boot64.asm builds the page tables and enters long mode; everything else is the same C,
# built -mcmodel=kernel and linked with build/libkheap64.a exactly as shipped.
KERNEL64    := $(B64)/kheap.elf
ISO64       := $(B64)/kheap.iso
QEMU64      := qemu-system-x86_64
CFLAGS_K64  := -m64 -mcmodel=kernel -mno-red-zone -mgeneral-regs-only -std=gnu11 -ffreestanding \
               -fno-pie -fno-pic -fno-stack-protector -nostdlib -O2 -Wall -Wextra -Werror \
               -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Iinclude -Itests
KERNEL64_OBJS := $(B64)/k/boot/boot64.o $(B64)/k/boot/cpu.o \
               $(addprefix $(B64)/k/,$(KERNEL_SRCS:.c=.o) $(TEST_SRCS:.c=.o) $(KTEST_SRCS:.c=.o))
$(eval $(call objects,$(B64)/k,$(CFLAGS_K64)))
$(B64)/k/tests/%.o: tests/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_K64) -fno-toplevel-reorder -MMD -MP -c $< -o $@
$(B64)/k/kernel/kmain.o: kernel/kmain.c $(FLAGS_STAMP) $(POOL_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_K64) -DKHEAP_POOL_SIZE=$(KHEAP_POOL_SIZE) -MMD -MP -c $< -o $@
$(B64)/k/boot/%.o: boot/%.asm $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(AS) -f elf64 -Wall -Werror $< -o $@
$(KERNEL64): $(KERNEL64_OBJS) $(LIB64) linker64.ld
	$(LD) -m elf_x86_64 -T linker64.ld -nostdlib -z max-page-size=4096 -o $@ $(KERNEL64_OBJS) $(LIB64)
	@grub-file --is-x86-multiboot $@ && grub-file --is-x86-multiboot2 $@ || \
	    { echo "$@: no valid multiboot or multiboot2 header"; rm -f $@; exit 1; }

# The ISO: GRUB loads it with `multiboot2` (iso/boot/grub/grub64.cfg becomes its grub.cfg).
$(ISO64): $(KERNEL64) iso/boot/grub/grub64.cfg
	rm -rf $(B64)/isodir
	mkdir -p $(B64)/isodir/boot/grub
	cp iso/boot/grub/grub64.cfg $(B64)/isodir/boot/grub/grub.cfg
	cp $(KERNEL64) $(B64)/isodir/boot/kheap64.elf
	grub-mkrescue -o $@ $(B64)/isodir 2> $(B64)/grub-mkrescue.log || \
	    { cat $(B64)/grub-mkrescue.log; exit 1; }

kernel64: $(KERNEL64)
iso64: $(ISO64)

# A kernel that is not the stub kernel (tests/embed/embed64.c: its own kmain, serial and exit)
# linked with build/libkheap64.a as shipped; only the long-mode entry is borrowed.
EMBED64 := $(B64)/embed64.elf
$(EMBED64): $(B64)/k/tests/embed/embed64.o $(B64)/k/boot/boot64.o $(LIB64) linker64.ld
	$(LD) -m elf_x86_64 -T linker64.ld -nostdlib -z max-page-size=4096 -o $@ \
	    $(B64)/k/boot/boot64.o $(B64)/k/tests/embed/embed64.o $(LIB64)

# The probe tests/run32.sh runs to learn whether this machine executes 32-bit programs.
$(BUILD)/host/probe32: $(FLAGS_STAMP)
	@mkdir -p $(@D)
	echo 'int main(void) { return 0; }' | $(CC) -m32 -x c - -o $@

# i386: the plain suite, the model, the plain replay and the damage campaign run natively or
# under qemu-i386; ASan and Valgrind only natively. x86-64: everything, natively.
HOST_SUITES := $(BUILD)/host/probe32 \
               $(addprefix $(BUILD)/host/,ktest ktest-san ktest-vg model_test replay replay-plain damage) \
               $(addprefix $(B64)/host/,ktest ktest-san ktest-vg model_test replay damage-san)
# The damage campaign's trials in make test; make fuzz runs it for FUZZ_SECONDS from a new seed.
DAMAGE_TRIALS ?= 20000

host: $(HOST_SUITES)

# ---- the differential fuzzer: libFuzzer, kheap against the model (x86-64, native) ----
FUZZ_SECONDS ?= 60
FUZZ_BASE    := -m64 -g -O1 -fno-sanitize-recover=all -Iinclude -Itests -Itests/host
FUZZ_FLAGS   := $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined
FUZZ_CORPORA := tests/fuzz/seeds tests/fuzz/regressions

# The model is built without coverage feedback: the fuzzer should steer by kheap's
# branches and the decoder's, not the model's.
$(BUILD)/fuzz/model.o: tests/host/model.c tests/host/model.h include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	clang $(FUZZ_BASE) $(SMALL_LEAF) -fsanitize=address,undefined -c $< -o $@
$(BUILD)/fuzz/fuzz_kheap: tests/host/fuzz_kheap.c tests/host/model.h kernel/kheap.c include/kheap.h \
                          $(BUILD)/fuzz/model.o $(B64)/leaf/kheap_asm.o $(FLAGS_STAMP)
	clang $(FUZZ_FLAGS) $(SMALL_LEAF) -o $@ tests/host/fuzz_kheap.c kernel/kheap.c \
	    $(BUILD)/fuzz/model.o $(B64)/leaf/kheap_asm.o

# New inputs go to build/fuzz/corpus; a finding is written to build/fuzz/ as crash-*:
# copy it into tests/fuzz/regressions once fixed. Then the damage campaign (ASan) runs for
# FUZZ_SECONDS more from a new seed.
fuzz: deps $(BUILD)/fuzz/fuzz_kheap $(B64)/host/damage-san
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_kheap -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(FUZZ_CORPORA)
	@seed=$$(date +%s); echo "make fuzz: the damage campaign, $(FUZZ_SECONDS) s from seed $$seed"; \
	$(B64)/host/damage-san --seconds $(FUZZ_SECONDS) $$seed

# ---- coverage: lines of kernel/kheap.c (gcov/lcov) and branch targets of asm/kheap.asm (gdb),
# both from the x86-64 host suite plus the replay of the committed fuzz corpora ----
COV_FLAGS := -m64 -std=gnu11 -g -O0 -fno-toplevel-reorder -Iinclude -Itests -Itests/host
$(eval $(call objects,$(BUILD)/cov,$(COV_FLAGS)))
$(BUILD)/cov/kernel/kheap.o: kernel/kheap.c include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(COV_FLAGS) --coverage -c $< -o $@
$(BUILD)/cov/ktest: $(HOST_TESTS:%.c=$(BUILD)/cov/%.o) $(BUILD)/cov/kernel/kheap.o $(B64)/asm/kheap_asm.o
	$(CC) -m64 --coverage -o $@ $^
$(BUILD)/cov/replay: $(BUILD)/cov/tests/host/replay.o $(BUILD)/cov/tests/host/fuzz_kheap.o \
                     $(BUILD)/cov/tests/host/model.o $(BUILD)/cov/kernel/kheap.o $(B64)/asm/kheap_asm.o
	$(CC) -m64 --coverage -o $@ $^

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

# ---- what debug pools cost, and make bench: kheap, glibc malloc and a naive bitmap on the
# same traces (benchmarks: they print figures). BENCH_WIDTH=64 (default, native) or 32 (the
# i386 build: natively, or under qemu-i386 where this machine cannot execute it).
BENCH_WIDTH ?= 64
BENCH_DIR   := $(if $(filter 32,$(BENCH_WIDTH)),$(BUILD)/host,$(B64)/host)
BENCH_RUN   := $(if $(filter 32,$(BENCH_WIDTH)),$(RUN32),)
$(BUILD)/host/%: tests/host/%.c tests/host/rng.h include/kheap.h $(LIB) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) -m32 -no-pie -O2 -Iinclude -Itests/host -o $@ $< $(LIB)
$(B64)/host/%: tests/host/%.c tests/host/rng.h include/kheap.h $(LIB64) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) -m64 -O2 -Iinclude -Itests/host -o $@ $< $(LIB64)

debug-cost: deps $(BENCH_DIR)/debug_cost $(BUILD)/host/probe32
	@$(if $(BENCH_RUN),$(call emulated_note,debug-cost))
	@$(BENCH_RUN) $(BENCH_DIR)/debug_cost

bench: deps $(BENCH_DIR)/bench $(BUILD)/host/probe32
	@mkdir -p $(BUILD)/bench
	@$(if $(BENCH_RUN),$(call emulated_note,bench))
	@$(BENCH_RUN) $(BENCH_DIR)/bench $(BUILD)/bench/bench.dat | tee $(BUILD)/bench/bench.txt
	@gnuplot tests/bench.gp && echo "plot: $(BUILD)/bench/bench.png"

# Instructions per alloc and per free on W2 at 1 and 16 MiB, from callgrind (Valgrind cannot
# run the i386 build on a machine that cannot execute it: then it says so).
bench-cg: deps $(BENCH_DIR)/bench $(BUILD)/host/probe32
	@if [ -n "$(BENCH_RUN)" ] && [ "$$($(RUN32) --mode)" != native ]; then \
	    echo "make bench-cg: SKIP: Valgrind's 32-bit tool cannot start on a machine that cannot"; \
	    echo "make bench-cg: execute 32-bit programs"; exit 0; fi; \
	tests/bench-cg.sh $(BENCH_DIR)/bench $(BUILD)/bench-cg

# The in-kernel figure with -enable-kvm, when this machine's KVM can run the kernel (a KVM
# internal error pauses QEMU rather than ending it, hence the timeout).
bench-kvm: deps-run $(KERNEL)
	@if [ ! -w /dev/kvm ]; then echo "bench-kvm: /dev/kvm is not usable here"; exit 0; fi; \
	out=$$(timeout 30 $(QEMU) $(QEMU_FLAGS) -enable-kvm -kernel $(KERNEL) -append perf 2>&1); rc=$$?; \
	if [ $$rc -eq 33 ]; then echo "$$out" | grep '^# perf'; \
	else echo "bench-kvm: KVM is present but could not run the kernel (QEMU exit $$rc):"; \
	    echo "$$out" | grep -m 3 -iE 'error|failure'; fi

# ---- running ----
# ARCH=x86_64 runs the x86-64 kernel (long mode, higher half) instead of the i386 one.
ARCH        ?= i386
RUN_QEMU    := $(if $(filter x86_64,$(ARCH)),$(QEMU64),$(QEMU))
RUN_KERNEL  := $(if $(filter x86_64,$(ARCH)),$(KERNEL64),$(KERNEL))
run: deps-run $(RUN_KERNEL)
	@$(RUN_QEMU) $(QEMU_FLAGS) -kernel $(RUN_KERNEL); rc=$$?; \
	if [ $$rc -eq 33 ]; then exit 0; fi; echo "QEMU exited with $$rc (33 means success)"; exit 1

# The interrupt stress without the heap's lock: shows the corruption the lock prevents.
irq-nolock: deps-run $(RUN_KERNEL)
	@$(RUN_QEMU) $(QEMU_FLAGS) -kernel $(RUN_KERNEL) -append irq-nolock; rc=$$?; \
	if [ $$rc -eq 33 ]; then exit 0; fi; echo "QEMU exited with $$rc (33 means success)"; exit 1

# 32-bit host suites: --host32 runs natively or under qemu-i386; --native32 is skipped, with
# its reason, on a machine that cannot execute 32-bit programs.
NO_ASAN  := 32-bit ASan fails under qemu-i386
NO_VG    := Valgrind's 32-bit tool cannot start
test: deps $(KERNEL) $(ISO) $(KERNEL64) $(ISO64) $(EMBED64) $(HOST_SUITES) $(PY_LIB)
	@tests/run-suites.sh --kernel $(KERNEL) --iso $(ISO) \
	    --kernel "$(KERNEL)@-m 64" --kernel "$(KERNEL)@-m 512" --crash $(KERNEL) \
	    --system $(QEMU64) --kernel $(KERNEL64) --iso $(ISO64) --kernel "$(KERNEL64)@-m 6G" \
	    --crash $(KERNEL64) --kernel $(EMBED64) \
	    --host32 "i386 host (libkheap.a):$(BUILD)/host/ktest" \
	    --native32 "i386 host asan+ubsan:$(NO_ASAN):$(BUILD)/host/ktest-san" \
	    --native32 "i386 host valgrind:$(NO_VG):$(VALGRIND) $(BUILD)/host/ktest-vg" \
	    --host32 "i386 model:$(BUILD)/host/model_test" \
	    --native32 "i386 fuzz corpus replay, asan:$(NO_ASAN):$(BUILD)/host/replay $(FUZZ_CORPORA)" \
	    --host32 "i386 fuzz corpus replay, plain:$(BUILD)/host/replay-plain $(FUZZ_CORPORA)" \
	    --host32 "i386 damage campaign:$(BUILD)/host/damage $(DAMAGE_TRIALS)" \
	    --host "x86-64 host (libkheap64.a):$(B64)/host/ktest" \
	    --host "x86-64 host asan+ubsan:$(B64)/host/ktest-san" \
	    --host "x86-64 host valgrind:$(VALGRIND) $(B64)/host/ktest-vg" \
	    --host "x86-64 model:$(B64)/host/model_test" \
	    --host "x86-64 fuzz corpus replay, asan:$(B64)/host/replay $(FUZZ_CORPORA)" \
	    --host "x86-64 damage campaign, asan:$(B64)/host/damage-san $(DAMAGE_TRIALS)" \
	    --pytest "python (pytest):env PYTHONPATH=python $(or $(PYTHON),/usr/bin/python3) -m pytest -q -p no:cacheprovider python/tests" \
	    --host "runner self-test:tests/runner-test.sh"

# ---- toolchain: each needed command, and the Debian package that has it ----
# deps-run: what `make run` needs to build and boot the kernel, kept small so a first run
# is quick. deps: everything, adding GRUB and the ISO tools, and for the host twin valgrind
# (with 32-bit glibc symbols, libc6-dbg:i386), clang with its libFuzzer runtime
# (libclang-rt-dev, g++-multilib for the 32-bit C++ runtime), lcov and gnuplot (make bench).
RUN_DEPS := nasm:nasm ld:binutils gcc:gcc qemu-system-i386:qemu-system-x86 grub-file:grub-common
ALL_DEPS := $(RUN_DEPS) grub-mkrescue:grub-common xorriso:xorriso mformat:mtools \
            valgrind:valgrind clang:clang lcov:lcov gnuplot:gnuplot-nox qemu-i386:qemu-user

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
	    /usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || missing="$$missing python3-pytest"; \
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

# $(call emulated_note,TARGET): a line saying the figures below come from qemu-i386.
emulated_note = if [ "$$($(RUN32) --mode)" != native ]; then \
	echo "make $(1): this machine cannot execute 32-bit programs: figures below are from qemu-i386 emulation"; fi

# ---- flags stamps: a build with other compilers, flags or settings rebuilds what they affect ----
# $(call stamp,FILE,VARIABLES): FILE holds the values of VARIABLES, rewritten (and so newer
# than every object) only when one of them changed since the last make. Run while this file
# is read, after every variable above has its value and before any rule runs.
stamp = $(shell mkdir -p $(dir $(1)); v='$(foreach v,$(2),$(v)=$($(v)))'; \
	[ "$$(cat $(1) 2>/dev/null)" = "$$v" ] || printf '%s\n' "$$v" > $(1))
$(call stamp,$(FLAGS_STAMP),CC AS LD AR CFLAGS ASFLAGS LDFLAGS CFLAGS64 ASFLAGS64 HOST_CFLAGS \
	HOST32 HOST64 SAN_FLAGS SMALL_LEAF FUZZ_FLAGS COV_FLAGS)
$(call stamp,$(POOL_STAMP),KHEAP_POOL_SIZE)
$(FLAGS_STAMP) $(POOL_STAMP): ;

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
