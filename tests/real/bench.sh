#!/usr/bin/env bash
# bench.sh - make bench-real: the soak's programs (tests/real/programs.sh) timed with glibc's
# malloc and with kheap's (build/libkheap-preload.so), the median of 5 runs each, and the
# peak resident set of each run's largest process. A benchmark: it prints figures, asserts
# nothing. Usage: tests/real/bench.sh RUNTIME [PRELOAD.so]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export KHEAP_TOP=$top
runtime=$(realpath "$1")
shim=$(realpath "${2:-$top/build/libkheap-preload.so}")
. "$top/tests/real/programs.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
programs_setup "$work"
cd "$work" || exit 2
RUNS=5

# measure NAME [VAR=VALUE...]: "median-seconds median-KiB" of RUNS runs of program NAME.
measure() {
    local name=$1 i m=$((RUNS / 2 + 1))
    shift
    for ((i = 0; i < RUNS; i++)); do
        env "$@" "$runtime" bash -c '. "$0"; program_run "$1"' "$top/tests/real/programs.sh" "$name"
    done > "$work/runs"
    echo "$(sort -n -k1,1 "$work/runs" | sed -n "${m}p" | cut -d' ' -f1)" \
         "$(sort -n -k2,2 "$work/runs" | sed -n "${m}p" | cut -d' ' -f2)"
}

echo "make bench-real: median wall-clock seconds of $RUNS runs and median peak RSS (KiB) of the"
echo "largest process, glibc's malloc against kheap's (LD_PRELOAD=$(basename "$shim"), default settings)"
printf '%-9s %10s %10s %7s %12s %12s %7s\n' program "glibc s" "kheap s" ratio "glibc RSS" "kheap RSS" ratio
for name in $(program_names); do
    read -r t0 r0 < <(measure "$name")
    read -r t1 r1 < <(measure "$name" LD_PRELOAD="$shim")
    awk -v n="$name" -v t0="$t0" -v t1="$t1" -v r0="$r0" -v r1="$r1" 'BEGIN {
        printf "%-9s %10.3f %10.3f %6.2fx %12d %12d %6.2fx\n", n, t0, t1, t1 / t0, r0, r1, r1 / r0 }'
done
