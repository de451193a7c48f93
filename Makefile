# Makefile - builds the kheap module, the stub kernels and their GRUB ISOs, and boots the demo.
# The test, fuzz, coverage and bench rules are in tests/tests.mk. `make help` lists the targets.

BUILD           ?= build
B64             := $(BUILD)/x86_64
KHEAP_POOL_SIZE ?= 1048576

# $(,): a comma where a function call would split on one
, := ,
CC := gcc
AS := nasm
LD := ld
AR := ar

# ---- flags: one base set, then what each target adds ----
# Freestanding C for the module and the kernels: no libc, no stack protector, no unwind
# tables, and no loop turned into a memset/memcpy call.
CBASE    := -std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -fno-stack-protector \
            -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Iinclude
# make lib KHEAP_PREFIX=kh_: every name of the kmalloc family prefixed (include/kheap.h).
KHEAP_PREFIX ?=
CBASE    += $(if $(KHEAP_PREFIX),-DKHEAP_PREFIX=$(KHEAP_PREFIX))
# i386 (module and kernel): absolute addressing, no PIC.
CFLAGS   := -m32 $(CBASE) -fno-pie -fno-pic
# x86-64 module: PC-relative only (links into a -mcmodel=kernel kernel and a PIE program
# alike), no red zone, no SSE or x87 registers.
CFLAGS64 := -m64 $(CBASE) -fpie -mno-red-zone -mgeneral-regs-only
# x86-64 kernel: the higher half.
CFLAGS_K64 := -m64 $(CBASE) -fno-pie -fno-pic -mcmodel=kernel -mno-red-zone -mgeneral-regs-only
# The kernels also see the KTAP harness.
KERNEL_INC := -nostdlib -Itests
ASFLAGS  := -f elf32 -g -F dwarf -Wall -Werror
ASFLAGS64 := -f elf64 -g -F dwarf -Wall -Werror
# The fuzzer's small geometry (asm and C alike): a quick-cache class per 4 blocks, so its
# small pools have caches too.
SMALL_CLASSES := -DKHEAP_QCLASS_SHIFT=2

# Stamps (written at the end of this file): every object depends on FLAGS_STAMP, kmain.o
# on POOL_STAMP, so `make VAR=...` with other flags or another pool size rebuilds them.
FLAGS_STAMP := $(BUILD)/flags.stamp
POOL_STAMP  := $(BUILD)/pool.stamp

