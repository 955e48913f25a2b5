"""How long a piece of work took and how much memory it held at its peak (the process and its children, e.g.
DataLoader workers, training workers, a notebook's kernel), for benchmarks, the scale run and the report.

Memory of a process tree is measured two ways. The *summed RSS* adds each process's resident set, so a page shared
by several processes (the torch libraries every worker maps, a forked worker's copy-on-write pages) counts once per
process: it overstates what the tree holds. The *PSS* (proportional set size, Linux ``smaps_rollup``) divides each
shared page among the processes that map it, so its sum over the tree is the memory the tree holds, each page
once; it is the number to compare with a machine's memory. Where the PSS cannot be read (another OS, another
user's process) the RSS stands in for it.

>>> with measure() as usage:
...     work()
>>> usage.seconds, usage.peak_pss_gb, usage.peak_rss_gb
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import psutil


PSS_SECONDS = 1.0
"""Reading a PSS walks the process's page tables, far slower than reading the RSS, so a sample reads it only when
the summed RSS reaches a new high or this many seconds have passed; the RSS is read at every sample."""


@dataclass
class Usage:
    """Wall-clock seconds and the peak memory (bytes, the process tree; module docstring) of a measured block:
    ``peak_pss`` the largest PSS summed over the tree, ``peak_rss`` the largest summed RSS."""

    seconds: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    _pss_read_at: float = field(default=-math.inf, repr=False)

    @property
    def peak_rss_gb(self) -> float:
        return self.peak_rss / 2**30

    @property
    def peak_pss_gb(self) -> float:
        return self.peak_pss / 2**30

    def sample(self, process: psutil.Process | None = None) -> None:
        """Read the tree's summed RSS, and its PSS when the RSS is at a new high or `PSS_SECONDS` have passed."""
        processes = tree(process)
        rss = sum(_rss(p) for p in processes)
        now = time.monotonic()
        if rss >= self.peak_rss or now - self._pss_read_at >= PSS_SECONDS:
            self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in processes))
            self._pss_read_at = now
        self.peak_rss = max(self.peak_rss, rss)


def tree(process: psutil.Process | None = None) -> list[psutil.Process]:
    """A process and all its descendants."""
    process = process or psutil.Process()
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0  # gone meanwhile


def _pss(p: psutil.Process) -> int:
    try:
        return p.memory_full_info().pss
    except (psutil.NoSuchProcess, psutil.AccessDenied, OSError, AttributeError):
        return _rss(p)  # unreadable, or no PSS on this OS: its RSS stands in


def tree_memory(process: psutil.Process | None = None) -> tuple[int, int]:
    """``(summed RSS, summed PSS)`` in bytes of a process and all its descendants (module docstring; those that
    vanish meanwhile are skipped; a process whose PSS cannot be read counts with its RSS)."""
    processes = tree(process)
    return sum(_rss(p) for p in processes), sum(_pss(p) for p in processes)


@contextmanager
def measure(poll_seconds: float = 0.05) -> Iterator[Usage]:
    """Time a block and sample the process tree's memory (`tree_memory`) every ``poll_seconds`` in a background
    thread."""
    usage, done = Usage(), threading.Event()
    process = psutil.Process()
    usage.sample(process)

    def sample():
        while not done.wait(poll_seconds):
            usage.sample(process)

    thread = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    try:
        yield usage
    finally:
        done.set()
        thread.join()
        usage.sample(process)
        usage.seconds = time.perf_counter() - t0
