"""heap.py - Heap, a kheap pool in memory it owns (an anonymous mmap), and MemoryAllocator,
the three-line interface over it. Every call goes to the asm core and C layer through ctypes."""
from __future__ import annotations

import ctypes
import mmap
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional

from . import _native
from ._native import lib
from .errors import (CorruptionError, DoubleFreeError, InteriorPointerError,
                     InvalidPointerError, KHeapError, OutOfMemoryError)

_BY_CODE = {_native.EINVAL: InvalidPointerError, _native.EDOUBLE: DoubleFreeError,
            _native.EINTERIOR: InteriorPointerError, _native.ECORRUPT: CorruptionError}
_BY_FAULT = {_native.FAULT_INVALID: InvalidPointerError,
             _native.FAULT_DOUBLE_FREE: DoubleFreeError,
             _native.FAULT_INTERIOR: InteriorPointerError,
             _native.FAULT_CORRUPT: CorruptionError}


@dataclass(frozen=True)
class Stats:
    """kheap_get_stats: sizes in bytes, whole blocks."""

    block_size: int
    capacity: int          #: bytes in the block area
    used: int              #: bytes in live allocations
    peak_used: int         #: highest `used` since creation
    largest_free: int      #: bytes in the largest run of free blocks
    live_allocs: int
    total_allocs: int
    total_frees: int
    failed_allocs: int     #: failed allocations of a non-zero size
    faults: int            #: bad frees and detected corruption
    regions: int           #: pools counted: 1 for a Heap


class Run(NamedTuple):
    """One entry of Heap.walk(): a live allocation, or a maximal run of free blocks."""

    address: int
    size: int
    used: bool


def _raise_fault(what: str) -> None:
    """Raises the exception of the fault this thread's last call reported, if any."""
    fault = _native.take_fault()
    if fault is not None:
        kind, ptr = fault
        raise _BY_FAULT.get(kind, KHeapError)(f"{what}: {_BY_FAULT.get(kind, KHeapError).__name__} "
                                              f"at {ptr:#x}")


