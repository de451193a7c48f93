#!/usr/bin/env bash
# results.sh - writes tests/bench/RESULTS.md (on stdout) from one run of make bench: the
# machine it ran on, the table, and where the plot of the same run is.
# Usage: tests/bench/results.sh WIDTH BENCH_TXT
set -eu
width=$1 table=$2
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
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
