"""Memory allocator settings: keep large freed blocks in the process instead of giving them back to the system.

glibc's ``malloc`` serves a request above its *mmap threshold* (128 KiB at start, raised as large blocks are freed,
to at most 32 MiB) with a fresh ``mmap`` and unmaps it on ``free``. PyTorch on a CPU allocates every intermediate
tensor through ``malloc``, so a tensor above the threshold (an activation of a convolutional encoder at batch 64 is
100 MB) is mapped, faulted in page by page (the kernel zeroes each 4 KiB page) and unmapped again at every batch.
During feature extraction most of the system time went there; `benchmarks/bench_extraction.py` measures both
settings (docs/benchmarks.md).

`reusing_large_blocks` raises the mmap threshold and the trim threshold (the free space at the top of the heap
kept for reuse) with ``mallopt(3)`` while a feature extraction runs, so freed activations stay in the heap and the
next batch reuses them. It wraps the call that drives an extraction to its end, never a generator, which a caller
could leave unfinished with the settings still in force. On leaving, it sets the values glibc's own adjustment
ends at (32 MiB / 64 MiB) and returns the free heap to the system (``malloc_trim``), so no memory stays held after
the extraction. It changes no result (allocation does not touch arithmetic; the benchmark and the tests compare the
features bit for bit). Set ``VLR_VIZ_MALLOC=system`` to keep the C library's settings; elsewhere than glibc it does
nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers (glibc's ``malloc.h``)."""

REUSE_MMAP_THRESHOLD = 1 << 30
"""While reusing: blocks up to 1 GiB come from the heap rather than from a mapping of their own."""
REUSE_TRIM_THRESHOLD = 1 << 30
"""While reusing: free memory at the top of the heap up to 1 GiB is kept rather than returned at once."""
SETTLED_MMAP_THRESHOLD = 32 << 20
SETTLED_TRIM_THRESHOLD = 64 << 20
"""Afterwards: where glibc's dynamic thresholds settle once a large block has been freed."""
OPT_OUT = "VLR_VIZ_MALLOC"

_lock = threading.Lock()
_depth = 0


def _glibc(environ=os.environ):
    """The C library's ``mallopt`` and ``malloc_trim``, or None when they are not glibc's or may not be touched."""
    if environ.get(OPT_OUT, "").lower() == "system":
        return None
    if "MALLOC_MMAP_THRESHOLD_" in environ or "MALLOC_TRIM_THRESHOLD_" in environ:
        return None  # the user's own settings win
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
    return mallopt, trim


@contextlib.contextmanager
def reusing_large_blocks(environ=os.environ):
    """Keep freed large blocks in the heap for the duration of the block (module docstring); nests."""
    global _depth
    libc = _glibc(environ)
    if libc is None:
        yield
        return
    mallopt, trim = libc
    with _lock:
        _depth += 1
        if _depth == 1:
            mallopt(M_MMAP_THRESHOLD, REUSE_MMAP_THRESHOLD)
            mallopt(M_TRIM_THRESHOLD, REUSE_TRIM_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                mallopt(M_MMAP_THRESHOLD, SETTLED_MMAP_THRESHOLD)
                mallopt(M_TRIM_THRESHOLD, SETTLED_TRIM_THRESHOLD)
                trim(0)
