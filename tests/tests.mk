# tests.mk - the rules for the test suites, the fuzzer, coverage and the benchmarks; included by
# the Makefile, which defines the module's objects, the kernels and the flag sets used here.
# tests/README.md says what each suite checks.

.PHONY: test host route32 preload bench-real fuzz coverage debug-cost bench bench-cg

# How 32-bit host programs run (tests/scripts/run32.sh): auto probes this machine; qemu forces
# qemu-i386 (the route of machines without IA32 emulation); native forces direct execution.
HOST32 ?= auto
export KHEAP_HOST32 := $(HOST32)
export KHEAP_PROBE32 := $(BUILD)/host/probe32
RUN32 := tests/scripts/run32.sh

# ---- the host twin: the same test sources as host programs, at both widths ----
# In DIR (build/host for i386, build/x86_64/host for x86-64): ktest, linked with the archive as
# shipped; ktest-san, module and tests under ASan+UBSan; ktest-vg, the module with Valgrind
# mempool annotations (-DKHEAP_VALGRIND), run under memcheck; model_test; replay and
# replay-plain, the fuzz target over the committed corpora with and without ASan+UBSan; damage
# and damage-san, the damage campaign; checkasm, every asm routine called with its callee-saved
# registers seeded and checked after. replay and damage use the fuzzer's small cache classes.
HOST_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer \
               -fno-toplevel-reorder -Iinclude -Itests -Itests/host
# _FILE_OFFSET_BITS=64: readdir of a 64-bit file system (ext4's hashed offsets) from a
# 32-bit program under qemu-i386 fails with EOVERFLOW otherwise.
HOST_M32    := -m32 -D_FILE_OFFSET_BITS=64
HOST_M64    := -m64
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
VALGRIND    := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all
HOST_TESTS  := tests/ktest.c $(CASE_SRCS) tests/host/backend.c
REPLAY_SRCS := tests/host/replay.c tests/host/fuzz_kheap.c tests/host/model.c kernel/kheap.c
MODEL_SRCS  := tests/ktest.c tests/host/backend.c tests/host/model.c tests/host/model_test.c
DAMAGE_SRCS := tests/host/damage.c kernel/kheap.c
CHECKASM_SRCS := tests/ktest.c tests/host/backend.c tests/host/checkasm.c
BEFORE_SRCS := tests/ktest.c tests/host/backend.c tests/host/before_init.c
THREADS_SRCS := tests/ktest.c tests/host/backend.c $(SMP_SRCS) kernel/stub/smpstress.c \
                tests/host/threads.c

# $(call host_twin,DIR,WIDTH FLAGS,LINK FLAGS,ASM OBJECT,SMALL-CLASSES ASM OBJECT,ARCHIVE,NASM FORMAT)
define host_twin
$(call objects,$(1)/plain,$(2) $(HOST_CFLAGS))
$(call objects,$(1)/san,$(2) $(HOST_CFLAGS) $(SAN_FLAGS))
$(call objects,$(1)/vg,$(2) $(HOST_CFLAGS) -DKHEAP_VALGRIND)
$(call objects,$(1)/small,$(2) $(HOST_CFLAGS) $(SAN_FLAGS) $(SMALL_CLASSES))
$(call objects,$(1)/smallplain,$(2) $(HOST_CFLAGS) $(SMALL_CLASSES))
$(1)/ktest: $(HOST_TESTS:%.c=$(1)/plain/%.o) $(6)
	$$(CC) $(3) -o $$@ $$^
$(1)/ktest-san: $(HOST_TESTS:%.c=$(1)/san/%.o) $(1)/san/kernel/kheap.o $(4)
	$$(CC) $(3) $$(SAN_FLAGS) -o $$@ $$^
$(1)/ktest-vg: $(HOST_TESTS:%.c=$(1)/vg/%.o) $(1)/vg/kernel/kheap.o $(subst /asm/,/vg/,$(4))
	$$(CC) $(3) -o $$@ $$^
$(1)/model_test: $(MODEL_SRCS:%.c=$(1)/plain/%.o) $(6)
	$$(CC) $(3) -o $$@ $$^
$(1)/replay: $(REPLAY_SRCS:%.c=$(1)/small/%.o) $(5)
	$$(CC) $(3) $$(SAN_FLAGS) -o $$@ $$^
