"""test_kheap.py - the Python interface: every method and error of kheap.Heap, views, the debug
pool, a seeded random comparison with a model of the placement, and 8 threads on one heap."""
import ctypes
import random
import threading

import pytest

import kheap
from allocator import MemoryAllocator
from kheap import (CorruptionError, DoubleFreeError, Heap, InteriorPointerError,
                   InvalidPointerError, KHeapError, OutOfMemoryError)

BLOCK = 16


@pytest.fixture
def heap():
    with Heap(64 * 1024) as h:
        yield h


def fill(h, p, n, tag):
    h.view(p)[:n] = bytes((tag + i * 7) & 0xFF for i in range(n))


def intact(h, p, n, tag):
    return bytes(h.view(p)[:n]) == bytes((tag + i * 7) & 0xFF for i in range(n))


# ---- MemoryAllocator, the three-line interface ----

def test_memory_allocator_example_allocates_and_frees():
    a = MemoryAllocator(pool_size=1024)
    p = a.allocate(128)
    assert a.owns(p) and a.usable_size(p) == 128
    a.free(p)
    assert a.usable_size(p) == 0
    assert a.stats().live_allocs == 0
    a.close()


def test_memory_allocator_is_a_heap():
    with MemoryAllocator(4096, block_size=32) as a:
        assert isinstance(a, Heap)
        assert a.stats().block_size == 32


# ---- creation and closing ----

@pytest.mark.parametrize("size, block", [(0, 16), (100, 16), (4096, 24), (4096, 2)])
def test_bad_pools_are_refused(size, block):
    with pytest.raises(ValueError):
        Heap(size, block)


def test_close_is_final_and_idempotent():
    h = Heap(4096)
    p = h.allocate(10)
    v = h.view(p)
    h.close()
    h.close()
    assert h.closed
    with pytest.raises(ValueError):
        h.allocate(10)
    with pytest.raises(ValueError):
        v[0]                                # released with the heap
    assert "closed" in repr(h)


def test_context_manager_closes():
    with Heap(4096) as h:
        h.allocate(8)
    assert h.closed


# ---- allocate, calloc ----

def test_allocate_is_aligned_inside_and_first_fit(heap):
    a, b, c = heap.allocate(40), heap.allocate(16), heap.allocate(100)
    for p in (a, b, c):
        assert p % BLOCK == 0 and heap.owns(p)
    assert b == a + 48 and c == b + 16
    heap.free(b)
    assert heap.allocate(10) == b          # the lowest hole that fits


@pytest.mark.parametrize("align", [16, 64, 256, 4096])
def test_allocate_aligned(heap, align):
    heap.allocate(8)
    p = heap.allocate(24, align=align)
    assert p % align == 0


@pytest.mark.parametrize("size, align", [(0, None), (-1, None), (8, 24), (8, 0), (8, -16)])
def test_allocate_rejects_bad_arguments(heap, size, align):
    with pytest.raises(ValueError):
        heap.allocate(size, align)


def test_allocate_too_large_raises_memory_error_and_counts(heap):
    before = heap.stats()
    with pytest.raises(MemoryError) as info:
        heap.allocate(before.capacity + 1)
    assert isinstance(info.value, OutOfMemoryError) and isinstance(info.value, KHeapError)
    after = heap.stats()
    assert after.failed_allocs == before.failed_allocs + 1
    assert after.used == before.used and heap.check()


def test_whole_capacity_after_everything_is_freed(heap):
    ps = [heap.allocate(100) for _ in range(50)]
    for p in ps:
        heap.free(p)
    assert heap.allocate(heap.stats().capacity)


def test_calloc_zeroes_reused_memory(heap):
    p = heap.allocate(400)
    heap.view(p)[:] = b"\xff" * 400
    heap.free(p)
    z = heap.calloc(100, 4)
    assert z == p and bytes(heap.view(z)) == bytes(heap.usable_size(z))


def test_calloc_overflow_is_memory_error(heap):
    with pytest.raises(MemoryError):
        heap.calloc(2 ** 32, 2 ** 32)
    with pytest.raises(ValueError):
        heap.calloc(0, 8)


# ---- realloc ----

def test_realloc_shrinks_and_grows_in_place(heap):
    p = heap.allocate(100)
    fill(heap, p, 100, 1)
    assert heap.realloc(p, 40) == p and heap.usable_size(p) == 48
    assert heap.realloc(p, 300) == p and intact(heap, p, 40, 1)


def test_realloc_moves_and_keeps_contents(heap):
    p = heap.allocate(64)
    wall = heap.allocate(16)
    fill(heap, p, 64, 2)
    v = heap.view(p)
    q = heap.realloc(p, 200)
    assert q != p and q > wall and intact(heap, q, 64, 2)
    assert heap.usable_size(p) == 0
    with pytest.raises(ValueError):
        v[0]                                # the view of the old place was released


