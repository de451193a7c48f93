#!/usr/bin/env bash
# bench-cg.sh - instructions per allocation and per free, counted by callgrind (repeatable on
# a noisy machine): workload W2 replayed once per allocator at 1 and 16 MiB.
# Usage: tests/bench-cg.sh BENCH_PROGRAM OUT_DIR
set -eu
bench=$1
out=$2
mkdir -p "$out"
printf '%-8s %7s %14s %14s\n' allocator pool "Ir/alloc" "Ir/free"
for pool in 1 16; do
    for a in kheap glibc; do
        file=$out/callgrind.W2.$pool.$a
        counts=$(valgrind --tool=callgrind --callgrind-out-file="$file" "$bench" --one 2 "$pool" "$a" 2>/dev/null)
        allocs=$(echo "$counts" | awk '{ print $2 }')
        frees=$(echo "$counts" | awk '{ print $4 }')
        # the bench's own wrappers (called through pointers, never inlined), inclusive cost
        case $a in kheap) fa=kheap_op_alloc; ff=kheap_op_free ;; *) fa=${a}_alloc; ff=${a}_free ;; esac
        ir() { callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
               awk -v f=":$1 " 'index($0, f) { gsub(",", "", $1); print $1; exit }'; }
        printf '%-8s %4s MiB %14.1f %14.1f\n' "$a" "$pool" \
            "$(awk -v i="$(ir $fa)" -v n="$allocs" 'BEGIN { print i / n }')" \
            "$(awk -v i="$(ir $ff)" -v n="$frees" 'BEGIN { print i / n }')"
    done
done