$(1)/replay-plain: $(REPLAY_SRCS:%.c=$(1)/smallplain/%.o) $(5)
	$$(CC) $(3) -o $$@ $$^
$(1)/damage: $(DAMAGE_SRCS:%.c=$(1)/smallplain/%.o) $(5)
	$$(CC) $(3) -o $$@ $$^
$(1)/damage-san: $(DAMAGE_SRCS:%.c=$(1)/small/%.o) $(5)
	$$(CC) $(3) $$(SAN_FLAGS) -o $$@ $$^
$(1)/checkasm_call.o: tests/host/checkasm.asm $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	$$(AS) -f $(7) -Wall -Werror $$< -o $$@
$(1)/checkasm: $(CHECKASM_SRCS:%.c=$(1)/plain/%.o) $(1)/checkasm_call.o $(1)/plain/kernel/kheap.o $(4)
	$$(CC) $(3) -o $$@ $$^
$(1)/before_init: $(BEFORE_SRCS:%.c=$(1)/plain/%.o) $(6)
	$$(CC) $(3) -o $$@ $$^
$(1)/threads: $(THREADS_SRCS:%.c=$(1)/plain/%.o) $(6)
	$$(CC) $(3) -pthread -o $$@ $$^
endef
$(eval $(call host_twin,$(BUILD)/host,$(HOST_M32),-m32 -no-pie,$(BUILD)/asm/kheap_core.o,$(BUILD)/small/kheap_core.o,$(LIB),elf32))
$(eval $(call host_twin,$(B64)/host,$(HOST_M64),-m64,$(B64)/asm/kheap_core.o,$(B64)/small/kheap_core.o,$(LIB64),elf64))

# A kernel that is not the stub kernel (tests/embed/embed64.c: its own kmain, serial and exit)
# linked with build/libkheap64.a as shipped; only the long-mode entry is borrowed.
EMBED64 := $(B64)/embed64.elf
$(EMBED64): $(B64)/k/tests/embed/embed64.o $(B64)/k/boot/boot64.o $(LIB64) linker64.ld
	$(LD64) -o $@ $(B64)/k/boot/boot64.o $(B64)/k/tests/embed/embed64.o $(LIB64)

# The hostile kernel (tests/embed/hostile): at each width, built by its own Makefile in a
# folder of its own from copies of its files and the module's (the copy route: KHEAP_PREFIX,
# plain pattern rules, its strict flags), and linked with archives made with
# KHEAP_PREFIX=kh_ (the library route); it borrows only the multiboot entry and link map.
HOSTILE := $(BUILD)/hostile
HOSTILE_SRCS := tests/embed/hostile/hostile.c tests/embed/hostile/Makefile $(MODULE_SRCS) \
                boot/boot.asm boot/boot64.asm boot/x86.inc linker.ld linker64.ld
$(HOSTILE)/prefix/built: $(MODULE_SRCS)
	$(MAKE) --no-print-directory BUILD=$(HOSTILE)/prefix KHEAP_PREFIX=kh_ lib
	touch $@
define hostile
$(HOSTILE)/$(1)/kernel.elf: $(HOSTILE_SRCS) $(HOSTILE)/prefix/built
	rm -rf $$(@D) && mkdir -p $$(@D) && cp $(HOSTILE_SRCS) $$(@D)/
	$$(MAKE) -C $$(@D) --no-print-directory ARCH=$(1) kernel.elf
	$$(MAKE) -C $$(@D) --no-print-directory ARCH=$(1) LIBKHEAP=../prefix/$(2) lib.elf
$(HOSTILE)/$(1)/lib.elf: $(HOSTILE)/$(1)/kernel.elf ;
endef
$(eval $(call hostile,i386,libkheap.a))
$(eval $(call hostile,x86_64,libkheap64.a))
HOSTILE_ELFS := $(addprefix $(HOSTILE)/,i386/kernel.elf i386/lib.elf x86_64/kernel.elf x86_64/lib.elf)

# threads-tsan: tests/smp's cases on threads, module and all, under ThreadSanitizer (clang;
# x86-64 only, where TSan runs). The asm core is not instrumented: its accesses are the
# lock's to order, and the C layer's around them are what TSan checks.
TSAN_FLAGS := -fsanitize=thread
$(B64)/tsan/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	clang $(HOST_M64) $(filter-out -fno-toplevel-reorder,$(HOST_CFLAGS)) $(TSAN_FLAGS) -MMD -MP -c $< -o $@
$(B64)/host/threads-tsan: $(THREADS_SRCS:%.c=$(B64)/tsan/%.o) $(B64)/tsan/kernel/kheap.o \
                          $(B64)/asm/kheap_core.o
	clang -m64 $(TSAN_FLAGS) -pthread -o $@ $^

