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
	@echo "make test HOST32=qemu  run the 32-bit host programs under qemu-i386, as on a"
	@echo "            machine that cannot execute them (HOST32=auto|native|qemu)"
	@echo "make deps   install missing Debian packages (apt-get, sudo when not root)"
	@echo "make deps-run  only those make run needs"
	@echo "make clean  remove $(BUILD)/"

# ---- the module: asm core (its control block checked against the C struct) + C layer ----
$(BUILD)/kheap_offsets.inc: kernel/kheap.c include/kheap.h $(FLAGS_STAMP)
	$(CC) $(CFLAGS) -S -DKHEAP_EMIT_OFFSETS $< -o $(BUILD)/kheap_offsets.s
	sed -n 's/^->\([A-Z_]*\) \([0-9]*\)$$/%define C_\1 \2/p' $(BUILD)/kheap_offsets.s > $@
	@test -s $@ || { echo "no offsets generated from kernel/kheap.c"; rm -f $@; exit 1; }

$(BUILD)/asm/kheap_asm.o: asm/kheap.asm $(BUILD)/kheap_offsets.inc $(FLAGS_STAMP)
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

# ---- the host twin: the same test sources as a 32-bit host program ----
# plain: linked with $(LIB) as shipped; san: module and tests under ASan+UBSan;
# vg: the module with Valgrind mempool annotations (-DKHEAP_VALGRIND), run under memcheck.
# _FILE_OFFSET_BITS=64: readdir of a 64-bit file system (ext4's hashed offsets) from a
# 32-bit program under qemu-i386 fails with EOVERFLOW otherwise.
HOST_CFLAGS := -m32 -std=gnu11 -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer \
               -fno-toplevel-reorder -D_FILE_OFFSET_BITS=64 -Iinclude -Itests
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
VALGRIND    := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all
HOST_TESTS  := $(TEST_SRCS) tests/host/backend.c
HOST_SUITES := $(BUILD)/host/ktest $(BUILD)/host/ktest-san $(BUILD)/host/ktest-vg $(BUILD)/host/probe32
ASM_OBJ     := $(BUILD)/asm/kheap_asm.o

$(BUILD)/host/plain/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/host/san/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@
$(BUILD)/host/vg/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -DKHEAP_VALGRIND -MMD -MP -c $< -o $@

# The probe tests/run32.sh runs to learn whether this machine executes 32-bit programs.
$(BUILD)/host/probe32: $(FLAGS_STAMP)
	@mkdir -p $(@D)
	echo 'int main(void) { return 0; }' | $(CC) -m32 -x c - -o $@

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
$(FUZZ_ASM): asm/kheap.asm $(BUILD)/kheap_offsets.inc $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(AS) $(ASFLAGS) -DKHEAP_CHECK_OFFSETS $(SMALL_LEAF) -I$(BUILD)/ $< -o $@
# replay: under ASan+UBSan; replay-plain: without them, for qemu-i386 (where 32-bit ASan fails).
REPLAY_SRCS := tests/host/replay.c tests/host/fuzz_kheap.c tests/host/model.c kernel/kheap.c
$(BUILD)/host/leaf/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Itests/host $(SAN_FLAGS) $(SMALL_LEAF) -MMD -MP -c $< -o $@
$(BUILD)/host/leafplain/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Itests/host $(SMALL_LEAF) -MMD -MP -c $< -o $@
$(BUILD)/host/replay: $(REPLAY_SRCS:%.c=$(BUILD)/host/leaf/%.o) $(FUZZ_ASM)
	$(CC) -m32 -no-pie $(SAN_FLAGS) -o $@ $^
$(BUILD)/host/replay-plain: $(REPLAY_SRCS:%.c=$(BUILD)/host/leafplain/%.o) $(FUZZ_ASM)
	$(CC) -m32 -no-pie -o $@ $^
HOST_SUITES += $(BUILD)/host/model_test $(BUILD)/host/replay $(BUILD)/host/replay-plain

# The damage campaign (tests/host/damage.c): plain, so it runs under qemu-i386 too, with the
# fuzzer's small leaves (deep trees in small pools). make test runs DAMAGE_TRIALS of it; make
# fuzz runs it for FUZZ_SECONDS from a new seed.
DAMAGE_TRIALS ?= 20000
$(BUILD)/host/damage: $(BUILD)/host/leafplain/tests/host/damage.o $(BUILD)/host/leafplain/kernel/kheap.o $(FUZZ_ASM)
	$(CC) -m32 -no-pie -o $@ $^
