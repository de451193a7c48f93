#!/usr/bin/env bash
# asm-coverage.sh - which branch targets of asm/kheap_core.asm some programs reach, found with gdb:
# a temporary breakpoint on every routine entry, every jump or call target and every fall-through
# of a conditional jump; each deletes itself when hit, so what remains at the end was never reached.
#
# Usage: tests/scripts/asm-coverage.sh PROGRAM [ARGS...] [-- PROGRAM [ARGS...]]...
# Every PROGRAM must link asm/kheap_core.asm with its symbols. Prints the places never reached by any
# of the runs and one line per kind: "asm ... reached: N of M". Exits 1 when a target was missed.
set -eu

runs=()
current=""
for a in "$@"; do
    if [ "$a" = "--" ]; then runs+=("$current"); current=""; else current="$current $a"; fi
done
[ -n "$current" ] && runs+=("$current")
[ ${#runs[@]} -gt 0 ] || { echo "usage: $0 PROGRAM [ARGS...] [-- PROGRAM [ARGS...]]..." >&2; exit 2; }

work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# places PROGRAM: "ADDR KIND <symbol+off>" for every place of the asm core in PROGRAM. The
# entries are the exported kh_* routines (hidden, so nm lists them as local, like the labels);
# addresses are padded to nm's width (8 digits for i386, 16 for x86-64).
places() {
    local prog=$1 lo hi
    lo=$(nm -n "$prog" | awk '$3 == "scan" { print $1; exit }')
    hi=$(nm -n "$prog" | awk 'found { print $1; exit } $3 == "kh_copy" { found = 1 }')
    [ -n "$lo" ] && [ -n "$hi" ] || { echo "$prog: no asm core symbols" >&2; exit 2; }
    nm -n "$prog" | awk -v lo="$lo" -v hi="$hi" \
        '$3 ~ /^kh_[a-z_]+$/ && ($1 "") >= (lo "") && ($1 "") < (hi "") { print "0x" $1 " entry <" $3 ">" }'
    objdump -d --no-show-raw-insn --start-address="0x$lo" --stop-address="0x$hi" "$prog" |
    awk -v lo="$lo" -v hi="$hi" '
        function pad(h) { h = sprintf("%" length(lo) "s", h); gsub(/ /, "0", h); return h }
        /^ *[0-9a-f]+:\t/ {
            addr = $1; sub(":", "", addr)
            if (pending != "") { print "0x" pad(addr) " fallthrough <after " pending ">"; pending = "" }
            op = $2
            if (op ~ /^(j|call)/ && $3 ~ /^[0-9a-f]+$/) {
                t = pad($3)
                if ((t "") >= (lo "") && (t "") < (hi "")) print "0x" t " target " $4
                if (op != "jmp" && op != "call") pending = op " " $4
            }
        }'
}

# relative LO: rewrites the address in the first column as an offset from LO (the core's start),
# so runs of programs that place the core at different addresses can be compared.
relative() {
    while read -r addr rest; do
        printf '+%05x %s\n' $((addr - 0x$1)) "$rest"
    done
}

# One gdb run per program: a tbreak on every place, run, list the breakpoints still there.
n=0
for run in "${runs[@]}"; do
    n=$((n + 1))
    prog=$(echo "$run" | awk '{ print $1 }')
    args=$(echo "$run" | cut -d' ' -f3-)
    lo=$(nm -n "$prog" | awk '$3 == "scan" { print $1; exit }')
    places "$prog" | sort -u -k1,1 > "$work/abs.$n"
    relative "$lo" < "$work/abs.$n" > "$work/places.$n"
    if [ "$n" -gt 1 ] && ! cmp -s "$work/places.1" "$work/places.$n"; then
        echo "$prog: its asm core differs from the first program's" >&2
        exit 2
    fi
    {
        echo "set pagination off"
        echo "set confirm off"
        awk '{ print "tbreak *" $1 }' "$work/abs.$n"
        echo "commands 1-$(wc -l < "$work/abs.$n")"
        echo "silent"
        echo "continue"
        echo "end"
        echo "run $args > /dev/null 2>&1"
        echo "info breakpoints"
    } > "$work/gdb.$n"
    gdb -q -batch -nx -x "$work/gdb.$n" "$prog" 2>/dev/null |
        awk '/^[0-9]+ +breakpoint/ { print $5 }' | relative "$lo" | sort -u > "$work/missed.$n"
done
cp "$work/places.1" "$work/places"

# Missed by every run.
cp "$work/missed.1" "$work/missed"
for i in $(seq 2 $n); do
    comm -12 "$work/missed" "$work/missed.$i" > "$work/m" && mv "$work/m" "$work/missed"
done

# (FILENAME, not NR == FNR: the list of misses may be empty.)
awk 'FILENAME == ARGV[1] { miss[$1] = 1; next }
     { total[$2]++; if ($1 in miss) print "  not reached: " $0; else hit[$2]++ }
     END {
         name["entry"] = "routine entries"; name["target"] = "branch targets"
         name["fallthrough"] = "fall-throughs of conditional jumps"
         for (k in total) printf "asm/kheap_core.asm %s reached: %d of %d\n", name[k], hit[k] + 0, total[k]
     }' \
    "$work/missed" "$work/places"
missed_targets=$(awk 'FILENAME == ARGV[1] { miss[$1] = 1; next } ($1 in miss) && $2 != "fallthrough"' \
    "$work/missed" "$work/places" | wc -l)
[ "$missed_targets" -eq 0 ]