# The probe run32.sh runs to learn whether this machine executes 32-bit programs.
$(BUILD)/host/probe32: $(FLAGS_STAMP)
	@mkdir -p $(@D)
	echo 'int main(void) { return 0; }' | $(CC) -m32 -x c - -o $@

# i386: the plain suite, the model, the plain replay and the damage campaign run natively or
# under qemu-i386; ASan and Valgrind only natively. x86-64: everything, natively.
HOST_SUITES := $(BUILD)/host/probe32 \
               $(addprefix $(BUILD)/host/,ktest ktest-san ktest-vg model_test replay replay-plain damage checkasm \
               before_init threads) \
               $(addprefix $(B64)/host/,ktest ktest-san ktest-vg model_test replay damage-san checkasm before_init \
               threads threads-tsan)
host: $(HOST_SUITES)

# The model suite by the route HOST32 names, through make: tests/scripts/runner-test.sh builds
# it in a build directory of its own with HOST32=qemu.
route32: $(BUILD)/host/model_test $(BUILD)/host/probe32
	@echo "route: $$($(RUN32) --mode)"
	@$(RUN32) $(BUILD)/host/model_test

# ---- real programs: build/libkheap-preload.so, kheap as the malloc of any Linux program
# (tests/real/preload.c), from the module's x86-64 objects; it exports the allocation
# functions and nothing else ----
PRELOAD := $(BUILD)/libkheap-preload.so
PRELOAD_NAMES := aligned_alloc calloc free malloc malloc_usable_size memalign posix_memalign \
                 pvalloc realloc reallocarray valloc
$(B64)/real/preload.o: tests/real/preload.c include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) -m64 -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden -Iinclude -c $< -o $@
$(PRELOAD): $(B64)/real/preload.o $(B64)/pic/kernel/kheap.o $(B64)/asm/kheap_core.o tests/real/preload.map
	$(CC) -m64 -shared -pthread -Wl,--version-script=tests/real/preload.map -o $@ $(filter %.o,$^)
	@got=$$(nm -D --defined-only $@ | awk '{ print $$3 }' | sort | xargs); \
	[ "$$got" = "$(PRELOAD_NAMES)" ] || { echo "$@ exports $$got"; rm -f $@; exit 1; }
preload: $(PRELOAD)
# runtime: bench-real's timer; contract: the C and POSIX allocation contracts, on glibc's
# malloc and on the shim's.
$(B64)/real/runtime $(B64)/real/contract: $(B64)/real/%: tests/real/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) -m64 -O1 -g -Wall -Wextra -Werror -pthread -o $@ $< -ldl

# The soak's programs timed with glibc's malloc and with the shim (a benchmark).
bench-real: deps $(PRELOAD) $(B64)/real/runtime
	@tests/real/bench.sh $(B64)/real/runtime $(PRELOAD)

# ---- make test: every suite, counted by tests/scripts/run-suites.sh ----
# The damage campaign's trials here; make fuzz runs it for FUZZ_SECONDS from a new seed.
DAMAGE_TRIALS ?= 20000
FUZZ_CORPORA  := tests/fuzz/seeds tests/fuzz/regressions tests/fuzz/cpus
# Debian's python3 has python3-pytest; a PATH python without pytest is passed over.
PYTHON := $(or $(shell for p in python3 /usr/bin/python3; do $$p -c 'import pytest' 2>/dev/null && \
	    { echo $$p; break; }; done),/usr/bin/python3)
NO_ASAN := 32-bit ASan fails under qemu-i386
NO_VG   := Valgrind's 32-bit tool cannot start

