#!/usr/bin/env bash
# header-test.sh - include/kheap.h and the module's C file compile on their own, as a kernel
# that copies them would compile them: no include path but theirs, -nostdinc -ffreestanding,
# C99 to C2x, pedantic, both widths, C++, a kernel's own size_t, KHEAP_PREFIX and
# KHEAP_NO_KMALLOC. Prints KTAP, a test per compile.
set -u
cd "$(dirname "$0")/../.." || exit 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0
STRICT="-nostdinc -ffreestanding -Wall -Wextra -Werror -pedantic -Iinclude"

# compiles NAME COMMAND...: the command (reading a source on stdin) must succeed.
compiles() {
    local name=$1
    shift
    n=$((n + 1))
    if "$@" > "$work/err" 2>&1; then echo "ok $n $name"
    else echo "not ok $n $name # $(head -c 300 "$work/err" | tr '\n' ' ')"; failed=$((failed + 1)); fi
}

# refused NAME COMMAND...: the command must fail (a name that must not be declared).
refused() {
    local name=$1
    shift
    n=$((n + 1))
    if "$@" > "$work/err" 2>&1; then echo "not ok $n $name # compiled"; failed=$((failed + 1))
    else echo "ok $n $name"; fi
}

include_only() { printf '#include "kheap.h"\n'; }
# A kernel's own typedefs, then the header, then calls that pass them.
own_types() {
    printf '%s\n' '#ifdef __x86_64__' 'typedef unsigned long size_t; typedef unsigned long uintptr_t;' \
        '#else' 'typedef unsigned int size_t; typedef unsigned int uintptr_t;' '#endif' \
        '#include "kheap.h"' \
        'size_t used(void *p) { size_t n = ksize(p); uintptr_t a = (uintptr_t)kmalloc(n); return n + a; }'
}
# A kernel with a kmalloc of its own, and kheap's family prefixed.
own_kmalloc() {
    printf '%s\n' '#include "kheap.h"' 'unsigned kmalloc(unsigned size);' \
        'void *take(void) { return kmalloc(8) ? kh_kmalloc(8) : 0; }'
}
calls_kmalloc() { printf '%s\n' '#include "kheap.h"' 'void *take(void) { return kmalloc(8); }'; }

echo "KTAP version 1"
echo "1..17"
for std in c99 c11 gnu11 gnu2x; do
    for m in 32 64; do
        compiles "header_alone_${std}_m$m" bash -c "$(declare -f include_only); include_only |
            gcc -m$m -std=$std $STRICT -x c -c - -o /dev/null"
    done
done
compiles header_alone_cxx98 bash -c "$(declare -f include_only); include_only |
    g++ -std=c++98 $STRICT -x c++ -c - -o /dev/null"
compiles header_alone_cxx17 bash -c "$(declare -f include_only); include_only |
    g++ -std=c++17 $STRICT -x c++ -c - -o /dev/null"
compiles header_alone_clang_c99 bash -c "$(declare -f include_only); include_only |
    clang -std=c99 $STRICT -x c -c - -o /dev/null"
for m in 32 64; do
    compiles "kernel_own_size_t_m$m" bash -c "$(declare -f own_types); own_types |
        gcc -m$m -std=c99 $STRICT -x c -c - -o /dev/null"
done
compiles prefix_leaves_the_kernels_kmalloc_alone bash -c "$(declare -f own_kmalloc); own_kmalloc |
    gcc -std=c99 $STRICT -DKHEAP_PREFIX=kh_ -x c -c - -o /dev/null"
refused no_kmalloc_declares_no_kmalloc bash -c "$(declare -f calls_kmalloc); calls_kmalloc |
    gcc -std=c99 $STRICT -DKHEAP_NO_KMALLOC -x c -c - -o /dev/null"
for m in 32 64; do
    compiles "module_c_alone_m$m" gcc -m$m -std=c99 -nostdinc -ffreestanding -Wall -Wextra -Werror \
        -DKHEAP_PREFIX=kh_ -Iinclude -c kernel/kheap.c -o "$work/kheap.o"
done
[ "$failed" -eq 0 ]
