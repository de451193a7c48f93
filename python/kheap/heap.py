"""heap.py - Heap, a kheap pool in memory it owns (an anonymous mmap), and MemoryAllocator,
the three-line interface over it. Every call goes to the asm core and C layer through ctypes."""
from __future__ import annotations

import ctypes
import mmap
import threading
import warnings
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional

from . import _native
from ._native import lib
from .errors import (CorruptionError, CorruptionWarning, DoubleFreeError, InteriorPointerError,
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


_WORD_BITS = 8 * ctypes.sizeof(ctypes.c_void_p)
_WORD_END = 1 << _WORD_BITS                 # sizes, alignments and pointers lie below it


def _int(value: object, what: str) -> int:
    """value as an int: TypeError for anything else (bool included: True is not a size)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return int(value)


def _word(value: object, what: str) -> int:
    """A size, count or pointer: an int in [0, 2**W); ValueError below, OverflowError above."""
    v = _int(value, what)
    if v < 0:
        raise ValueError(f"{what} must not be negative, got {v}")
    if v >= _WORD_END:
        raise OverflowError(f"{what} {v:#x} does not fit in a {_WORD_BITS}-bit word")
    return v


def _positive(value: object, what: str) -> int:
    v = _word(value, what)
    if v == 0:
        raise ValueError(f"{what} must be positive")
    return v


def _alignment(value: object) -> int:
    v = _positive(value, "align")
    if v & (v - 1):
        raise ValueError(f"align must be a power of two, got {v}")
    return v


def _fault_error(what: str) -> Optional[KHeapError]:
    """The exception of the fault this thread's last call reported, or None."""
    fault = _native.take_fault()
    if fault is None:
        return None
    kind, ptr = fault
    cls = _BY_FAULT.get(kind, KHeapError)
    return cls(f"{what}: {cls.__name__} at {ptr:#x}")


def _raise_fault(what: str) -> None:
    err = _fault_error(what)
    if err is not None:
        raise err


def _warn_fault(what: str) -> None:
    """A call that succeeded and also reported a fault: its result stands; the fault is a
    CorruptionWarning."""
    err = _fault_error(what)
    if err is not None:
        warnings.warn(CorruptionWarning(str(err)), stacklevel=3)


class Heap:
    """A kheap pool of `size` bytes with blocks of `block_size` bytes (a power of two, 4 to
    1 MiB); `debug=True` makes a debug pool (scrub, poison, guard bytes, caller table);
    `cache=False` turns the quick caches off (every free goes back to the free-run index).

    The pool keeps its metadata inside the memory, so the capacity is a little less than
    `size` (stats().capacity). Addresses are plain ints. Every integer is checked before it
    reaches C: a non-int (or a bool) is a TypeError, a negative one a ValueError, one of
    2**64 or more (2**32 on a 32-bit Python) an OverflowError. A failed allocation raises
    MemoryError (OutOfMemoryError), a bad pointer the KHeapError of its kind, and nothing
    changes; a call that succeeded but found damage on the way (a debug pool's poison or
    guard) returns its result and warns (CorruptionWarning). Every method is safe to call
    from several threads at once; close() waits for the calls in flight.
    """

    def __init__(self, size: int, block_size: int = _native.DEFAULT_BLOCK, *,
                 debug: bool = False, cache: bool = True) -> None:
        size = _positive(size, "size")
        block_size = _positive(block_size, "block_size")
        self._handle: Optional[int] = None
        self._lock = threading.RLock()      # close() takes it: no call runs on a gone pool
        self._views: Dict[int, List[memoryview]] = {}
        self._mem = mmap.mmap(-1, size)
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(self._mem))
        flags = (_native.F_DEBUG if debug else 0) | (0 if cache else _native.F_NOCACHE)
        handle = lib.kheap_create_flags(self._base, size, block_size, flags)
        if not handle:
            self._mem.close()
            raise ValueError(f"kheap_create refused a pool of {size} bytes with "
                             f"{block_size}-byte blocks")
        self._handle = handle
        self.size = size
        self.block_size = block_size
        self.debug = debug

    # ---- lifetime ----

    def close(self) -> None:
        """Waits for the calls in flight, forgets the pool and unmaps its memory (once no
        slice of a view holds it); every view is released, and every later call raises
        ValueError. Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            for ptr in list(self._views):
                self._release_views(ptr)
            self._handle = None
            try:
                self._mem.close()
            except BufferError:             # a slice of a view still exports the memory:
                pass                        # it stays mapped until the last one goes

    def __enter__(self) -> "Heap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _h(self) -> int:
        """The handle, for a call made with self._lock held."""
        if self._handle is None:
            raise ValueError("the heap is closed")
        _native.clear_fault()
        return self._handle

    # ---- allocation ----

    def allocate(self, size: int, align: Optional[int] = None) -> int:
        """The address of `size` bytes (a good fit), aligned to the block size, or to `align`
        (a power of two) when given. Raises ValueError for size <= 0 or a bad align, and
        MemoryError when no run of free blocks can hold it."""
        size = _positive(size, "size")
        a = None if align is None else _alignment(align)
        with self._lock:
            h = self._h()
            p = lib.kheap_alloc(h, size) if a is None else lib.kheap_alloc_aligned(h, size, a)
            return self._allocated(p, size, "allocation")

    def calloc(self, n: int, size: int) -> int:
        """allocate(n * size) with every usable byte zeroed; MemoryError when n * size
        overflows the machine word or no run can hold it."""
        n, size = _positive(n, "n"), _positive(size, "size")
        if n * size >= _WORD_END:
            raise OutOfMemoryError(f"{n} * {size} bytes overflow a {_WORD_BITS}-bit word")
        with self._lock:
            return self._allocated(lib.kheap_calloc(self._h(), n, size), n * size, "calloc")

    def _allocated(self, p: Optional[int], size: int, what: str) -> int:
        if not p:
            _raise_fault(what)
            raise OutOfMemoryError(f"no run of free blocks holds {size} bytes")
        _warn_fault(what)
        return p

    def realloc(self, ptr: int, size: int) -> int:
        """Resizes the allocation at ptr (in place when it can) and returns its address.
        realloc(0, n) is allocate(n); realloc(ptr, 0) frees ptr and returns 0. On any error
        (MemoryError included) ptr stays valid with its bytes. Views of ptr are released."""
        ptr, size = _word(ptr, "ptr"), _word(size, "size")
        if not ptr:
            return self.allocate(size)
        if size == 0:
            self.free(ptr)
            return 0
        with self._lock:
            q = lib.kheap_realloc(self._h(), ptr, size)
            if not q:
                _raise_fault("realloc")
                raise OutOfMemoryError(f"no run of free blocks holds {size} bytes")
            self._release_views(ptr)
            _warn_fault("realloc")
            return q

    def free(self, ptr: int) -> None:
        """Frees the allocation at ptr (its size comes from the heap); free(0) does nothing.
        Raises InvalidPointerError, DoubleFreeError or InteriorPointerError for a bad
        pointer, which changes nothing, and CorruptionError when a debug pool finds the
        allocation's guard overwritten (it is freed all the same); views of ptr are
        released whenever it is freed."""
        ptr = _word(ptr, "ptr")
        with self._lock:
            err = lib.kheap_free(self._h(), ptr)
            _native.take_fault()        # the return code says the same, more exactly
            if err in (0, _native.ECORRUPT):
                self._release_views(ptr)
            if err:
                raise _BY_CODE.get(err, KHeapError)(f"free of {ptr:#x}")

    # ---- questions ----

    def usable_size(self, ptr: int) -> int:
        """Bytes usable at ptr (the size asked for, in a debug pool); 0 when ptr is not the
        start of a live allocation."""
        ptr = _word(ptr, "ptr")
        with self._lock:
            return lib.kheap_usable_size(self._h(), ptr)

    def owns(self, ptr: int) -> bool:
        """True when ptr lies in the block area (live or not)."""
        ptr = _word(ptr, "ptr")
        with self._lock:
            return bool(lib.kheap_owns(self._h(), ptr))

    def view(self, ptr: int) -> memoryview:
        """A writable memoryview of the allocation at ptr, usable_size(ptr) bytes long. It is
        released when ptr is freed or moved, or the heap is closed: then it raises
        ValueError instead of reading memory that is no longer the allocation's. (A slice of
        a view is the caller's to drop; it keeps the pool's memory mapped.)"""
        ptr = _word(ptr, "ptr")
        with self._lock:
            n = lib.kheap_usable_size(self._h(), ptr)
            if n == 0:
                raise InvalidPointerError(f"{ptr:#x} is not a live allocation of this heap")
            offset = ptr - self._base
            mv = memoryview(self._mem)[offset:offset + n]
            self._views.setdefault(ptr, []).append(mv)
            return mv

    def _release_views(self, ptr: int) -> None:
        for mv in self._views.pop(ptr, []):
            mv.release()

    def stats(self) -> Stats:
        """The counters of kheap_get_stats."""
        st = _native.Stats()
        with self._lock:
            lib.kheap_get_stats(self._h(), ctypes.byref(st))
        return Stats(**{name: getattr(st, name) for name, _ in _native.Stats._fields_})

    def check(self) -> bool:
        """Verifies every invariant of the pool (kheap_check): True, or CorruptionError
        naming the damaged address."""
        with self._lock:
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
        with self._lock:
            err = lib.kheap_walk(self._h(), _native.WALK_FN(visit), None)
            _raise_fault("walk")
        if err:
            raise _BY_CODE.get(err, KHeapError)("walk")
        return runs

    def dump(self) -> str:
        """kheap_dump's text: stats, a map of the pool ('#' used, '+' partly, '.' free), and
        in a debug pool the live allocations with their sizes and callers."""
        lines: List[str] = []
        with self._lock:
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