def test_realloc_failure_keeps_the_block(heap):
    p = heap.allocate(64)
    fill(heap, p, 64, 3)
    with pytest.raises(MemoryError):
        heap.realloc(p, heap.stats().capacity + 1)
    assert heap.usable_size(p) == 64 and intact(heap, p, 64, 3)


def test_realloc_of_zero_and_to_zero(heap):
    p = heap.realloc(0, 32)
    assert heap.usable_size(p) == 32
    assert heap.realloc(p, 0) == 0 and heap.usable_size(p) == 0


def test_realloc_of_a_bad_pointer_raises_its_kind(heap):
    p = heap.allocate(64)
    with pytest.raises(InteriorPointerError):
        heap.realloc(p + 16, 100)
    with pytest.raises(InvalidPointerError):
        heap.realloc(p + 3, 100)
    assert heap.usable_size(p) == 64


# ---- free and its errors ----

def bad_frees(h):
    a, b = h.allocate(64), h.allocate(32)
    h.free(b)
    outside = ctypes.create_string_buffer(64)
    return a, [(ctypes.addressof(outside), InvalidPointerError), (a + 5, InvalidPointerError),
               (a + 16, InteriorPointerError), (b, DoubleFreeError), (b + 4096, DoubleFreeError)]


def test_every_bad_free_raises_and_changes_nothing(heap):
    a, cases = bad_frees(heap)
    fill(heap, a, 64, 4)
    for ptr, error in cases:
        before = heap.stats()
        with pytest.raises(error):
            heap.free(ptr)
        after = heap.stats()
        assert after.faults == before.faults + 1
        assert (after.used, after.live_allocs, after.largest_free) == \
            (before.used, before.live_allocs, before.largest_free)
        assert heap.check() and intact(heap, a, 64, 4)


def test_invalid_pointer_is_a_value_error(heap):
    with pytest.raises(ValueError):
        heap.free(12345 * BLOCK)


# ---- questions: usable_size, owns, stats, check, walk, dump ----

def test_usable_size_and_owns(heap):
    p = heap.allocate(20)
    assert heap.usable_size(p) == 32
    assert heap.usable_size(p + 16) == 0 and heap.usable_size(0) == 0
    base = heap.walk()[0].address
    assert heap.owns(base) and heap.owns(base + heap.stats().capacity - 1)
    assert not heap.owns(base - 1) and not heap.owns(base + heap.stats().capacity)


def test_stats_follow_the_calls(heap):
    st = heap.stats()
    assert isinstance(st, kheap.Stats) and st.block_size == BLOCK and st.used == 0
    p = heap.allocate(100)
    st = heap.stats()
    assert (st.used, st.live_allocs, st.total_allocs, st.peak_used) == (112, 1, 1, 112)
    heap.free(p)
    st = heap.stats()
    assert (st.used, st.live_allocs, st.total_frees, st.largest_free) == (0, 0, 1, st.capacity)


def test_walk_tiles_the_pool(heap):
    ps = [heap.allocate(n) for n in (10, 100, 30)]
    heap.free(ps[1])
    runs = heap.walk()
    assert [r.used for r in runs] == [True, False, True, False]
    assert runs[0].address == ps[0] and runs[1].size == 112
    assert sum(r.size for r in runs) == heap.stats().capacity
    for x, y in zip(runs, runs[1:]):
        assert x.address + x.size == y.address


def test_dump_has_the_map(heap):
    heap.allocate(5000)
    text = heap.dump()
    assert text.startswith("kheap 0x") and "map, one character per" in text and "#" in text


def test_damaged_control_block_raises_corruption_error(heap):
    p = heap.allocate(32)
    word = ctypes.sizeof(ctypes.c_size_t)               # white box: the control block's magic,
    magic = ctypes.c_size_t.from_address(heap._handle + 8 * word)   # after its 8 counters
    saved = magic.value
    magic.value ^= 0x40
    with pytest.raises(CorruptionError):
        heap.check()
    with pytest.raises(CorruptionError):
        heap.allocate(8)
    with pytest.raises(CorruptionError):
        heap.free(p)
    magic.value = saved
    assert heap.check()
    heap.free(p)


# ---- views ----

def test_view_is_the_allocation(heap):
    p = heap.allocate(20)
    v = heap.view(p)
    assert len(v) == 32 and not v.readonly
    v[0:4] = b"abcd"
    assert ctypes.string_at(p, 4) == b"abcd"
    with pytest.raises(InvalidPointerError):
        heap.view(p + 16)


