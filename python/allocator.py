"""allocator.py - kheap.MemoryAllocator under the module name `from allocator import
MemoryAllocator` reads (with PYTHONPATH=python)."""
from kheap import MemoryAllocator

__all__ = ["MemoryAllocator"]
