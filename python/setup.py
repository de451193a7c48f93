"""setup.py - builds kheap/libkheap.so for the package, as `make python` does: the asm core
(nasm -f elf64) and the C layer (gcc -fPIC, freestanding) from the repository around this
folder, linked with no library at all. Metadata is in pyproject.toml."""
import os
import subprocess
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CFLAGS = ["-m64", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffreestanding",
          "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
          "-fno-tree-loop-distribute-patterns", "-fPIC", "-mno-red-zone", "-mgeneral-regs-only"]


def build_library(out):
    """libkheap.so at out, from ../asm/kheap_core.asm and ../kernel/kheap.c."""
    for path in ("asm/kheap_core.asm", "kernel/kheap.c", "include/kheap.h"):
        if not os.path.exists(os.path.join(TOP, path)):
            raise RuntimeError(f"{path} is missing: install from the kheap repository's python/")
    with tempfile.TemporaryDirectory() as tmp:
        asm_o, c_o = os.path.join(tmp, "kheap_core.o"), os.path.join(tmp, "kheap.o")
        run(["nasm", "-f", "elf64", "-I", os.path.join(TOP, "asm") + "/",
             os.path.join(TOP, "asm", "kheap_core.asm"), "-o", asm_o])
        run(["gcc", *CFLAGS, "-I", os.path.join(TOP, "include"), "-c",
             os.path.join(TOP, "kernel", "kheap.c"), "-o", c_o])
        run(["gcc", "-m64", "-shared", "-nostdlib", "-o", out, c_o, asm_o])


def run(cmd):
    print(" ".join(cmd))
    subprocess.run(cmd, check=True)


class BuildWithLibrary(build_py):
    """build_py, then the shared library into the package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "kheap")
        os.makedirs(target, exist_ok=True)
        build_library(os.path.join(target, "libkheap.so"))


setup(cmdclass={"build_py": BuildWithLibrary})
