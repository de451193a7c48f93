#!/usr/bin/env bash
# soak.sh - real programs with kheap as their malloc: each program of the list runs without and
# with build/libkheap-preload.so (plain pools, then debug pools); its output and exit status
# must be the same (a fault, and damage kheap_check finds at exit, abort the process), and
# every process must write its stats at exit, with allocations served and live allocations
# equal to allocs - frees. Prints KTAP, a test per program and pass.
# Usage: tests/real/soak.sh [PRELOAD.so]     (make test runs it; bench.sh times the same list)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export KHEAP_TOP=$top
shim=$(realpath "${1:-$top/build/libkheap-preload.so}")
. "$top/tests/real/programs.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
programs_setup "$work"

n=0
failed=0
# soak NAME PASS [VAR=VALUE...]: one KTAP test: program NAME with the shim and the settings.
soak() {
    local name=$1 pass=$2 why=""
    shift 2
    n=$((n + 1))
    local out=$work/out.$name rc0 rc1
    rm -rf "$work/stats" && mkdir -p "$work/stats"
    (cd "$work" && program_run "$name") > "$out.0" 2> "$out.0.err"
    rc0=$?
    (cd "$work" && env "$@" LD_PRELOAD="$shim" KHEAP_PRELOAD_STATS="$work/stats/%p" \
        bash -c '. "$0"; program_run "$1"' "$top/tests/real/programs.sh" "$name") \
        > "$out.1" 2> "$out.1.err"
    rc1=$?
    if [ $rc0 -ne 0 ]; then why="fails without the shim (exit $rc0): $(head -c 200 "$out.0.err")"
    elif [ $rc1 -ne $rc0 ]; then why="exit $rc1 with the shim, $rc0 without: $(head -c 200 "$out.1.err")"
    elif ! cmp -s "$out.0" "$out.1"; then why="output differs with the shim"
    elif [ ! -s "$out.0" ]; then why="no output"
    else why=$(stats_check "$work/stats"); fi
    if [ -z "$why" ]; then
        echo "ok $n ${name}_${pass}"
    else
        echo "not ok $n ${name}_${pass} # $why" | tr '\n' ' '
        echo
        failed=$((failed + 1))
    fi
}

# stats_check DIR: empty when every stats line in DIR shows allocations served and live =
# allocs - frees, else why not.
stats_check() {
    local files
    files=$(ls "$1")
    [ -n "$files" ] || { echo "no process wrote its stats"; return; }
    awk '
        { for (i = 1; i < NF; i++) v[$i] = $(i + 1) + 0 }
        v["live"] != v["allocs"] - v["frees"] { print FILENAME ": live " v["live"] " of " \
            v["allocs"] " allocs and " v["frees"] " frees"; exit }
        v["allocs"] == 0 { print FILENAME ": no allocation served"; exit }
    ' FS='[ ,:]+' "$1"/*
}

names=$(program_names)
count=$(echo $names | wc -w)
echo "KTAP version 1"
echo "1..$((2 * count))"
for name in $names; do soak "$name" plain; done
for name in $names; do soak "$name" debug KHEAP_PRELOAD_DEBUG=1; done
[ "$failed" -eq 0 ]
