#!/usr/bin/env bash
# pip-test.sh - the Python package installs as a user installs it: in a fresh virtual
# environment (with the system's site packages, for Debian's setuptools), `pip install
# --no-build-isolation ./python` builds libkheap.so and installs kheap, which then imports and
# works from any folder. Prints KTAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work" "$top/python/build" "$top"/python/*.egg-info' EXIT
failed=0
# result N NAME: ok when the last command succeeded, else not ok with the end of its log.
result() {
    if [ "$3" -eq 0 ]; then echo "ok $1 $2"
    else echo "not ok $1 $2 # $(tail -c 300 "$work/log" | tr '\n' ' ')"; failed=1; fi
}
echo "KTAP version 1"
echo "1..2"
/usr/bin/python3 -m venv --system-site-packages "$work/venv" > "$work/log" 2>&1 &&
    "$work/venv/bin/pip" install -q --no-build-isolation --no-index "$top/python" >> "$work/log" 2>&1
result 1 pip_install_builds_and_installs_the_package $?
(cd / && VENV="$work/venv" "$work/venv/bin/python3" -c '
import kheap, os
h = kheap.Heap(4096)
h.free(h.allocate(64))
assert kheap.__file__.startswith(os.environ["VENV"]), kheap.__file__') > "$work/log" 2>&1
result 2 the_installed_package_works_from_any_folder $?
[ "$failed" -eq 0 ]