HOST_SUITES += $(BUILD)/host/damage

host: $(HOST_SUITES)

# ---- the differential fuzzer: libFuzzer, kheap against the model ----
FUZZ_SECONDS ?= 60
FUZZ_BASE    := -m32 -g -O1 -fno-sanitize-recover=all -Iinclude -Itests -Itests/host
FUZZ_FLAGS   := $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined
FUZZ_CORPORA := tests/fuzz/seeds tests/fuzz/regressions

# The model is built without coverage feedback: the fuzzer should steer by kheap's
# branches and the decoder's, not the model's.
$(BUILD)/fuzz/model.o: tests/host/model.c tests/host/model.h include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	clang $(FUZZ_BASE) $(SMALL_LEAF) -fsanitize=address,undefined -c $< -o $@
$(BUILD)/fuzz/fuzz_kheap: tests/host/fuzz_kheap.c tests/host/model.h kernel/kheap.c include/kheap.h \
                          $(BUILD)/fuzz/model.o $(FUZZ_ASM) $(FLAGS_STAMP)
	clang $(FUZZ_FLAGS) $(SMALL_LEAF) -no-pie -o $@ tests/host/fuzz_kheap.c kernel/kheap.c \
	    $(BUILD)/fuzz/model.o $(FUZZ_ASM)

# New inputs go to build/fuzz/corpus; a finding is written to build/fuzz/ as crash-*:
# copy it into tests/fuzz/regressions once fixed.
# The fuzzer is 32-bit ASan, which does not work under qemu-i386: where this machine cannot
# execute 32-bit programs, make fuzz says so and skips it. The damage campaign then runs for
# FUZZ_SECONDS more from a new seed (natively or under qemu-i386).
fuzz: deps $(BUILD)/fuzz/fuzz_kheap $(BUILD)/host/probe32 $(BUILD)/host/damage
	@if [ "$$($(RUN32) --mode)" != native ]; then \
	    echo "make fuzz: SKIP: the fuzzer is 32-bit ASan and this machine cannot execute 32-bit"; \
	    echo "make fuzz: programs (32-bit ASan's allocator fails under qemu-i386)"; exit 0; fi; \
	mkdir -p $(BUILD)/fuzz/corpus; \
	$(BUILD)/fuzz/fuzz_kheap -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(FUZZ_CORPORA)
	@seed=$$(date +%s); echo "make fuzz: the damage campaign, $(FUZZ_SECONDS) s from seed $$seed"; \
	$(RUN32) $(BUILD)/host/damage --seconds $(FUZZ_SECONDS) $$seed

# ---- coverage: lines of kernel/kheap.c (gcov/lcov) and branch targets of asm/kheap.asm (gdb),
# both from the host suite plus the replay of the committed fuzz corpora ----
COV_FLAGS := -m32 -std=gnu11 -g -O0 -fno-toplevel-reorder -D_FILE_OFFSET_BITS=64 \
             -Iinclude -Itests -Itests/host
$(BUILD)/cov/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(COV_FLAGS) -c $< -o $@
$(BUILD)/cov/kernel/kheap.o: kernel/kheap.c include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(COV_FLAGS) --coverage -c $< -o $@
$(BUILD)/cov/ktest: $(HOST_TESTS:%.c=$(BUILD)/cov/%.o) $(BUILD)/cov/kernel/kheap.o $(ASM_OBJ)
	$(CC) -m32 -no-pie --coverage -o $@ $^
$(BUILD)/cov/replay: $(BUILD)/cov/tests/host/replay.o $(BUILD)/cov/tests/host/fuzz_kheap.o \
                     $(BUILD)/cov/tests/host/model.o $(BUILD)/cov/kernel/kheap.o $(ASM_OBJ)
	$(CC) -m32 -no-pie --coverage -o $@ $^