# The metal: both kernels with -kernel, from GRUB, with more or less RAM, and crashing.
SUITES := --kernel $(KERNEL) --iso $(ISO) --kernel "$(KERNEL)@-m 64" --kernel "$(KERNEL)@-m 512"
SUITES += --crash $(KERNEL) --kernel $(HOSTILE)/i386/kernel.elf --kernel $(HOSTILE)/i386/lib.elf
# ... and on 4 CPUs truly in parallel: tests/metal/test_smp.c then runs on all four.
SMP4 := -smp 4 -accel tcg,thread=multi
SUITES += --kernel "$(KERNEL)@$(SMP4)"
SUITES += --system $(QEMU64) --kernel $(KERNEL64) --iso $(ISO64)
SUITES += --kernel "$(KERNEL64)@-m 6G" --kernel "$(KERNEL64)@$(SMP4)" --crash $(KERNEL64)
SUITES += --kernel $(EMBED64)
SUITES += --kernel $(HOSTILE)/x86_64/kernel.elf --kernel $(HOSTILE)/x86_64/lib.elf
# i386 host programs: --host32 runs natively or under qemu-i386; --native32 is skipped, with
# its reason, on a machine that cannot execute 32-bit programs.
H32 := $(BUILD)/host
SUITES += --host32 "i386 host (libkheap.a):$(H32)/ktest"
SUITES += --native32 "i386 host asan+ubsan:$(NO_ASAN):$(H32)/ktest-san"
SUITES += --native32 "i386 host valgrind:$(NO_VG):$(VALGRIND) $(H32)/ktest-vg"
SUITES += --host32 "i386 model:$(H32)/model_test"
SUITES += --native32 "i386 fuzz corpus replay, asan:$(NO_ASAN):$(H32)/replay $(FUZZ_CORPORA)"
SUITES += --host32 "i386 fuzz corpus replay, plain:$(H32)/replay-plain $(FUZZ_CORPORA)"
SUITES += --host32 "i386 fuzz corpus replay on 4 CPUs, plain:$(H32)/replay-plain --cpus 4 $(FUZZ_CORPORA)"
SUITES += --host32 "i386 damage campaign:$(H32)/damage $(DAMAGE_TRIALS)"
SUITES += --host32 "i386 checkasm (callee-saved registers):$(H32)/checkasm"
SUITES += --host32 "i386 kmalloc before init:$(H32)/before_init"
SUITES += --host32 "i386 threads as 4 CPUs:$(H32)/threads 4"
H64 := $(B64)/host
SUITES += --host "x86-64 host (libkheap64.a):$(H64)/ktest"
SUITES += --host "x86-64 host asan+ubsan:$(H64)/ktest-san"
SUITES += --host "x86-64 host valgrind:$(VALGRIND) $(H64)/ktest-vg"
SUITES += --host "x86-64 model:$(H64)/model_test"
SUITES += --host "x86-64 fuzz corpus replay, asan:$(H64)/replay $(FUZZ_CORPORA)"
SUITES += --host "x86-64 fuzz corpus replay on 4 CPUs, asan:$(H64)/replay --cpus 4 $(FUZZ_CORPORA)"
SUITES += --host "x86-64 damage campaign, asan:$(H64)/damage-san $(DAMAGE_TRIALS)"
SUITES += --host "x86-64 checkasm (callee-saved registers):$(H64)/checkasm"
SUITES += --host "x86-64 kmalloc before init:$(H64)/before_init"
SUITES += --host "x86-64 threads as 4 CPUs:$(H64)/threads 4"
SUITES += --host "x86-64 threads as 4 CPUs, tsan:$(H64)/threads-tsan 4"
SUITES += --host "real programs, C contract on glibc:$(B64)/real/contract"
SUITES += --host "real programs, C contract on the shim:env LD_PRELOAD=$(PRELOAD) $(B64)/real/contract --shim"
SUITES += --host "real programs, LD_PRELOAD soak:tests/real/soak.sh $(PRELOAD)"
SUITES += --pytest "python (pytest):env PYTHONPATH=python $(PYTHON) -m pytest -q -p no:cacheprovider python/tests"
SUITES += --host "python package, pip install:tests/scripts/pip-test.sh"
SUITES += --host "header and module, compiled alone:tests/scripts/header-test.sh"
SUITES += --host "runner self-test:tests/scripts/runner-test.sh"

test: deps $(KERNEL) $(ISO) $(KERNEL64) $(ISO64) $(EMBED64) $(HOSTILE_ELFS) $(HOST_SUITES) $(PY_LIB) \
      $(PRELOAD) \
      $(B64)/real/contract
	@tests/scripts/run-suites.sh $(SUITES)

