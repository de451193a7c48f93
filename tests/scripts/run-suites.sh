#!/usr/bin/env bash
# run-suites.sh - runs test suites that print KTAP: the kernel under QEMU (with -kernel, and
# from the GRUB ISO) and host programs; ends with one line "N passed, M failed" over them all.
#
# Usage: tests/scripts/run-suites.sh [--kernel ELF[@QEMU FLAGS]] [--iso ISO] [--host "LABEL:COMMAND"]
#                            [--host32 "LABEL:COMMAND"] [--native32 "LABEL:REASON:COMMAND"]
#                            [--crash ELF] [--append ARGS] [--qemu "EXTRA FLAGS"]
#                            [--system QEMU]
# --pytest "LABEL:COMMAND" runs pytest (-q) and counts its summary line's passed, failed,
# errors and skipped; it passes when pytest exits 0 having run at least one test.
# --host32 runs a 32-bit host program through tests/scripts/run32.sh: natively, or under qemu-i386 on
# a machine that cannot execute 32-bit programs. --native32 is a 32-bit suite that only runs
# natively (Valgrind's 32-bit tool, 32-bit ASan): elsewhere it is skipped, with REASON on its
# own line. A skipped suite counts once in "K skipped", and a KTAP "ok N name # SKIP reason"
# line counts there too: a skip is never counted as passed.
# --system QEMU: the QEMU program of the --kernel, --iso and --crash boots after it (default
# qemu-system-i386, or $QEMU; qemu-system-x86_64 for the x86-64 kernel). Its boots are labelled
# with the architecture.
# --crash boots ELF with "crash" on its command line: it passes, as one test, when the
# kernel prints its CPU exception dump and QEMU exits 35.
# A QEMU boot passes only when QEMU exits 33 (isa-debug-exit 0x10) after a complete KTAP plan;
# a host command passes when it exits 0 after a complete plan. A hang (timeout), a triple
# fault or reset (-no-reboot exit 0), a short plan or any other exit is a failure: its missing
# tests count as failed and the reason is printed. The last line is "N passed, M failed",
# with ", K skipped" when a suite was skipped; the exit status is 0 when nothing failed.
set -u
here=$(dirname "$0")

TIMEOUT=${KTEST_TIMEOUT:-120}
QEMU=${QEMU:-qemu-system-i386}
QEMU_FLAGS=(-display none -serial stdio -monitor none -no-reboot
            -device isa-debug-exit,iobase=0xf4,iosize=0x04)
passed=0
failed=0
skipped=0
append=test
extra=()
boots=()
systems=()                                      # the QEMU of each boot
system=$QEMU

while [ $# -gt 0 ]; do
    case $1 in
        --system) system=$2; shift 2; continue ;;
        --kernel) boots+=("kernel:$2"); shift 2 ;;
        --iso) boots+=("iso:$2"); shift 2 ;;
        --host) boots+=("host:$2"); shift 2 ;;
        --host32) boots+=("host32:$2"); shift 2 ;;
        --native32) boots+=("native32:$2"); shift 2 ;;
        --pytest) boots+=("pytest:$2"); shift 2 ;;
        --crash) boots+=("crash:$2"); shift 2 ;;
        --append) append=$2; shift 2; continue ;;
        --qemu) read -r -a extra <<< "$2"; shift 2; continue ;;
        *) echo "usage: $0 [--kernel ELF] [--iso ISO] [--host LABEL:CMD] [--host32 LABEL:CMD]" \
                "[--native32 LABEL:REASON:CMD] [--pytest LABEL:CMD] [--crash ELF] [--append ARGS]" \
                "[--qemu FLAGS] [--system QEMU]" >&2
           exit 2 ;;
    esac
    systems+=("$system")
