"""test_bad_input.py - no integer reaches C wrapped, no C result is lost to an exception, close()
is safe against calls in flight, and the C core's grow in place over a held block and double
free inside one, as seen from Python."""
import ctypes
import threading
import warnings

import pytest

from kheap import (CorruptionWarning, DoubleFreeError, Heap, InvalidPointerError, KHeapError,
                   OutOfMemoryError)

W = 8 * ctypes.sizeof(ctypes.c_void_p)
WRAP = 1 << W                               # what ctypes would silently reduce modulo


@pytest.fixture
def heap():
    with Heap(4096) as h:
        yield h


# ---- P1, P2: sizes ----

def test_realloc_to_a_wrapping_size_keeps_p_and_its_bytes(heap):
    p = heap.allocate(64)
    v = heap.view(p)
    v[0] = 0x5A
    for size in (WRAP, -WRAP, WRAP + 16, -WRAP + 32):
        with pytest.raises((OverflowError, ValueError)):
            heap.realloc(p, size)
    assert heap.usable_size(p) == 64
    assert v[0] == 0x5A
    assert heap.stats().live_allocs == 1


def test_sizes_that_would_wrap_are_refused_before_c(heap):
    before = heap.stats()
    with pytest.raises(OverflowError):
        heap.allocate(WRAP + 16)
    with pytest.raises(OverflowError):
        heap.calloc(WRAP + 1, 16)
    with pytest.raises(MemoryError):         # a product past the word: no heap holds it
        heap.calloc(WRAP // 2, 4)
    with pytest.raises(OverflowError):
        Heap(4096, WRAP + 16)
    after = heap.stats()
    assert (after.used, after.live_allocs, after.failed_allocs) == \
        (before.used, before.live_allocs, before.failed_allocs)


@pytest.mark.parametrize("align", [WRAP, 3, 0, -16])
def test_bad_alignments_are_value_errors(heap, align):
    with pytest.raises((ValueError, OverflowError)) as e:
        heap.allocate(8, align=align)
    assert not isinstance(e.value, MemoryError)


def test_negative_sizes_are_value_errors_everywhere(heap):
    p = heap.allocate(16)
    for call in (lambda: heap.allocate(-1), lambda: heap.realloc(p, -1),
                 lambda: heap.calloc(-1, 4), lambda: heap.calloc(4, -1)):
        with pytest.raises(ValueError):
            call()
    assert heap.usable_size(p) == 16


# ---- P3: pointers ----

def test_pointers_that_would_wrap_are_refused(heap):
    p = heap.allocate(32)
    for bad in (p + WRAP, p - WRAP, WRAP):
        with pytest.raises((OverflowError, ValueError)):
            heap.free(bad)
        with pytest.raises((OverflowError, ValueError)):
            heap.usable_size(bad)
        with pytest.raises((OverflowError, ValueError)):
            heap.realloc(bad, 64)
        with pytest.raises((OverflowError, ValueError)):
            heap.owns(bad)
    assert heap.usable_size(p) == 32          # p still live
    assert heap.stats().live_allocs == 1


# ---- P6: types ----

@pytest.mark.parametrize("bad", ["x", b"abc", 1.5, [1], True, False])
def test_non_integers_are_type_errors(heap, bad):
    p = heap.allocate(16)
    for call in (lambda: heap.free(bad), lambda: heap.allocate(bad),
                 lambda: heap.realloc(p, bad), lambda: heap.usable_size(bad),
                 lambda: heap.allocate(16, align=bad)):
        with pytest.raises(TypeError):
            call()
    assert heap.usable_size(p) == 16
    with pytest.raises(TypeError):
        heap.free(None)


# ---- P5: results kept when a call that succeeded found damage ----

def test_realloc_that_moved_keeps_the_new_block_and_warns():
    with Heap(8192, debug=True) as h:
        a = h.allocate(10)
        v = h.view(a)
        h.allocate(16)                          # a cannot grow in place
        ctypes.memset(a + 10, 0, 1)             # one byte past what was asked: the guard
        with pytest.warns(CorruptionWarning):
            q = h.realloc(a, 100)
        assert q != a and h.usable_size(q) == 100
        with pytest.raises(ValueError):          # a's old view is released, not stale
            v[0]
        assert h.stats().live_allocs == 2
        h.free(q)


def test_allocation_after_a_write_after_free_is_returned_and_warns():
    with Heap(8192, debug=True) as h:
        a = h.allocate(64)
        h.free(a)
        ctypes.memset(a, 0, 1)                  # a write after free, into the poison
        live = h.stats().live_allocs
        with pytest.warns(CorruptionWarning):
            b = h.allocate(64)
        assert b == a                           # a debug pool's first fit: the same block
        assert h.stats().live_allocs == live + 1
        h.free(b)
        assert h.stats().live_allocs == live


def test_a_failed_realloc_never_frees(heap):
    p = heap.allocate(64)
    heap.view(p)[0] = 1
    with pytest.raises(OutOfMemoryError):
        heap.realloc(p, 1 << 20)
    assert heap.usable_size(p) == 64 and heap.view(p)[0] == 1


# ---- P4: close() against calls in flight ----

def test_close_while_other_threads_call_does_not_crash():
    for _ in range(5):
        h = Heap(64 * 1024)
        stop = threading.Event()
        errors = []

        def work():
            while not stop.is_set():
                try:
                    p = h.allocate(48)
                    h.view(p)[0] = 7
                    h.free(p)
                except ValueError:              # closed (or a released view): the clear error
                    return
                except Exception as e:          # anything else is a failure
                    errors.append(e)
                    return

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        h.close()
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
        with pytest.raises(ValueError, match="closed"):
            h.allocate(16)


def test_a_slice_of_a_view_keeps_the_memory_mapped():
    h = Heap(4096)
    p = h.allocate(32)
    piece = h.view(p)[4:8]
    piece[0] = 9
    h.close()
    assert piece[0] == 9                        # still mapped: no crash, no stale unmap


# ---- D1, D2 from Python ----

def test_realloc_grows_in_place_over_a_held_block(heap):
    a = heap.allocate(16)
    b = heap.allocate(16)
    heap.allocate(heap.stats().largest_free)     # the rest of the pool
    heap.free(b)                                 # held in its quick cache
    assert heap.realloc(a, 32) == a              # in place, over b's block
    assert heap.stats().failed_allocs == 0


def test_a_free_inside_a_held_allocation_is_a_double_free(heap):
    p = heap.allocate(64)
    heap.allocate(16)
    heap.free(p)                                 # held
    with pytest.raises(DoubleFreeError):
        heap.free(p + 16)
    with Heap(4096, cache=False) as plain:       # as a pool without caches says
        q = plain.allocate(64)
        plain.free(q)
        with pytest.raises(DoubleFreeError):
            plain.free(q + 16)


def test_every_error_is_a_kheap_error_or_a_builtin(heap):
    with pytest.raises(KHeapError):
        heap.free(heap.allocate(16) + 8)
    with pytest.raises(InvalidPointerError):
        heap.free(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # a plain heap never warns
        heap.free(heap.allocate(100))