class Heap:
    """A kheap pool of `size` bytes with blocks of `block_size` bytes (a power of two, 4 to
    1 MiB); `debug=True` makes a debug pool (scrub, poison, guard bytes, caller table);
    `cache=False` turns the quick caches off (placement is then first fit by address alone).

    The pool keeps its metadata inside the memory, so the capacity is a little less than
    `size` (stats().capacity). Addresses are plain ints. Errors are exceptions: a failed
    allocation raises MemoryError (OutOfMemoryError), a bad pointer the KHeapError of its
    kind. Every method is safe to call from several threads at once (one process-wide lock).
    """

    def __init__(self, size: int, block_size: int = _native.DEFAULT_BLOCK, *,
                 debug: bool = False, cache: bool = True) -> None:
        if size <= 0:
            raise ValueError("size must be positive")
        self._handle: Optional[int] = None
        self._views: Dict[int, List[memoryview]] = {}
        self._mem = mmap.mmap(-1, size)
        self._buf = (ctypes.c_char * size).from_buffer(self._mem)
        flags = (_native.F_DEBUG if debug else 0) | (0 if cache else _native.F_NOCACHE)
        handle = lib.kheap_create_flags(ctypes.addressof(self._buf), size, block_size, flags)
        if not handle:
            self._release_memory()
            raise ValueError(f"kheap_create refused a pool of {size} bytes with "
                             f"{block_size}-byte blocks")
        self._handle = handle
        self.size = size
        self.block_size = block_size
        self.debug = debug

    # ---- lifetime ----

    def close(self) -> None:
        """Forgets the pool and unmaps its memory; every view is released. Idempotent."""
        if self._handle is None:
            return
        for ptr in list(self._views):
            self._release_views(ptr)
        self._handle = None
        self._release_memory()

    def _release_memory(self) -> None:
        del self._buf
        self._mem.close()

    def __enter__(self) -> "Heap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _h(self) -> int:
        if self._handle is None:
            raise ValueError("the heap is closed")
        _native.clear_fault()
        return self._handle

    # ---- allocation ----

    def allocate(self, size: int, align: Optional[int] = None) -> int:
        """The address of `size` bytes (first fit), aligned to the block size, or to `align`
        (a power of two) when given. Raises ValueError for size <= 0 or a bad align, and
        MemoryError when no run of free blocks can hold it."""
        h = self._h()
        if size <= 0:
            raise ValueError("size must be positive")
        if align is None:
            p = lib.kheap_alloc(h, size)
        else:
            if align <= 0 or align & (align - 1):
                raise ValueError("align must be a power of two")
            p = lib.kheap_alloc_aligned(h, size, align)
        return self._allocated(p, size)

    def calloc(self, n: int, size: int) -> int:
        """allocate(n * size) with every usable byte zeroed; MemoryError when n * size
        overflows the machine word or no run can hold it."""
        h = self._h()
        if n <= 0 or size <= 0:
            raise ValueError("n and size must be positive")
        return self._allocated(lib.kheap_calloc(h, n, size), n * size)

    def _allocated(self, p: Optional[int], size: int) -> int:
        _raise_fault("allocation")
        if not p:
            raise OutOfMemoryError(f"no run of free blocks holds {size} bytes")
        return p

    def realloc(self, ptr: int, size: int) -> int:
        """Resizes the allocation at ptr (in place when it can) and returns its address.
        realloc(0, n) is allocate(n); realloc(ptr, 0) frees ptr and returns 0. On MemoryError
        ptr stays valid with its bytes. Views of ptr are released."""
        if not ptr:
            return self.allocate(size)
        if size == 0:
            self.free(ptr)
            return 0
        h = self._h()
        q = lib.kheap_realloc(h, ptr, size)
        _raise_fault("realloc")
        if not q:
            raise OutOfMemoryError(f"no run of free blocks holds {size} bytes")
        self._release_views(ptr)
        return q

    def free(self, ptr: int) -> None:
        """Frees the allocation at ptr (its size comes from the heap). Raises
        InvalidPointerError, DoubleFreeError, InteriorPointerError or CorruptionError for a
        bad pointer, which changes nothing; views of ptr are released on success."""
        h = self._h()
        err = lib.kheap_free(h, ptr)
        _native.take_fault()            # the return code says the same, more exactly
        if err:
            if err == _native.ECORRUPT:     # a debug guard: freed all the same
                self._release_views(ptr)
            raise _BY_CODE.get(err, KHeapError)(f"free of {ptr:#x}")
        self._release_views(ptr)

    # ---- questions ----

    def usable_size(self, ptr: int) -> int:
        """Bytes usable at ptr (the size asked for, in a debug pool); 0 when ptr is not the
        start of a live allocation."""
        return lib.kheap_usable_size(self._h(), ptr)

    def owns(self, ptr: int) -> bool:
        """True when ptr lies in the block area (live or not)."""
        return bool(lib.kheap_owns(self._h(), ptr))

    def view(self, ptr: int) -> memoryview:
        """A writable memoryview of the allocation at ptr, usable_size(ptr) bytes long. It is
        released when ptr is freed or moved, or the heap is closed: then it raises
        ValueError instead of reading memory that is no longer the allocation's. (Slices of
        a view are the caller's to drop.)"""
        n = self.usable_size(ptr)
        if n == 0:
            raise InvalidPointerError(f"{ptr:#x} is not a live allocation of this heap")
        mv = memoryview((ctypes.c_char * n).from_address(ptr)).cast("B")
        self._views.setdefault(ptr, []).append(mv)
        return mv

    def _release_views(self, ptr: int) -> None:
        for mv in self._views.pop(ptr, []):
            mv.release()

    def stats(self) -> Stats:
        """The counters of kheap_get_stats."""
        st = _native.Stats()
        lib.kheap_get_stats(self._h(), ctypes.byref(st))
        return Stats(**{name: getattr(st, name) for name, _ in _native.Stats._fields_})

    def check(self) -> bool:
        """Verifies every invariant of the pool (kheap_check): True, or CorruptionError
        naming the damaged address."""
        err = lib.kheap_check(self._h())
        _raise_fault("check")
        if err:
            raise CorruptionError("kheap_check failed")
        return True

    def walk(self) -> List[Run]:
        """Every live allocation and every maximal free run, in address order."""
        runs: List[Run] = []

        def visit(ctx: object, p: int, size: int, used: bool) -> int:
            runs.append(Run(p or 0, size, bool(used)))
            return 0
        err = lib.kheap_walk(self._h(), _native.WALK_FN(visit), None)
        _raise_fault("walk")
        if err:
            raise _BY_CODE.get(err, KHeapError)("walk")
        return runs

    def dump(self) -> str:
        """kheap_dump's text: stats, a map of the pool ('#' used, '+' partly, '.' free), and
        in a debug pool the live allocations with their sizes and callers."""
        lines: List[str] = []
        err = lib.kheap_dump(self._h(), _native.EMIT_FN(lambda line: lines.append(line.decode())))
        _raise_fault("dump")
        if err:
            raise _BY_CODE.get(err, KHeapError)("dump")
        return "".join(lines)

    def __repr__(self) -> str:
        if self.closed:
            return "<kheap.Heap closed>"
        st = self.stats()
        return (f"<kheap.Heap {st.used} of {st.capacity} bytes used, {st.live_allocs} live, "
                f"{st.block_size}-byte blocks{', debug' if self.debug else ''}>")


class MemoryAllocator(Heap):
    """The three-line interface: MemoryAllocator(pool_size=1024); p = a.allocate(128); a.free(p)."""

    def __init__(self, pool_size: int, block_size: int = _native.DEFAULT_BLOCK, *,
                 debug: bool = False, cache: bool = True) -> None:
        super().__init__(pool_size, block_size, debug=debug, cache=cache)
