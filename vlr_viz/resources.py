"""How long a piece of work took and how much memory it held at its peak (the process and its children, e.g.
DataLoader workers), for benchmarks, the scale run and the report.

>>> with measure() as usage:
...     work()
>>> usage.seconds, usage.peak_rss_gb
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import psutil


@dataclass
class Usage:
    """Wall-clock seconds and peak resident memory (bytes, the process tree) of a measured block."""

    seconds: float = 0.0
    peak_rss: int = 0

    @property
    def peak_rss_gb(self) -> float:
        return self.peak_rss / 2**30


def tree_rss(process: psutil.Process | None = None) -> int:
    """Resident memory in bytes of a process and all its descendants (those that vanish meanwhile are skipped)."""
    process = process or psutil.Process()
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


@contextmanager
def measure(poll_seconds: float = 0.05) -> Iterator[Usage]:
    """Time a block and sample the process tree's resident memory every ``poll_seconds`` in a background thread."""
    usage, done = Usage(peak_rss=tree_rss()), threading.Event()
    process = psutil.Process()

    def sample():
        while not done.wait(poll_seconds):
            usage.peak_rss = max(usage.peak_rss, tree_rss(process))

    thread = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    try:
        yield usage
    finally:
        done.set()
        thread.join()
        usage.peak_rss = max(usage.peak_rss, tree_rss(process))
        usage.seconds = time.perf_counter() - t0
