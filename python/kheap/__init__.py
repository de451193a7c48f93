"""kheap - the kheap bitmap heap (asm/kheap_core.asm and kernel/kheap.c, x86-64) from Python, through
ctypes: Heap and MemoryAllocator own their pool memory; errors are exceptions."""
from .errors import (CorruptionError, CorruptionWarning, DoubleFreeError, InteriorPointerError,
                     InvalidPointerError, KHeapError, OutOfMemoryError)
from .heap import Heap, MemoryAllocator, Run, Stats

__all__ = ["Heap", "MemoryAllocator", "Run", "Stats", "KHeapError", "InvalidPointerError",
           "DoubleFreeError", "InteriorPointerError", "CorruptionError", "CorruptionWarning",
           "OutOfMemoryError"]
