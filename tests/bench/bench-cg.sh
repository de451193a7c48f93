#!/usr/bin/env bash
# bench-cg.sh - instructions per allocation and per free, counted by callgrind (repeatable on
# a noisy machine): every workload W1-W4 at 1, 16 and 128 MiB, kheap and glibc, each replayed
# once (the bench's own alloc and free wrappers, inclusive cost, the whole trace with its fill).
# Prints one table per build, then each workload's growth from 1 to 128 MiB.
# Usage: tests/bench/bench-cg.sh OUT_DIR LABEL:BENCH_PROGRAM...
set -eu
out=$1
shift
mkdir -p "$out"

# per_op PROGRAM W POOL ALLOCATOR: "Ir/alloc Ir/free" of one replay.
per_op() {
    local file=$out/callgrind.$(dirname "$1" | tr / _).W$2.$3.$4 counts allocs frees fa ff
    counts=$(valgrind --tool=callgrind --callgrind-out-file="$file" "$1" --one "$2" "$3" "$4" 2>/dev/null)
    allocs=$(echo "$counts" | awk '{ print $2 }')
    frees=$(echo "$counts" | awk '{ print $4 }')
    case $4 in kheap) fa=kheap_op_alloc; ff=kheap_op_free ;; *) fa=${4}_alloc; ff=${4}_free ;; esac
    ir() { callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
           awk -v f=":$1 " 'index($0, f) { gsub(",", "", $1); print $1; exit }'; }
    awk -v a="$(ir $fa)" -v n="$allocs" -v f="$(ir $ff)" -v m="$frees" \
        'BEGIN { printf "%.1f %.1f\n", a / n, f / m }'
}

for arg in "$@"; do
    label=${arg%%:*} bench=${arg#*:}
    echo "$label: instructions per operation (callgrind), whole trace"
    printf '%-9s %7s %11s %11s %11s %11s %8s\n' workload pool "kheap alloc" "kheap free" \
        "kheap pair" "glibc pair" "ratio"
    declare -A pair=()
    for w in 1 2 3 4; do
        for pool in 1 16 128; do
            read -r ka kf < <(per_op "$bench" "$w" "$pool" kheap)
            read -r ga gf < <(per_op "$bench" "$w" "$pool" glibc)
            pair[$w.$pool]=$(awk -v a="$ka" -v b="$kf" 'BEGIN { print a + b }')
            awk -v w="W$w" -v p="$pool" -v ka="$ka" -v kf="$kf" -v ga="$ga" -v gf="$gf" 'BEGIN {
                printf "%-9s %3d MiB %11.1f %11.1f %11.1f %11.1f %7.2fx\n", w, p, ka, kf,
                       ka + kf, ga + gf, (ka + kf) / (ga + gf) }'
        done
    done
    printf 'kheap Ir per pair, 128 MiB against 1 MiB:'
    for w in 1 2 3 4; do
        awk -v w="W$w" -v a="${pair[$w.1]}" -v b="${pair[$w.128]}" 'BEGIN { printf " %s %.2fx", w, b / a }'
    done
    echo
    echo
done