# The asm part runs the programs under gdb, so it needs a machine that executes them natively.
coverage: deps $(BUILD)/cov/ktest $(BUILD)/cov/replay $(BUILD)/host/probe32
	@find $(BUILD)/cov -name '*.gcda' -delete
	@$(RUN32) $(BUILD)/cov/ktest > /dev/null && $(RUN32) $(BUILD)/cov/replay $(FUZZ_CORPORA) > /dev/null
	@lcov -q --capture --directory $(BUILD)/cov --output-file $(BUILD)/cov/all.info 2>/dev/null
	@lcov -q --extract $(BUILD)/cov/all.info '*/kernel/kheap.c' --output-file $(BUILD)/cov/kheap.info
	@genhtml -q $(BUILD)/cov/kheap.info --output-directory $(BUILD)/cov/html
	@echo "kernel/kheap.c (report: $(BUILD)/cov/html/index.html):"
	@lcov --summary $(BUILD)/cov/kheap.info 2>&1 | grep -E 'lines|functions'
	@echo "asm/kheap.asm (gdb, tests/asm-coverage.sh):"
	@if [ "$$($(RUN32) --mode)" != native ]; then \
	    echo "  SKIP: gdb cannot run 32-bit programs on a machine that cannot execute them"; exit 0; fi; \
	tests/asm-coverage.sh $(BUILD)/cov/ktest -- $(BUILD)/cov/replay $(FUZZ_CORPORA)

# ---- what debug pools cost (a benchmark: prints figures) ----
$(BUILD)/host/debug_cost: tests/host/debug_cost.c tests/host/rng.h include/kheap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) -m32 -no-pie -O2 -Iinclude -Itests/host -o $@ $< $(LIB)

debug-cost: deps $(BUILD)/host/debug_cost $(BUILD)/host/probe32
	@$(call emulated_note,debug-cost)
	@$(RUN32) $(BUILD)/host/debug_cost

# ---- make bench: kheap, glibc malloc and a naive bitmap on the same traces (prints figures) ----
$(BUILD)/host/bench: tests/host/bench.c tests/host/rng.h include/kheap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) -m32 -no-pie -O2 -Iinclude -Itests/host -o $@ $< $(LIB)

bench: deps $(BUILD)/host/bench $(BUILD)/host/probe32
	@mkdir -p $(BUILD)/bench
	@$(call emulated_note,bench)
	@$(RUN32) $(BUILD)/host/bench $(BUILD)/bench/bench.dat | tee $(BUILD)/bench/bench.txt
	@gnuplot tests/bench.gp && echo "plot: $(BUILD)/bench/bench.png"

# Instructions per alloc and per free on W2 at 1 and 16 MiB, from callgrind.
bench-cg: deps $(BUILD)/host/bench $(BUILD)/host/probe32
	@if [ "$$($(RUN32) --mode)" != native ]; then \
	    echo "make bench-cg: SKIP: Valgrind's 32-bit tool cannot start on a machine that cannot"; \
	    echo "make bench-cg: execute 32-bit programs"; exit 0; fi; \
	tests/bench-cg.sh $(BUILD)/host/bench $(BUILD)/bench-cg

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

# 32-bit host suites: --host32 runs natively or under qemu-i386; --native32 is skipped, with
# its reason, on a machine that cannot execute 32-bit programs.
NO_ASAN  := 32-bit ASan fails under qemu-i386
NO_VG    := Valgrind's 32-bit tool cannot start
test: deps $(KERNEL) $(ISO) $(HOST_SUITES)
	@tests/run-suites.sh --kernel $(KERNEL) --iso $(ISO) \
	    --kernel "$(KERNEL)@-m 64" --kernel "$(KERNEL)@-m 512" --crash $(KERNEL) \
	    --host32 "host (libkheap.a):$(BUILD)/host/ktest" \
	    --native32 "host asan+ubsan:$(NO_ASAN):$(BUILD)/host/ktest-san" \
	    --native32 "host valgrind:$(NO_VG):$(VALGRIND) $(BUILD)/host/ktest-vg" \
	    --host32 "model:$(BUILD)/host/model_test" \
	    --native32 "fuzz corpus replay:$(NO_ASAN):$(BUILD)/host/replay $(FUZZ_CORPORA)" \
	    --host32 "fuzz corpus replay, plain:$(BUILD)/host/replay-plain $(FUZZ_CORPORA)" \
	    --host32 "damage campaign:$(BUILD)/host/damage $(DAMAGE_TRIALS)" \
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
$(call stamp,$(FLAGS_STAMP),CC AS LD AR CFLAGS ASFLAGS LDFLAGS HOST_CFLAGS SAN_FLAGS SMALL_LEAF \
	FUZZ_FLAGS COV_FLAGS)
$(call stamp,$(POOL_STAMP),KHEAP_POOL_SIZE)
$(FLAGS_STAMP) $(POOL_STAMP): ;

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
