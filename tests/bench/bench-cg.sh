#!/usr/bin/env bash
# bench-cg.sh - instructions per allocation and per free, counted by callgrind (repeatable on
# a noisy machine): workload W2 replayed once per allocator at 1 and 16 MiB; then kheap alone on
# every workload at 1 and 128 MiB, the scaling in a figure that does not drift with the machine.
# Usage: tests/bench/bench-cg.sh BENCH_PROGRAM OUT_DIR
set -eu
bench=$1
out=$2
mkdir -p "$out"
# per_op W POOL ALLOCATOR: "Ir/alloc Ir/free" of one replay (the bench's own wrappers, called
# through pointers and never inlined, inclusive cost, over the whole trace).
per_op() {
    local file=$out/callgrind.W$1.$2.$3 counts allocs frees fa ff
    counts=$(valgrind --tool=callgrind --callgrind-out-file="$file" "$bench" --one "$1" "$2" "$3" 2>/dev/null)
    allocs=$(echo "$counts" | awk '{ print $2 }')
    frees=$(echo "$counts" | awk '{ print $4 }')
    case $3 in kheap) fa=kheap_op_alloc; ff=kheap_op_free ;; *) fa=${3}_alloc; ff=${3}_free ;; esac
    ir() { callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
           awk -v f=":$1 " 'index($0, f) { gsub(",", "", $1); print $1; exit }'; }
    awk -v a="$(ir $fa)" -v n="$allocs" -v f="$(ir $ff)" -v m="$frees" \
        'BEGIN { printf "%.1f %.1f\n", a / n, f / m }'
}

printf '%-8s %7s %14s %14s %14s\n' allocator pool "Ir/alloc" "Ir/free" "Ir/pair"
for pool in 1 16; do
    for a in kheap glibc; do
        read -r ia if_ < <(per_op 2 "$pool" "$a")
        printf '%-8s %4s MiB %14s %14s %14.1f\n' "$a" "$pool" "$ia" "$if_" \
            "$(awk -v a="$ia" -v b="$if_" 'BEGIN { print a + b }')"
    done
done

echo
echo "kheap on every workload (whole trace, fill included), 1 and 128 MiB:"
printf '%-9s %14s %14s %14s %14s %10s\n' workload "1 MiB alloc" "1 MiB free" "128 MiB alloc" \
    "128 MiB free" "128/1 op"
for w in 1 2 3 4; do
    read -r a1 f1 < <(per_op "$w" 1 kheap)
    read -r a128 f128 < <(per_op "$w" 128 kheap)
    printf '%-9s %14s %14s %14s %14s %10.2f\n' "W$w" "$a1" "$f1" "$a128" "$f128" \
        "$(awk -v a="$a1" -v b="$f1" -v c="$a128" -v d="$f128" 'BEGIN { print (c + d) / (a + b) }')"
done
