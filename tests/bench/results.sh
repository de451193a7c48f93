#!/usr/bin/env bash
# results.sh - writes a results file (on stdout) from one run of make bench (WIDTH 64 or 32:
# tests/bench/RESULTS.md or RESULTS-i386.md) or of make bench-cg (cg: RESULTS-cg.md): the
# machine it ran on, the table, and for make bench where the plot of the same run is.
# Usage: tests/bench/results.sh WIDTH|cg TABLE
set -eu
width=$1 table=$2
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
if [ "$width" = cg ]; then
    cat <<HEAD
# kheap instruction counts

Written by \`make bench-cg\` (tests/tests.mk) from one run; run it again to replace this file.
The traces of \`make bench\` (tests/bench/bench.c, W1-W4, seeded), each replayed once under
callgrind for kheap and for glibc: instructions per allocation, per free and per pair (the
bench's wrappers, inclusive, over the whole trace with its fill). Exact: the same to the last
digit on every run of the same build.

- Machine: ${cpu:-unknown CPU}, $(uname -sr); $(valgrind --version)
- Compiler: $(gcc --version | head -n 1)
- Date: $(date -u +%Y-%m-%d)

\`\`\`
HEAD
    cat "$table"
    echo '```'
    exit 0
fi
cat <<HEAD
# kheap benchmark results

Written by \`make bench\` (tests/tests.mk) from one run; run it again to replace this file.
The traces (tests/bench/bench.c, seeded, the same on every run):

- W1 small LIFO: 16-128 B allocations freed in reverse order.
- W2 kernel mix: live bytes at 40% of the pool, page-aligned 4 KiB requests, rare 8-64 KiB ones.
- W3 FIFO churn: 64-1024 B buffers freed oldest first.
- W4 fragmenter: 32 B blocks over 60% of the pool, every other one freed, then 1-8 KiB requests.

Each cell: median ns per operation [min-max] of 5 runs, ns per alloc+free pair, failed
allocations, peak footprint (live bytes plus the allocator's fixed metadata). Wall-clock
figures drift on a shared machine; \`make bench-cg\` counts instructions, which do not.

- Build: $( [ "$width" = 32 ] && echo "i386 (build/libkheap.a)" || echo "x86-64 (build/libkheap64.a)" )
- Machine: ${cpu:-unknown CPU}, $(nproc) cores, $(uname -sr)
- Compiler: $(gcc --version | head -n 1)
- Date: $(date -u +%Y-%m-%d)
- Plot of the same run: build/bench/bench.png (not committed; \`make bench\` draws it)

\`\`\`
HEAD
cat "$table"
echo '```'
