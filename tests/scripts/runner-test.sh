#!/usr/bin/env bash
# runner-test.sh - tests of the test runner itself (tests/scripts/run-suites.sh, tests/scripts/run32.sh): the
# qemu-i386 route for 32-bit host programs, skips that never count as passes, failure counts,
# tests counted inside KTAP suites.
# Prints KTAP. Needs build/host/model_test and build/host/probe32 (make test builds them).
set -u
cd "$(dirname "$0")/../.." || exit 2
export KHEAP_PROBE32=build/host/probe32
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

# check NAME: runs the function NAME as one KTAP test: exit 0 passes, 77 is a skip (its
# output the reason), anything else fails.
check() {
    local rc
    n=$((n + 1))
    "$1" > "$work/why" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then echo "ok $n $1"
    elif [ $rc -eq 77 ]; then echo "ok $n $1 # SKIP $(head -n 1 "$work/why")"
    else echo "not ok $n $1 # $(head -c 300 "$work/why" | tr '\n' ' ')"; failed=$((failed + 1)); fi
}

# runner ROUTE ARGS...: run-suites.sh with KHEAP_HOST32=ROUTE, its output in $work/out and
# its last line in $work/last; returns its exit status.
runner() {
    local route=$1; shift
    KHEAP_HOST32=$route tests/scripts/run-suites.sh "$@" > "$work/out" 2>&1
    local rc=$?
    tail -n 1 "$work/out" > "$work/last"
    return $rc
}

# expect_last REGEX: the runner's last line matches it.
expect_last() {
    grep -Eqx "$1" "$work/last" || { echo "last line: $(cat "$work/last"), wanted $1"; return 1; }
}

run32_mode_follows_the_setting() {
    [ "$(KHEAP_HOST32=qemu tests/scripts/run32.sh --mode)" = qemu-i386 ] || { echo "qemu"; return 1; }
    [ "$(KHEAP_HOST32=native tests/scripts/run32.sh --mode)" = native ] || { echo "native"; return 1; }
    if KHEAP_HOST32=bogus tests/scripts/run32.sh --mode > /dev/null 2>&1; then echo "bogus accepted"; return 1; fi
    local want=qemu-i386
    if "$KHEAP_PROBE32" 2> /dev/null; then want=native; fi
    [ "$(KHEAP_HOST32=auto tests/scripts/run32.sh --mode)" = $want ] || { echo "auto is not $want"; return 1; }
}

# A qemu-i386 first on PATH that notes each call, then runs the real one.
qemu_route_runs_a_32bit_suite_under_qemu_i386() {
    mkdir -p "$work/bin"
    printf '#!/bin/sh\necho "$*" >> "%s/qemu-calls"\nexec %s "$@"\n' "$work" "$(command -v qemu-i386)" \
        > "$work/bin/qemu-i386"
    chmod +x "$work/bin/qemu-i386"
    PATH="$work/bin:$PATH" runner qemu --host32 "model:build/host/model_test" ||
        { echo "runner failed: $(cat "$work/last")"; return 1; }
    grep -q 'model_test' "$work/qemu-calls" 2> /dev/null || { echo "qemu-i386 was not called"; return 1; }
    grep -Eq '^# model \(qemu-i386\): [1-9][0-9]* passed, 0 failed' "$work/out" || { echo "no suite line"; return 1; }
    expect_last '[1-9][0-9]* passed, 0 failed'
}

native_only_suite_is_skipped_never_passed() {
    runner qemu --host32 "model:build/host/model_test" \
        --native32 "again:needs the native route:build/host/model_test" ||
        { echo "runner failed: $(cat "$work/last")"; return 1; }
    grep -qx '# SKIP again: needs the native route (this machine cannot execute 32-bit programs)' "$work/out" ||
        { echo "no SKIP line"; return 1; }
    local once
    once=$(sed -n 's/^# model (qemu-i386): \([0-9]*\) passed.*/\1/p' "$work/out")
    expect_last "$once passed, 0 failed, 1 skipped"
}

native_only_suite_runs_on_the_native_route() {
    "$KHEAP_PROBE32" 2> /dev/null || { echo "this machine cannot execute 32-bit programs"; return 77; }
    runner native --native32 "again:needs the native route:build/host/model_test" ||
        { echo "runner failed: $(cat "$work/last")"; return 1; }
    expect_last '[1-9][0-9]* passed, 0 failed'
}

suite_without_ktap_fails_the_run() {
    if runner qemu --host32 "silent:build/host/probe32"; then echo "runner passed"; return 1; fi
    grep -q '^# silent (qemu-i386): 0 passed, 1 failed.*no KTAP output' "$work/out" ||
        { echo "no failure line"; return 1; }
    expect_last '0 passed, 1 failed'
}

# A program printing suites (KTAP subtests) whose second suite never comes.
nested_ktap_counts_the_tests_in_suites_and_a_missing_suite() {
    printf '#!/bin/sh\nprintf "KTAP version 1\\n1..2\\n    KTAP version 1\\n    # Subtest: one\\n    1..3\\n    ok 1 a\\n    ok 2 b # SKIP why\\n    not ok 3 c\\nnot ok 1 one\\n"\n' \
        > "$work/nested"
    chmod +x "$work/nested"
    if runner qemu --host "nested:$work/nested"; then echo "runner passed"; return 1; fi
    grep -q '^# nested: 1 passed, 2 failed, 1 skipped.*1 suites missing' "$work/out" ||
        { echo "suite line: $(grep '^# nested' "$work/out")"; return 1; }
    expect_last '1 passed, 2 failed, 1 skipped'
}

# `make HOST32=qemu` reaches the 32-bit programs through make with the compiler's flags intact,
# in a build directory of its own (the route32 target: the model suite by that route).
make_host32_qemu_builds_and_runs_under_qemu_i386() {
    make -s --no-print-directory BUILD="$work/build" HOST32=qemu route32 > "$work/make" 2>&1 ||
        { echo "make failed: $(tail -n 3 "$work/make")"; return 1; }
    grep -qx 'route: qemu-i386' "$work/make" || { echo "route: $(grep '^route' "$work/make")"; return 1; }
    grep -q '^ok ' "$work/make" || { echo "no passing suite"; return 1; }
    if grep -q '^ *not ok' "$work/make"; then echo "a failing test"; return 1; fi
}

# pytest's summary line is what a --pytest suite counts.
pytest_summary_is_counted() {
    printf '#!/bin/sh\necho "..F."\necho "3 passed, 1 failed in 0.10s"\nexit 1\n' > "$work/fakepytest"
    chmod +x "$work/fakepytest"
    if runner qemu --pytest "py:$work/fakepytest"; then echo "runner passed"; return 1; fi
    expect_last '3 passed, 1 failed'
}

echo "KTAP version 1"
echo "1..8"
check run32_mode_follows_the_setting
check qemu_route_runs_a_32bit_suite_under_qemu_i386
check native_only_suite_is_skipped_never_passed
check native_only_suite_runs_on_the_native_route
check suite_without_ktap_fails_the_run
check nested_ktap_counts_the_tests_in_suites_and_a_missing_suite
check pytest_summary_is_counted
check make_host32_qemu_builds_and_runs_under_qemu_i386
[ "$failed" -eq 0 ]
