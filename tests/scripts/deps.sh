#!/usr/bin/env bash
# deps.sh - installs the Debian packages the build is missing, with apt-get (through sudo when
# not root), printing what it does; prints nothing when everything is there.
# Usage: tests/scripts/deps.sh CC FULL COMMAND:PACKAGE...
#   CC    the C compiler (checked for 32-bit support: gcc-multilib)
#   FULL  yes: also GRUB's i386-pc files, the 32-bit libFuzzer runtime, libc6-dbg:i386 (for
#         Valgrind on 32-bit programs), and for Python pytest, hypothesis, setuptools and
#         venv with pip; no: only the listed commands
set -u
cc=$1 full=$2
shift 2
missing=""
for d in "$@"; do command -v "${d%%:*}" > /dev/null 2>&1 || missing="$missing ${d#*:}"; done
echo 'int main(void){return 0;}' | $cc -m32 -x c - -o /dev/null > /dev/null 2>&1 ||
    missing="$missing gcc-multilib"
i386=""
if [ "$full" = yes ]; then
    [ -d /usr/lib/grub/i386-pc ] || missing="$missing grub-pc-bin"
    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' |
        clang -m32 -fsanitize=fuzzer -x c - -o /dev/null > /dev/null 2>&1 ||
        missing="$missing libclang-rt-dev g++-multilib"
    dpkg -s libc6-dbg:i386 > /dev/null 2>&1 || { i386=yes; missing="$missing libc6-dbg:i386"; }
    /usr/bin/python3 -c 'import pytest' > /dev/null 2>&1 || missing="$missing python3-pytest"
    /usr/bin/python3 -c 'import hypothesis' > /dev/null 2>&1 || missing="$missing python3-hypothesis"
    /usr/bin/python3 -c 'import setuptools' > /dev/null 2>&1 || missing="$missing python3-setuptools"
    /usr/bin/python3 -c 'import ensurepip, venv' > /dev/null 2>&1 ||
        missing="$missing python3-venv python3-pip"
fi
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
[ -n "${missing% }" ] || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "make deps: installing $missing(apt-get${sudo:+ via sudo})"
if [ -n "$i386" ]; then
    echo "make deps: dpkg --add-architecture i386 (for libc6-dbg:i386)"
    $sudo dpkg --add-architecture i386
fi
$sudo apt-get update -qq || echo "make deps: apt-get update had errors; trying the install"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