done
[ ${#boots[@]} -gt 0 ] || { echo "$0: nothing to boot" >&2; exit 2; }
route32=""                                      # how 32-bit host programs run here
for b in "${boots[@]}"; do
    case $b in host32:*|native32:*) route32=$("$here/run32.sh" --mode) || exit 2
                                    echo "# 32-bit host programs run: $route32"; break ;; esac
done

# boot KIND WHAT: one suite run (WHAT is a path, or LABEL:COMMAND for a host suite);
# adds to passed/failed.
boot() {
    local kind=$1 what=$2 QEMU=$3 log rc start end expect=33 label="qemu $1"
    case $QEMU in *x86_64*) label="qemu x86-64 $1" ;; esac
    local -a cmd
    local -a flags=()
    if [ "$kind" = native32 ]; then             # LABEL:REASON:COMMAND
        local rest=${what#*:}
        if [ "$route32" != native ]; then
            skipped=$((skipped + 1))
            echo "# SKIP ${what%%:*}: ${rest%%:*} (this machine cannot execute 32-bit programs)"
            return
        fi
        kind=host; what="${what%%:*}:${rest#*:}"
    fi
    case $what in *@*) read -r -a flags <<< "${what#*@}"; what=${what%%@*}
                       label="$label ${flags[*]}" ;; esac
    case $kind in
        kernel) cmd=("$QEMU" "${QEMU_FLAGS[@]}" "${extra[@]}" "${flags[@]}" -kernel "$what" -append "$append")
                echo "# boot: $what with -kernel -append \"$append\" ${flags[*]}" ;;
        crash)  cmd=("$QEMU" "${QEMU_FLAGS[@]}" "${extra[@]}" -kernel "$what" -append crash)
                echo "# boot: $what with -append crash: a CPU exception must end the run" ;;
        iso)    cmd=("$QEMU" "${QEMU_FLAGS[@]}" "${extra[@]}" -cdrom "$what" -boot d)
                echo "# boot: $what from GRUB" ;;
        host|host32|pytest) label=${what%%:*}
                read -r -a cmd <<< "${what#*:}"
                expect=0
                if [ "$kind" = host32 ]; then
                    cmd=("$here/run32.sh" "${cmd[@]}"); label="$label ($route32)"; fi
                echo "# host: ${what#*:}" ;;
    esac
    log=$(mktemp)
    start=$(date +%s.%N)
    timeout --foreground "$TIMEOUT" "${cmd[@]}" < /dev/null 2>&1 | tr -d '\r' | tee "$log"
    rc=${PIPESTATUS[0]}
    end=$(date +%s.%N)

    if [ "$kind" = pytest ]; then               # its last line: "N passed, M failed ..."
        local last count p=0 f=0 k=0
        last=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$log" | tail -n 1)
        rm -f "$log"
        count() { echo "$last" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
        p=$(count passed); f=$(($(count failed) + $(count error))); k=$(count skipped)
        why=""
        if [ "$rc" -eq 124 ]; then why="hang: no exit within ${TIMEOUT}s"
        elif [ "$rc" -ne 0 ]; then why="pytest exited with $rc"
        elif [ "$p" -eq 0 ]; then why="no test ran"; fi
        if [ -n "$why" ] && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
        printf '# %s: %d passed, %d failed in %.1f s%s\n' "$label" "$p" "$f" \
            "$(awk "BEGIN { print $end - $start }")" "${why:+ - FAILED: $why}"
        return
    fi

    if [ "$kind" = crash ]; then                # one test: the dump, then exit 35
        local dump
        dump=$(grep -c '^# CPU EXCEPTION 6 (invalid opcode)' "$log")
        rm -f "$log"
        if [ "$rc" -eq 35 ] && [ "$dump" -eq 1 ]; then passed=$((passed + 1)); why=""
        else failed=$((failed + 1)); why=" - FAILED: exit $rc, exception dumps seen: $dump"; fi
        printf '# %s: exception dump and failure exit%s\n' "$label" "${why:- - ok}"
        return
    fi

    # KTAP lines, with terminal escape sequences (GRUB's) removed.
    local ktap plan ok skip notok why=""
    ktap=$(sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$log" | sed -n '/^KTAP version 1$/,$p')
    plan=$(printf '%s\n' "$ktap" | sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' | head -n 1)
    # Tests are the result lines at the top level, or, when the output has suites (KTAP
    # subtests, indented four spaces), the results inside them; a suite cut short counts its
    # missing tests, and a missing suite counts once.
    local in=""
    local -i suites_missing=0
    if printf '%s\n' "$ktap" | grep -q '^    1\.\.[0-9]'; then
        in="    "
        if [ -n "$plan" ]; then
            suites_missing=$((plan - $(printf '%s\n' "$ktap" | grep -c '^\(not \)\?ok [0-9]')))
        fi
        plan=$(printf '%s\n' "$ktap" | sed -n 's/^    1\.\.\([0-9][0-9]*\)$/\1/p' | awk '{ n += $1 } END { print n }')
    fi
    ok=$(printf '%s\n' "$ktap" | grep "^${in}ok [0-9]" | grep -vc '# SKIP')
    skip=$(printf '%s\n' "$ktap" | grep "^${in}ok [0-9]" | grep -c '# SKIP')
    notok=$(printf '%s\n' "$ktap" | grep -c "^${in}not ok [0-9]")
    rm -f "$log"

    if [ -z "$ktap" ]; then why="no KTAP output"
    elif [ -z "$plan" ]; then why="no test plan"
    fi
    if [ "$rc" -eq "$expect" ]; then :
    elif [ "$rc" -eq 124 ]; then why="hang: no exit within ${TIMEOUT}s${why:+ ($why)}"
    elif [ "$kind" != kernel ] && [ "$kind" != iso ]; then why="exited with $rc${why:+ ($why)}"
    elif [ "$rc" -eq 35 ]; then [ -n "$why" ] || [ "$notok" -gt 0 ] || why="the kernel reported failure"
    elif [ "$rc" -eq 0 ]; then why="triple fault or reset (QEMU exited 0 under -no-reboot)${why:+ ($why)}"
    else why="QEMU exited with $rc${why:+ ($why)}"
    fi
    local missing=0
    local seen=$((ok + skip + notok))
    if [ -n "$plan" ] && [ "$seen" -lt "$plan" ]; then
        missing=$((plan - seen))
        why="${why:-short plan}: $seen of $plan tests reported"
    fi
    if [ "$suites_missing" -gt 0 ]; then
        missing=$((missing + suites_missing))
        why="${why:-short plan}: $suites_missing suites missing"
    fi
    local bad=$((notok + missing))
    if [ -n "$why" ] && [ "$bad" -eq 0 ]; then bad=1; fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    skipped=$((skipped + skip))
    local skips=""
    if [ "$skip" -gt 0 ]; then skips=", $skip skipped"; fi
    printf '# %s: %d passed, %d failed%s in %.1f s%s\n' "$label" "$ok" "$bad" "$skips" \
        "$(awk "BEGIN { print $end - $start }")" "${why:+ - FAILED: $why}"
}

for i in "${!boots[@]}"; do
    b=${boots[$i]}
    boot "${b%%:*}" "${b#*:}" "${systems[$i]}"
done
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"
else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