def test_views_are_released_on_free(heap):
    p = heap.allocate(20)
    v1, v2 = heap.view(p), heap.view(p)
    heap.free(p)
    heap.allocate(20)                       # the same place, someone else's now
    for v in (v1, v2):
        with pytest.raises(ValueError):
            bytes(v)


# ---- debug pools ----

def test_debug_pool_catches_an_overflow():
    with Heap(16 * 1024, debug=True) as h:
        p = h.allocate(20)
        assert h.usable_size(p) == 20
        assert bytes(h.view(p)) == bytes([0xA5]) * 20      # scrubbed
        ctypes.memset(p + 20, 0x77, 1)                      # one byte past the size asked
        with pytest.raises(CorruptionError):
            h.check()
        with pytest.raises(CorruptionError):
            h.free(p)                                       # freed all the same
        assert h.usable_size(p) == 0 and h.check()
        assert "bytes from 0x" in h.dump() or h.stats().live_allocs == 0


def test_debug_dump_lists_callers():
    with Heap(16 * 1024, debug=True) as h:
        h.allocate(1000)
        assert " 1000 bytes from 0x" in h.dump()


# ---- the quick caches ----

def test_quick_cache_gives_the_newest_free_of_a_size_and_catches_its_double_free(heap):
    a, b, c = heap.allocate(48), heap.allocate(48), heap.allocate(48)
    heap.free(a)
    heap.free(c)
    assert heap.allocate(40) == c                   # newest first, same length (3 blocks)
    with pytest.raises(DoubleFreeError):
        heap.free(a)                                # held in the cache: freed already
    assert heap.allocate(33) == a
    assert heap.check()


def test_without_the_cache_a_free_goes_back_to_first_fit():
    with Heap(64 * 1024, cache=False) as h:
        a = h.allocate(48)
        h.allocate(48)
        h.free(a)
        assert h.allocate(16) == a                  # the lowest free block


# ---- a seeded random run against a model of the placement (caches off: placement alone) ----

def run_class(n):
    """The free-run index's class of a run of n blocks: TLSF's two-level mapping."""
    if n < 16:
        return n
    b = n.bit_length() - 1
    return (b - 4) * 16 + (n >> (b - 4))


def fit_class(n):
    """The lowest class whose every run holds n blocks."""
    return n if n < 16 else run_class(n + (1 << (n.bit_length() - 5)) - 1)


