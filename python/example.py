"""example.py - the kheap heap from Python: MemoryAllocator in three lines, then a view, stats,
a caught double free and the pool's map. Run: make python && PYTHONPATH=python python3 python/example.py"""
from allocator import MemoryAllocator
from kheap import DoubleFreeError, Heap

# A pool of 1 KiB, 128 bytes from it, given back. No size on free.
a = MemoryAllocator(pool_size=1024)
ptr = a.allocate(128)
a.free(ptr)

with Heap(64 * 1024) as heap:
    name = heap.allocate(24)
    view = heap.view(name)                  # the allocation's bytes, in place
    view[:16] = b"kheap says hello"
    print(f"allocate(24) = {name:#x}, usable {heap.usable_size(name)} bytes: "
          f"{bytes(view[:16]).decode()!r}")

    table = heap.calloc(64, 4)
    big = heap.allocate(10000, align=4096)
    print(f"calloc(64, 4) = {table:#x}, allocate(10000, align=4096) = {big:#x}")

    heap.free(table)
    try:
        heap.free(table)
    except DoubleFreeError as err:
        print(f"caught: {type(err).__name__}: {err}")

    st = heap.stats()
    print(f"stats: {st.used} of {st.capacity} bytes used, {st.live_allocs} live, "
          f"largest free run {st.largest_free}, {st.faults} fault")
    print(heap.dump(), end="")
    heap.free(big)
    heap.free(name)
    try:
        view[0]
    except ValueError as err:               # a stale view never reads reused memory
        print(f"the view of a freed allocation: {err}")