# ---- the differential fuzzer: libFuzzer, kheap against the model (x86-64, native) ----
FUZZ_SECONDS ?= 60
FUZZ_BASE    := -m64 -g -O1 -fno-sanitize-recover=all -Iinclude -Itests -Itests/host
FUZZ_FLAGS   := $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined
# The model is built without coverage feedback: the fuzzer should steer by kheap's
# branches and the decoder's, not the model's.
$(BUILD)/fuzz/model.o: tests/host/model.c tests/host/model.h include/kheap.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	clang $(FUZZ_BASE) $(SMALL_CLASSES) -fsanitize=address,undefined -c $< -o $@
$(BUILD)/fuzz/fuzz_kheap: tests/host/fuzz_kheap.c tests/host/model.h kernel/kheap.c include/kheap.h \
                          $(BUILD)/fuzz/model.o $(B64)/small/kheap_core.o $(FLAGS_STAMP)
	clang $(FUZZ_FLAGS) $(SMALL_CLASSES) -o $@ tests/host/fuzz_kheap.c kernel/kheap.c \
	    $(BUILD)/fuzz/model.o $(B64)/small/kheap_core.o

# New inputs go to build/fuzz/corpus; a finding is written to build/fuzz/ as crash-*: copy it
# into tests/fuzz/regressions once fixed. Then FUZZ_SECONDS more with the pools shared by 4
# CPUs (KHEAP_FUZZ_CPUS: build/fuzz/corpus-cpus, findings cpus-crash-*; tests/fuzz/cpus is
# a merge of such a corpus), and the damage campaign (ASan) from a new seed.
fuzz: deps $(BUILD)/fuzz/fuzz_kheap $(B64)/host/damage-san
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_kheap -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(FUZZ_CORPORA)
	@mkdir -p $(BUILD)/fuzz/corpus-cpus
	KHEAP_FUZZ_CPUS=4 $(BUILD)/fuzz/fuzz_kheap -max_total_time=$(FUZZ_SECONDS) -max_len=1024 \
	    -timeout=20 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/cpus- \
	    $(BUILD)/fuzz/corpus-cpus $(FUZZ_CORPORA)
	@seed=$$(date +%s); echo "make fuzz: the damage campaign, $(FUZZ_SECONDS) s from seed $$seed"; \
	$(B64)/host/damage-san --seconds $(FUZZ_SECONDS) $$seed

# ---- coverage: lines of kernel/kheap.c (gcov/lcov) and branch targets of asm/kheap_core.asm (gdb),
# both from the x86-64 host suite plus the replay of the committed fuzz corpora ----
COV := $(BUILD)/cov
COV_FLAGS := -m64 -std=gnu11 -g -O0 -fno-toplevel-reorder -Iinclude -Itests -Itests/host
$(eval $(call objects,$(COV),$(COV_FLAGS)))
$(COV)/kernel/kheap.o: XFLAGS += --coverage
$(COV)/ktest: $(HOST_TESTS:%.c=$(COV)/%.o) $(COV)/kernel/kheap.o $(B64)/asm/kheap_core.o
	$(CC) -m64 --coverage -o $@ $^
$(COV)/replay: $(REPLAY_SRCS:%.c=$(COV)/%.o) $(B64)/asm/kheap_core.o
	$(CC) -m64 --coverage -o $@ $^
$(COV)/before_init: $(BEFORE_SRCS:%.c=$(COV)/%.o) $(COV)/kernel/kheap.o $(B64)/asm/kheap_core.o
	$(CC) -m64 --coverage -o $@ $^

coverage: deps $(COV)/ktest $(COV)/replay $(COV)/before_init
	@find $(COV) -name '*.gcda' -delete
	@$(COV)/ktest > /dev/null && $(COV)/replay $(FUZZ_CORPORA) > /dev/null && $(COV)/before_init > /dev/null
	@lcov -q --capture --directory $(COV) --output-file $(COV)/all.info 2>/dev/null
	@lcov -q --extract $(COV)/all.info '*/kernel/kheap.c' --output-file $(COV)/kheap.info
	@genhtml -q $(COV)/kheap.info --output-directory $(COV)/html
	@echo "kernel/kheap.c (report: $(COV)/html/index.html):"
	@lcov --summary $(COV)/kheap.info 2>&1 | grep -E 'lines|functions'
	@echo "asm/kheap_core.asm (gdb, tests/scripts/asm-coverage.sh):"
	@tests/scripts/asm-coverage.sh $(COV)/ktest -- $(COV)/replay $(FUZZ_CORPORA)

