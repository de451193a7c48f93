"""allocator.py - the seed's module name: `from allocator import MemoryAllocator` (with
PYTHONPATH=python) gives kheap.MemoryAllocator."""
from kheap import MemoryAllocator

__all__ = ["MemoryAllocator"]
