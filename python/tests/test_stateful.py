"""test_stateful.py - a heap against a shadow model, driven by Hypothesis' stateful testing:
allocate, calloc, realloc and free with views written and read back, stats and check after every
step, and the bad inputs as rules that must raise and change nothing. Bounded:
KHEAP_HYPOTHESIS_EXAMPLES runs (default 100) of up to 40 steps, derandomized."""
import ctypes
import os

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kheap import DoubleFreeError, Heap, KHeapError, OutOfMemoryError

WRAP = 1 << (8 * ctypes.sizeof(ctypes.c_void_p))
sizes = st.integers(min_value=1, max_value=3000)


def pattern(tag, n):
    return bytes((tag * 31 + i) & 0xFF for i in range(n))


class HeapMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.heap = Heap(64 * 1024)
        self.live = {}                      # address -> (size asked for, tag of its bytes)
        self.freed = []                     # addresses freed and not handed out again
        self.tags = 0

    def teardown(self):
        self.heap.close()

    def _track(self, p, size, align=16):
        assert p % align == 0
        for q, (n, _) in self.live.items():
            assert p + size <= q or q + n <= p, "overlap"
        self.tags += 1
        self.heap.view(p)[:size] = pattern(self.tags, size)
        self.live[p] = (size, self.tags)
        if p in self.freed:
            self.freed.remove(p)

    def _stats_same(self, before):
        after = self.heap.stats()
        assert (after.used, after.live_allocs, after.total_allocs, after.total_frees) == \
            (before.used, before.live_allocs, before.total_allocs, before.total_frees)

    @rule(size=sizes, align=st.sampled_from([None, 16, 64, 4096]))
    def allocate(self, size, align):
        try:
            p = self.heap.allocate(size, align)
        except OutOfMemoryError:
            return
        self._track(p, size, align or 16)

    @rule(n=st.integers(1, 40), size=st.integers(1, 64))
    def calloc(self, n, size):
        try:
            p = self.heap.calloc(n, size)
        except OutOfMemoryError:
            return
        assert bytes(self.heap.view(p)[:n * size]) == bytes(n * size)
        self._track(p, n * size)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), size=sizes)
    def realloc(self, data, size):
        p = data.draw(st.sampled_from(sorted(self.live)))
        old, tag = self.live[p]
        try:
            q = self.heap.realloc(p, size)
        except OutOfMemoryError:
            assert bytes(self.heap.view(p)[:old]) == pattern(tag, old)    # p untouched
            return
        del self.live[p]
        kept = min(old, size)
        assert bytes(self.heap.view(q)[:kept]) == pattern(tag, old)[:kept]
        if q != p:
            self.freed.append(p)
        self._track(q, size)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def free(self, data):
        p = data.draw(st.sampled_from(sorted(self.live)))
        self.heap.free(p)
        del self.live[p]
        self.freed.append(p)

    # ---- bad input: an exception, and nothing changes ----

    @precondition(lambda self: self.freed)
    @rule(data=st.data())
    def double_free(self, data):
        p = data.draw(st.sampled_from(self.freed))
        if any(q <= p < q + n for q, (n, _) in self.live.items()):
            return                          # reused since (inside a live block now)
        before = self.heap.stats()
        try:
            self.heap.free(p)
            raise AssertionError("a double free was accepted")
        except DoubleFreeError:
            pass
        self._stats_same(before)

    @precondition(lambda self: any(n > 16 for n, _ in self.live.values()))
    @rule(data=st.data())
    def interior_free(self, data):
        p = data.draw(st.sampled_from(sorted(q for q, (n, _) in self.live.items() if n > 16)))
        before = self.heap.stats()
        try:
            self.heap.free(p + 16)
            raise AssertionError("an interior free was accepted")
        except KHeapError:
            pass
        self._stats_same(before)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), bad=st.sampled_from([WRAP, WRAP + 16, -WRAP, -1]))
    def wrapping_sizes_and_pointers(self, data, bad):
        p = data.draw(st.sampled_from(sorted(self.live)))
        before = self.heap.stats()
        calls = [lambda: self.heap.realloc(p, bad), lambda: self.heap.allocate(bad)]
        if abs(bad) >= WRAP:                # (p - 1 is a pointer, just not a live one)
            calls += [lambda: self.heap.free(p + bad), lambda: self.heap.usable_size(p + bad)]
        for call in calls:
            try:
                call()
                raise AssertionError("a wrapping integer reached C")
            except (OverflowError, ValueError):
                pass
        self._stats_same(before)

    @rule(bad=st.sampled_from(["x", 1.5, True, None, [1]]))
    def non_integers(self, bad):
        try:
            self.heap.allocate(bad)
            raise AssertionError("a non-integer size was taken")
        except TypeError:
            pass

    # ---- after every step ----

    @invariant()
    def the_heap_agrees_with_the_shadow(self):
        st_ = self.heap.stats()
        assert st_.live_allocs == len(self.live)
        assert st_.used >= sum(n for n, _ in self.live.values())
        for p, (n, tag) in self.live.items():
            assert self.heap.usable_size(p) >= n
            assert bytes(self.heap.view(p)[:n]) == pattern(tag, n)
        assert self.heap.check()


TestHeapAgainstShadow = HeapMachine.TestCase
TestHeapAgainstShadow.settings = settings(
    max_examples=int(os.environ.get("KHEAP_HYPOTHESIS_EXAMPLES", "100")),
    stateful_step_count=40, deadline=None, derandomize=True, database=None)
