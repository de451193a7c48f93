"""_native.py - loads libkheap.so (built by `make python` from asm/kheap_core.asm and kernel/kheap.c)
and declares the C functions of include/kheap.h for ctypes. Nothing here is public."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Optional

LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libkheap.so")

# include/kheap.h
EINVAL, EDOUBLE, EINTERIOR, ECORRUPT = -1, -2, -3, -4
FAULT_INVALID, FAULT_DOUBLE_FREE, FAULT_INTERIOR, FAULT_CORRUPT = 1, 2, 3, 4
F_DEBUG = 0x1
F_NOCACHE = 0x2
DEFAULT_BLOCK = 16
GUARD_MIN = 4


class Stats(ctypes.Structure):
    """struct kheap_stats."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "block_size", "capacity", "used", "peak_used", "largest_free", "live_allocs",
        "total_allocs", "total_frees", "failed_allocs", "faults", "regions")]


class Fault(ctypes.Structure):
    """struct kheap_fault."""

    _fields_ = [("kind", ctypes.c_int), ("heap", ctypes.c_void_p),
                ("ptr", ctypes.c_void_p), ("caller", ctypes.c_void_p)]


WALK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_bool)
EMIT_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
FAULT_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(Fault))
LOCK_FN = ctypes.CFUNCTYPE(ctypes.c_size_t)
UNLOCK_FN = ctypes.CFUNCTYPE(None, ctypes.c_size_t)


def _load() -> ctypes.CDLL:
    if not os.path.exists(LIBRARY):
        raise ImportError(f"{LIBRARY} is missing: run `make python` in the kheap repository")
    lib = ctypes.CDLL(LIBRARY)
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    signatures = {
        "kheap_create_flags": (vp, [vp, sz, sz, ctypes.c_uint]),
        "kheap_alloc": (vp, [vp, sz]),
        "kheap_alloc_aligned": (vp, [vp, sz, sz]),
        "kheap_calloc": (vp, [vp, sz, sz]),
        "kheap_realloc": (vp, [vp, vp, sz]),
        "kheap_free": (ctypes.c_int, [vp, vp]),
        "kheap_usable_size": (sz, [vp, vp]),
        "kheap_owns": (ctypes.c_bool, [vp, vp]),
        "kheap_check": (ctypes.c_int, [vp]),
        "kheap_get_stats": (None, [vp, ctypes.POINTER(Stats)]),
        "kheap_walk": (ctypes.c_int, [vp, WALK_FN, vp]),
        "kheap_dump": (ctypes.c_int, [vp, EMIT_FN]),
        "kheap_set_fault_handler": (None, [FAULT_FN]),
        "kheap_set_lock": (None, [LOCK_FN, UNLOCK_FN]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


lib = _load()

# ---- the process-wide hooks: one lock for every heap, faults to the calling thread ----

_lock = threading.Lock()
_faults = threading.local()


def _on_lock() -> int:
    _lock.acquire()
    return 0


def _on_unlock(state: int) -> None:
    _lock.release()


def _on_fault(fault: "ctypes._Pointer[Fault]") -> None:
    # Runs in the thread whose call found the fault, after the module released its lock.
    f = fault.contents
    if getattr(_faults, "fault", None) is None:
        _faults.fault = (f.kind, f.ptr or 0)


_hooks = (LOCK_FN(_on_lock), UNLOCK_FN(_on_unlock), FAULT_FN(_on_fault))  # kept alive
lib.kheap_set_lock(_hooks[0], _hooks[1])
lib.kheap_set_fault_handler(_hooks[2])


def clear_fault() -> None:
    """Forgets this thread's last fault: call before each module call."""
    _faults.fault = None


def take_fault() -> Optional[tuple]:
    """(kind, pointer) of the first fault this thread's last call reported, or None."""
    fault = getattr(_faults, "fault", None)
    _faults.fault = None
    return fault
