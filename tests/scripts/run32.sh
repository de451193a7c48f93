#!/usr/bin/env bash
# run32.sh - runs a 32-bit x86 host program: natively where this machine's kernel executes
# 32-bit programs, under qemu-i386 (Debian's qemu-user) where it cannot (no IA32 emulation).
#
# Usage: tests/scripts/run32.sh PROGRAM [ARGS...]   run it by the route below
#        tests/scripts/run32.sh --mode               print the route: "native" or "qemu-i386"
# The route: KHEAP_HOST32=native or =qemu forces one (`make test HOST32=qemu` takes the
# qemu-i386 route on a machine that could run the program natively); auto, the default,
# runs KHEAP_PROBE32 (default build/host/probe32, a 32-bit program that exits 0) and picks
# native when it runs. Under qemu-i386 LeakSanitizer is turned off (it hangs there).
set -u

mode() {
    case ${KHEAP_HOST32:-auto} in
        native) echo native ;;
        qemu) echo qemu-i386 ;;
        auto) local probe=${KHEAP_PROBE32:-build/host/probe32}
              if [ ! -x "$probe" ]; then
                  echo "run32.sh: no probe program $probe (make builds it)" >&2; exit 2
              fi
              if "$probe" 2>/dev/null; then echo native; else echo qemu-i386; fi ;;
        *) echo "run32.sh: KHEAP_HOST32 must be auto, native or qemu, not '$KHEAP_HOST32'" >&2
           exit 2 ;;
    esac
}

[ $# -gt 0 ] || { echo "usage: $0 --mode | PROGRAM [ARGS...]" >&2; exit 2; }
route=$(mode) || exit 2
if [ "$1" = --mode ]; then echo "$route"; exit 0; fi
if [ "$route" = native ]; then exec "$@"; fi
command -v qemu-i386 >/dev/null || { echo "run32.sh: qemu-i386 is missing (make deps installs qemu-user)" >&2; exit 2; }
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
exec qemu-i386 "$@"