# ---- benchmarks (they print figures and assert nothing): make bench on kheap, glibc malloc
# and a naive bitmap; make bench-cg the same traces' instructions under callgrind; make
# debug-cost what debug pools cost. BENCH_WIDTH=64 (default, native) or 32 (the i386 build:
# natively, or under qemu-i386 where this machine cannot execute it).
BENCH_WIDTH ?= 64
BENCH_DIR   := $(if $(filter 32,$(BENCH_WIDTH)),$(BUILD)/host,$(B64)/host)
BENCH_RUN   := $(if $(filter 32,$(BENCH_WIDTH)),$(RUN32),)
BENCH_DEPS  := tests/host/rng.h include/kheap.h include/kernel/irqlock.h $(FLAGS_STAMP)
# The threads rows take the stub kernel's ticket lock.
BENCH_LOCK  := kernel/stub/irqlock.c
$(BUILD)/host/%: tests/bench/%.c $(BENCH_LOCK) $(BENCH_DEPS) $(LIB)
	@mkdir -p $(@D)
	$(CC) -m32 -fno-pie -no-pie -O2 -pthread -Iinclude -Itests/host -o $@ $< $(BENCH_LOCK) $(LIB)
$(B64)/host/%: tests/bench/%.c $(BENCH_LOCK) $(BENCH_DEPS) $(LIB64)
	@mkdir -p $(@D)
	$(CC) -m64 -O2 -pthread -Iinclude -Itests/host -o $@ $< $(BENCH_LOCK) $(LIB64)

# A line saying the figures below come from qemu-i386, when they do.
emulated_note = if [ -n "$(BENCH_RUN)" ] && [ "$$($(RUN32) --mode)" != native ]; then \
	echo "make $@: this machine cannot execute 32-bit programs: figures below are from qemu-i386"; fi

debug-cost: deps $(BENCH_DIR)/debug_cost $(BUILD)/host/probe32
	@$(emulated_note)
	@$(BENCH_RUN) $(BENCH_DIR)/debug_cost

# One run gives the table (build/bench/bench.txt), the plot (build/bench/bench.png) and the
# results file, which quotes both with the machine they ran on: tests/bench/RESULTS.md for
# the x86-64 build, RESULTS-i386.md for the i386 one.
RESULTS := tests/bench/RESULTS$(if $(filter 32,$(BENCH_WIDTH)),-i386).md
bench: deps $(BENCH_DIR)/bench $(BUILD)/host/probe32
	@mkdir -p $(BUILD)/bench
	@{ $(emulated_note); $(BENCH_RUN) $(BENCH_DIR)/bench $(BUILD)/bench/bench.dat; } | \
	    tee $(BUILD)/bench/bench.txt
	@gnuplot tests/bench/bench.gp && echo "plot: $(BUILD)/bench/bench.png"
	@tests/bench/results.sh $(BENCH_WIDTH) $(BUILD)/bench/bench.txt > $(RESULTS)
	@echo "results: $(RESULTS)"

# Instructions per alloc and per free from callgrind, at both widths (Valgrind runs the i386
# build only where this machine executes it: elsewhere it says so), into
# tests/bench/RESULTS-cg.md.
bench-cg: deps $(B64)/host/bench $(BUILD)/host/bench $(BUILD)/host/probe32
	@builds="x86-64:$(B64)/host/bench"; \
	if [ "$$($(RUN32) --mode)" = native ]; then builds="$$builds i386:$(BUILD)/host/bench"; \
	else echo "make bench-cg: i386 SKIP: Valgrind's 32-bit tool cannot start on a machine that"; \
	    echo "make bench-cg: cannot execute 32-bit programs"; fi; \
	mkdir -p $(BUILD)/bench-cg && tests/bench/bench-cg.sh $(BUILD)/bench-cg $$builds \
	    > $(BUILD)/bench-cg/table.txt && cat $(BUILD)/bench-cg/table.txt
	@tests/bench/results.sh cg $(BUILD)/bench-cg/table.txt > tests/bench/RESULTS-cg.md
	@echo "results: tests/bench/RESULTS-cg.md"

# The flag sets above, for the Makefile's flags stamp.
TEST_FLAG_VARS := HOST_CFLAGS HOST_M32 HOST_M64 SAN_FLAGS FUZZ_FLAGS COV_FLAGS
