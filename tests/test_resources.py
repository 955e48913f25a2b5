"""`vlr_viz.resources`: the memory of a process tree, as summed RSS and as PSS (shared pages counted once)."""
import gc
import multiprocessing
import sys
import time

import numpy as np
import pytest

from vlr_viz.resources import measure, tree_memory

MB = 2**20
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PSS is read from Linux's smaps_rollup")


def _wait(conn):
    conn.send("ready")
    conn.recv()


def test_pages_a_forked_child_shares_count_twice_in_summed_rss_and_once_in_pss():
    held = np.ones(200 * MB // 8)  # written, so resident; the forked child shares these pages copy-on-write
    alone_rss, alone_pss = tree_memory()
    parent, child_end = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(target=_wait, args=(child_end,))
    gc.freeze()  # the child's garbage collector leaves the inherited objects alone: no copy-on-write of the heap
    child.start()
    try:
        assert parent.recv() == "ready"
        rss, pss = tree_memory()
    finally:
        parent.send("stop")
        child.join(10)
        gc.unfreeze()
    assert rss - alone_rss >= 190 * MB  # the child's resident set repeats the 200 MB
    assert pss - alone_pss < 60 * MB  # in PSS the parent and the child each own half of them: nothing added
    assert pss <= rss and held.sum() == held.size


def test_measure_keeps_the_peak_of_a_block():
    with measure(poll_seconds=0.01) as usage:
        block = np.ones(100 * MB // 8)
        time.sleep(0.1)  # held across several samples
        del block
    assert usage.peak_pss >= 100 * MB and usage.peak_rss >= usage.peak_pss and usage.seconds > 0