class SegregatedFit:
    """Blocks free (0), starting an allocation (1), or continuing one (2), and when each free
    run was put in its class (its list is newest first); the contract of include/kheap.h
    written plainly, for 16-byte blocks (every free run is indexed)."""

    def __init__(self, base, nblocks):
        self.base, self.state, self.stamp, self.clock = base, [0] * nblocks, {}, 0
        self._put(0, nblocks)

    def _blocks(self, size):
        return -(-size // BLOCK)

    def _put(self, first, n):
        if n > 0:
            self.clock += 1
            self.stamp[first] = self.clock

    def _end(self, i):
        while i < len(self.state) and self.state[i] == 0:
            i += 1
        return i

    def _begin(self, i):
        while i > 0 and self.state[i - 1] == 0:
            i -= 1
        return i

    def _runs(self):
        """Every free run as (first, end), with its stamp."""
        i, runs = 0, []
        while i < len(self.state):
            if self.state[i]:
                i += 1
                continue
            e = self._end(i)
            runs.append((i, e))
            i = e
        return runs

    def _class_list(self, c):
        """Class c's runs, newest first; the top run (it ends the pool) is in none."""
        return sorted((r for r in self._runs()
                       if run_class(r[1] - r[0]) == c and r[1] < len(self.state)),
                      key=lambda r: -self.stamp[r[0]])

    def _up(self, i, align):
        return (-(-(self.base + i * BLOCK) // align) * align - self.base) // BLOCK

    def _place(self, n, align):
        """As kh_take: for an alignment above a block, the head of each class from
        fit_class(n) below fit_class(n + a - 1) that holds an aligned fit; then the head of
        the first non-empty class at or above fit_class(n + a - 1) at its first aligned
        block; then the top run at its first aligned block, when the fit lies in it; else
        the runs of each class from run_class(n) up, in list order, the first holding an
        aligned fit."""
        classes = (run_class(len(self.state)) // 16 + 1) * 16
        limit = fit_class(n + align // BLOCK - 1)
        for c in range(fit_class(n), limit if align > BLOCK else 0):
            runs = self._class_list(c)
            if runs and self._up(runs[0][0], align) + n <= runs[0][1]:
                return self._up(runs[0][0], align)
        for c in range(limit, classes):
            runs = self._class_list(c)
            if runs:
                return self._up(runs[0][0], align)
        q = self._up(self._begin(len(self.state)), align)
        if q + n <= len(self.state):
            return q
        for c in range(run_class(n), classes):
            for first, end in self._class_list(c):
                q = self._up(first, align)
                if q + n <= end:
                    return q
        return None

    def _take(self, i, n):
        s, e = self._begin(i), self._end(i)
        self._put(s, i - s)
        self._put(i + n, e - i - n)

    def _give(self, i, n):
        s, e = self._begin(i), self._end(i + n)
        self._put(s, e - s)

    def alloc(self, size, align=BLOCK):
        n = self._blocks(size)
        i = self._place(n, max(align, BLOCK))
        if i is None:
            return None
        self._take(i, n)
        self.state[i:i + n] = [1] + [2] * (n - 1)
        return self.base + i * BLOCK

    def _length(self, i):
        n = 1
        while i + n < len(self.state) and self.state[i + n] == 2:
            n += 1
        return n

    def free(self, p):
        i = (p - self.base) // BLOCK
        n = self._length(i)
        self.state[i:i + n] = [0] * n
        self._give(i, n)

    def realloc(self, p, size):
        i, n = (p - self.base) // BLOCK, self._blocks(size)
        old = self._length(i)
        if n <= old:
            if n < old:
                self.state[i + n:i + old] = [0] * (old - n)
                self._give(i + n, old - n)
            return p
        if i + n <= len(self.state) and not any(self.state[i + old:i + n]):
            self._take(i + old, n - old)
            self.state[i + old:i + n] = [2] * (n - old)
            return p
        q = self.alloc(size)
        if q is not None:
            self.free(p)
        return q


@pytest.mark.parametrize("seed", range(6))
def test_random_calls_match_the_placement_model(seed):
    rng = random.Random(seed)
    with Heap(rng.choice([4096, 16 * 1024, 40 * 1024]), cache=False) as h:
        model = SegregatedFit(h.walk()[0].address, h.stats().capacity // BLOCK)
        live = {}
        for step in range(600):
            op = rng.random()
            if op < 0.5 or not live:
                size = rng.choice([1, 16, 17, 100, 500, 3000])
                align = rng.choice([None, None, None, 64, 1024])
                want = model.alloc(size, align or BLOCK)
                if want is None:
                    with pytest.raises(MemoryError):
                        h.allocate(size, align)
                    continue
                p = h.allocate(size, align)
                assert p == want, f"seed {seed} step {step}: allocate({size}, {align})"
                live[p] = (size, rng.randrange(256))
                fill(h, p, size, live[p][1])
            elif op < 0.8:
                p = rng.choice(sorted(live))
                assert intact(h, p, *live.pop(p))
                h.free(p)
                model.free(p)
            else:
                p = rng.choice(sorted(live))
                size, tag = live.pop(p)
                new = rng.choice([8, 40, 300, 2000])
                want = model.realloc(p, new)
                if want is None:
                    with pytest.raises(MemoryError):
                        h.realloc(p, new)
                    live[p] = (size, tag)
                    continue
                q = h.realloc(p, new)
                assert q == want, f"seed {seed} step {step}: realloc to {new}"
                assert intact(h, q, min(size, new), tag)
                live[q] = (new, tag)
                fill(h, q, new, tag)
            assert h.stats().live_allocs == len(live)
        assert h.check()


# ---- threads ----

def test_eight_threads_hammer_one_heap():
    with Heap(1024 * 1024) as h:
        errors = []

        def worker(n):
            rng = random.Random(n)
            mine = []
            try:
                for _ in range(1500):
                    if rng.random() < 0.55 or not mine:
                        size = rng.randrange(1, 600)
                        try:
                            p = h.allocate(size)
                        except MemoryError:
                            continue
                        ctypes.memset(p, n, size)
                        mine.append((p, size))
                    else:
                        p, size = mine.pop(rng.randrange(len(mine)))
                        if ctypes.string_at(p, size) != bytes([n]) * size:
                            errors.append(f"thread {n}: bytes at {p:#x} changed")
                        h.free(p)
                for p, _ in mine:
                    h.free(p)
            except Exception as err:            # any error fails the test below
                errors.append(f"thread {n}: {err!r}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        st = h.stats()
        assert st.live_allocs == 0 and st.used == 0 and st.faults == 0 and h.check()


def test_faults_reach_the_thread_that_made_them(heap):
    p = heap.allocate(32)
    heap.free(p)
    caught = []

    def double_free():
        try:
            heap.free(p)
        except DoubleFreeError:
            caught.append(threading.get_ident())
    t = threading.Thread(target=double_free)
    t.start()
    t.join()
    assert caught == [t.ident]
    q = heap.allocate(32)                   # this thread saw no fault: no exception here
    assert q == p