# ---- sources ----
MODULE_SRCS := asm/kheap_core.asm asm/kheap_abi.inc kernel/kheap.c include/kheap.h
STUB_SRCS   := $(wildcard kernel/stub/*.c)
# KTAP cases that run on the metal and the host; those that need the stub kernel, with the
# harness's backend there.
CASE_SRCS   := $(wildcard tests/cases/*.c)
METAL_SRCS  := $(wildcard tests/metal/*.c)
# Cases for many CPUs at once: the kernels' (smp_run on the CPUs) and the host's threads.
SMP_SRCS    := $(wildcard tests/smp/*.c)
KTEST_SRCS  := tests/ktest.c $(CASE_SRCS) $(SMP_SRCS) $(METAL_SRCS)

LIB    := $(BUILD)/libkheap.a
LIB64  := $(BUILD)/libkheap64.a
KERNEL := $(BUILD)/kheap.elf
ISO    := $(BUILD)/kheap.iso
KERNEL64 := $(B64)/kheap.elf
ISO64  := $(B64)/kheap.iso
QEMU   := qemu-system-i386
QEMU64 := qemu-system-x86_64
QEMU_FLAGS := -display none -serial stdio -monitor none -no-reboot \
              -device isa-debug-exit,iobase=0xf4,iosize=0x04

.PHONY: all run iso iso64 kernel64 lib python irq-nolock bench-kvm deps deps-run clean help
all: $(KERNEL)

help:
	@echo "make run        boot the demo kernel in QEMU (serial on this terminal); ARCH=x86_64"
	@echo "                for the x86-64 kernel; KHEAP_POOL_SIZE=bytes for another heap size;"
	@echo "                SMP=4 for four CPUs"
	@echo "make test       every suite: QEMU boots (-kernel and GRUB, both widths), host"
	@echo "                suites (sanitizers, Valgrind, model, damage), Python; HOST32=qemu"
	@echo "                runs the 32-bit host programs under qemu-i386 (auto|native|qemu)"
	@echo "make lib        $(LIB) and $(LIB64): the module's objects only"
	@echo "make python     python/kheap/libkheap.so, the Python interface (PYTHONPATH=python)"
	@echo "make iso        $(ISO) (the test suite; the demo is its second entry); iso64 likewise"
	@echo "make fuzz       differential fuzzing against the model (FUZZ_SECONDS=60)"
	@echo "make coverage   line coverage of kernel/kheap.c, branch targets of asm/kheap_core.asm"
	@echo "make bench      kheap, glibc and a naive bitmap on the same traces; writes"
	@echo "                tests/bench/RESULTS.md (BENCH_WIDTH=32 for the i386 build)"
	@echo "make bench-cg   instructions per alloc and per free (callgrind), both widths;"
	@echo "                writes tests/bench/RESULTS-cg.md"
	@echo "make debug-cost what KHEAP_F_DEBUG costs in time and memory"
	@echo "make preload    build/libkheap-preload.so: kheap as the malloc of any program"
	@echo "make bench-real real programs timed with glibc's malloc and with kheap's"
	@echo "make bench-kvm  the kernel's own cycles per kmalloc/kfree pair, under KVM"
	@echo "make irq-nolock the interrupt stress without the heap's lock (shows the corruption)"
	@echo "make deps       install missing Debian packages (apt-get, sudo when not root);"
	@echo "                deps-run: only those make run needs"
	@echo "make clean      remove $(BUILD)/"

# ---- the module: the asm core (its control block checked against the C struct) + C layer ----
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
$(1): asm/kheap_core.asm asm/kheap_abi.inc $(3)/kheap_offsets.inc $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	$$(AS) $(2) -DKHEAP_CHECK_OFFSETS $(4) -Iasm/ -I$(3)/ $$< -o $$@
endef
$(eval $(call offsets,$(BUILD),$(CFLAGS)))
$(eval $(call offsets,$(B64),$(CFLAGS64)))
$(eval $(call asm_object,$(BUILD)/asm/kheap_core.o,$(ASFLAGS),$(BUILD)))
$(eval $(call asm_object,$(BUILD)/small/kheap_core.o,$(ASFLAGS),$(BUILD),$(SMALL_CLASSES)))
$(eval $(call asm_object,$(B64)/asm/kheap_core.o,$(ASFLAGS64),$(B64)))
$(eval $(call asm_object,$(B64)/small/kheap_core.o,$(ASFLAGS64),$(B64),$(SMALL_CLASSES)))
$(eval $(call asm_object,$(BUILD)/vg/kheap_core.o,$(ASFLAGS),$(BUILD),-DKHEAP_VALGRIND))
$(eval $(call asm_object,$(B64)/vg/kheap_core.o,$(ASFLAGS64),$(B64),-DKHEAP_VALGRIND))

# $(call objects,DIR,FLAGS): DIR/%.o from %.c, with XFLAGS, what a target adds
define objects
$(1)/%.o: %.c $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	$$(CC) $(2) $$(XFLAGS) -MMD -MP -c $$< -o $$@
endef
$(eval $(call objects,$(BUILD),$(CFLAGS) $(KERNEL_INC)))
$(BUILD)/kernel/kheap.o: kernel/kheap.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(eval $(call objects,$(B64),$(CFLAGS64)))
$(eval $(call objects,$(B64)/k,$(CFLAGS_K64) $(KERNEL_INC)))
$(eval $(call objects,$(B64)/pic,$(subst -fpie,-fPIC,$(CFLAGS64))))

# The module's public names: an archive defines these and no other global symbol
# (KHEAP_PREFIX, above, prefixes the kmalloc family).
API_NAMES := kheap_alloc kheap_alloc_aligned kheap_calloc kheap_check kheap_create \
             kheap_create_flags kheap_dump kheap_fail_nth kheap_free kheap_get_stats kheap_owns \
             kheap_realloc kheap_set_cpu kheap_set_fault_handler kheap_set_lock kheap_usable_size kheap_walk \
             $(addprefix $(KHEAP_PREFIX),kcalloc kfree kmalloc kmalloc_add_region \
             kmalloc_aligned kmalloc_get_stats kmalloc_heap kmalloc_init kmalloc_init_flags \
             kmalloc_set_grow kmalloc_trim krealloc ksize kzalloc)

# $(call archive,LD EMULATION): the module's two objects as one, its internal (hidden)
# symbols made local, in an archive. The build fails when it needs a symbol from outside the
# module, or defines a global one outside API_NAMES.
define archive
	rm -f $@ $@.o
	$(LD) -m $(1) -r -o $@.o $^
	objcopy --localize-hidden $@.o
	$(AR) rcs $@ $@.o
	@undef=$$(nm -u $@.o | awk '{ print $$2 }'); \
	if [ -n "$$undef" ]; then echo "$@ needs symbols from outside the module:"; \
	    echo "$$undef"; rm -f $@; exit 1; fi
	@extra=$$(nm -g --defined-only $@.o | awk '{ print $$3 }' | \
	    grep -vxF "$$(echo $(API_NAMES) | tr ' ' '\n')"); \
	if [ -n "$$extra" ]; then echo "$@ defines global symbols outside the API:"; \
	    echo "$$extra"; rm -f $@; exit 1; fi
endef
$(LIB): $(BUILD)/asm/kheap_core.o $(BUILD)/kernel/kheap.o
	$(call archive,elf_i386)
$(LIB64): $(B64)/asm/kheap_core.o $(B64)/kernel/kheap.o
	$(call archive,elf_x86_64)
	@abs=$$(readelf -rW $^ | awk '/^Relocation section/ { sec = $$3 } \
	    /R_X86_64_/ && sec !~ /debug/ && $$3 !~ /^R_X86_64_(PC32|PLT32)$$/ { print sec, $$3, $$5 }'); \
	if [ -n "$$abs" ]; then echo "$@ has relocations that are not PC-relative:"; \
	    echo "$$abs"; rm -f $@; exit 1; fi
lib: $(LIB) $(LIB64)
	@size -t $(LIB) | tail -n 1 | awk '{ print "$(LIB): " $$1 " B code, " $$2 + $$3 " B data" }'
	@size -t $(LIB64) | tail -n 1 | awk '{ print "$(LIB64): " $$1 " B code, " $$2 + $$3 " B data" }'

# ---- the Python interface: the x86-64 module as a shared library for ctypes ----
# Only the public API is exported (kh_* are hidden); the library needs nothing, not even libc.
PY_LIB := python/kheap/libkheap.so
$(PY_LIB): $(B64)/pic/kernel/kheap.o $(B64)/asm/kheap_core.o
	$(CC) -m64 -shared -nostdlib -o $@ $^
	@if nm -D $@ | grep -q ' kh_'; then echo "$@ exports internal kh_* symbols"; rm -f $@; exit 1; fi
python: $(PY_LIB)

# ---- the stub kernels: i386, and the same sources in long mode in the higher half ----
# Tests register in source order (-fno-toplevel-reorder), so KTAP numbers follow the files.
$(BUILD)/tests/%.o $(B64)/k/tests/%.o: XFLAGS += -fno-toplevel-reorder
# The kernel heap's static pool: `make run KHEAP_POOL_SIZE=...` rebuilds kmain.o alone.
$(BUILD)/kernel/stub/kmain.o $(B64)/k/kernel/stub/kmain.o: XFLAGS += -DKHEAP_POOL_SIZE=$(KHEAP_POOL_SIZE)
$(BUILD)/kernel/stub/kmain.o $(B64)/k/kernel/stub/kmain.o: $(POOL_STAMP)

$(BUILD)/boot/%.o: boot/%.asm boot/x86.inc $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(AS) $(ASFLAGS) -Iboot/ $< -o $@
$(B64)/k/boot/%.o: boot/%.asm boot/x86.inc $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(AS) -f elf64 -Wall -Werror -Iboot/ $< -o $@

KERNEL_OBJS   := $(BUILD)/boot/boot.o $(BUILD)/boot/cpu.o $(BUILD)/boot/trampoline.o \
                 $(patsubst %.c,$(BUILD)/%.o,$(STUB_SRCS) $(KTEST_SRCS))
KERNEL64_OBJS := $(B64)/k/boot/boot64.o $(B64)/k/boot/cpu.o $(B64)/k/boot/trampoline.o \
                 $(patsubst %.c,$(B64)/k/%.o,$(STUB_SRCS) $(KTEST_SRCS))
LD64 := $(LD) -m elf_x86_64 -T linker64.ld -nostdlib -z max-page-size=4096

$(KERNEL): $(KERNEL_OBJS) $(LIB) linker.ld
	$(LD) -m elf_i386 -T linker.ld -nostdlib -o $@ $(KERNEL_OBJS) $(LIB)
	@grub-file --is-x86-multiboot $@ || { echo "$@: no valid multiboot header"; rm -f $@; exit 1; }
$(KERNEL64): $(KERNEL64_OBJS) $(LIB64) linker64.ld
	$(LD64) -o $@ $(KERNEL64_OBJS) $(LIB64)
	@grub-file --is-x86-multiboot $@ && grub-file --is-x86-multiboot2 $@ || \
	    { echo "$@: no valid multiboot or multiboot2 header"; rm -f $@; exit 1; }
kernel64: $(KERNEL64)

# $(call iso,DIR,KERNEL,NAME,CFG): a GRUB rescue ISO booting KERNEL as boot/NAME with CFG.
define iso
	rm -rf $(1)/isodir
	mkdir -p $(1)/isodir/boot/grub
	cp $(4) $(1)/isodir/boot/grub/grub.cfg
	cp $(2) $(1)/isodir/boot/$(3)
	grub-mkrescue -o $@ $(1)/isodir 2> $(1)/grub-mkrescue.log || { cat $(1)/grub-mkrescue.log; exit 1; }
endef
$(ISO): $(KERNEL) iso/boot/grub/grub.cfg
	$(call iso,$(BUILD),$(KERNEL),kheap.elf,iso/boot/grub/grub.cfg)
$(ISO64): $(KERNEL64) iso/boot/grub/grub64.cfg
	$(call iso,$(B64),$(KERNEL64),kheap64.elf,iso/boot/grub/grub64.cfg)
iso: $(ISO)
iso64: $(ISO64)

# ---- running ----
ARCH       ?= i386
# make run SMP=4: that many CPUs, each a host thread of its own (TCG's multi-threaded mode).
SMP        ?= 1
QEMU_SMP   := $(if $(filter-out 1,$(SMP)),-smp $(SMP) -accel tcg$(,)thread=multi)
RUN_QEMU   := $(if $(filter x86_64,$(ARCH)),$(QEMU64),$(QEMU))
RUN_KERNEL := $(if $(filter x86_64,$(ARCH)),$(KERNEL64),$(KERNEL))
# $(call boot,APPEND): the kernel of ARCH with that command line; exit 33 is success.
boot = $(RUN_QEMU) $(QEMU_FLAGS) $(QEMU_SMP) -kernel $(RUN_KERNEL) $(1); rc=$$?; \
	[ $$rc -eq 33 ] || { echo "QEMU exited with $$rc (33 means success)"; exit 1; }
run: deps-run $(RUN_KERNEL)
	@$(call boot,)
# The interrupt stress without the heap's lock: shows the corruption the lock prevents.
irq-nolock: deps-run $(RUN_KERNEL)
	@$(call boot,-append irq-nolock)

# The in-kernel figure with -enable-kvm, when this machine's KVM can run the kernel (a KVM
# internal error pauses QEMU rather than ending it, hence the timeout).
bench-kvm: deps-run $(KERNEL)
	@if [ ! -w /dev/kvm ]; then echo "bench-kvm: /dev/kvm is not usable here"; exit 0; fi; \
	out=$$(timeout 30 $(QEMU) $(QEMU_FLAGS) -enable-kvm -kernel $(KERNEL) -append perf 2>&1); rc=$$?; \
	if [ $$rc -eq 33 ]; then echo "$$out" | grep '^# perf'; \
	else echo "bench-kvm: KVM is present but could not run the kernel (QEMU exit $$rc):"; \
	    echo "$$out" | grep -m 3 -iE 'error|failure'; fi

include tests/tests.mk

# ---- toolchain: each needed command, and the Debian package that has it ----
# deps-run: what `make run` needs, kept small so a first run is quick. deps: everything,
# adding GRUB and the ISO tools, and for the host suites valgrind (with 32-bit glibc symbols,
# libc6-dbg:i386), clang with its libFuzzer runtime (libclang-rt-dev, g++-multilib), lcov,
# gnuplot (make bench), qemu-user (32-bit programs where the machine cannot run them), pytest,
# and the real programs of the soak (tests/real/programs.sh) that a minimal system may lack.
RUN_DEPS := nasm:nasm ld:binutils gcc:gcc qemu-system-i386:qemu-system-x86 grub-file:grub-common
ALL_DEPS := $(RUN_DEPS) grub-mkrescue:grub-common xorriso:xorriso mformat:mtools \
            valgrind:valgrind clang:clang lcov:lcov gnuplot:gnuplot-nox qemu-i386:qemu-user \
            sqlite3:sqlite3 git:git perl:perl
deps-run:
	@tests/scripts/deps.sh "$(CC)" no $(RUN_DEPS)
deps:
	@tests/scripts/deps.sh "$(CC)" yes $(ALL_DEPS)

clean:
	rm -rf $(BUILD)

# ---- flags stamps: a build with other compilers, flags or settings rebuilds what they affect ----
# $(call stamp,FILE,VARIABLES): FILE holds the values of VARIABLES, rewritten (and so newer
# than every object) only when one of them changed since the last make. Run while this file
# is read, after every variable has its value and before any rule runs.
stamp = $(shell mkdir -p $(dir $(1)); v='$(foreach v,$(2),$(v)=$($(v)))'; \
	[ "$$(cat $(1) 2>/dev/null)" = "$$v" ] || printf '%s\n' "$$v" > $(1))
$(call stamp,$(FLAGS_STAMP),CC AS LD AR CFLAGS CFLAGS64 API_NAMES CFLAGS_K64 KERNEL_INC ASFLAGS ASFLAGS64 \
	SMALL_CLASSES $(TEST_FLAG_VARS))
$(call stamp,$(POOL_STAMP),KHEAP_POOL_SIZE)
$(FLAGS_STAMP) $(POOL_STAMP): ;

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
