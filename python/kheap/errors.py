"""errors.py - the exceptions of the kheap package: one per error code of include/kheap.h, and
the failed allocation."""
from __future__ import annotations


class KHeapError(Exception):
    """Base of every error the heap reports."""


class InvalidPointerError(KHeapError, ValueError):
    """KHEAP_EINVAL: not a pointer of this heap's block area, or not at a block boundary."""


class DoubleFreeError(KHeapError):
    """KHEAP_EDOUBLE: the block is already free."""


class InteriorPointerError(KHeapError):
    """KHEAP_EINTERIOR: the pointer is inside a live allocation, not at its start."""


class CorruptionError(KHeapError):
    """KHEAP_ECORRUPT: the heap's metadata or a debug guard is damaged."""


class OutOfMemoryError(KHeapError, MemoryError):
    """No run of free blocks can hold the request (the heap is unchanged)."""


class CorruptionWarning(UserWarning):
    """A call that succeeded also found damage (a debug pool's guard or poison): its result is
    returned all the same, and this warning says what was found where."""
