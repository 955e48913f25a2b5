"""`vlr_viz.allocator`: inside `reusing_large_blocks` a large block comes from the heap and stays there when freed,
afterwards the heap is given back (glibc's own account, ``mallinfo2``), and the opt-out holds. The page faults this
saves are counted by `benchmarks/bench_extraction.py`."""
import ctypes
import platform

import numpy as np
import psutil
import pytest
import torch

from vlr_viz import allocator
from vlr_viz.encoders import get_encoder

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

BLOCK = 64 << 20  # above glibc's largest dynamic mmap threshold (32 MiB)


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33+): the allocator's own account of its heap and mappings."""
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def mallinfo() -> MallInfo2:
    fn = ctypes.CDLL(None).mallinfo2
    fn.restype = MallInfo2
    return fn()


def test_large_blocks_come_from_the_heap_inside_and_the_heap_is_given_back_after():
    mapped_before = mallinfo().hblkhd
    with allocator.reusing_large_blocks(environ={}):
        x = torch.empty(BLOCK // 4, dtype=torch.float32).fill_(1.0)
        mapped_while_held = mallinfo().hblkhd
        del x
        free_in_heap = mallinfo().fordblks  # free chunks and the top of the heap: kept for the next batch
        held = psutil.Process().memory_info().rss
    after = psutil.Process().memory_info().rss
    assert mapped_while_held - mapped_before < BLOCK  # not a mapping of its own (glibc maps blocks over 32 MiB)
    assert free_in_heap >= BLOCK
    assert held - after >= BLOCK * 3 // 4  # leaving trims the heap: the freed block is no longer resident


def test_nested_blocks_keep_the_settings_until_the_outermost_ends():
    with allocator.reusing_large_blocks(environ={}):
        with allocator.reusing_large_blocks(environ={}):
            pass
        mapped_before = mallinfo().hblkhd
        x = torch.empty(BLOCK // 4, dtype=torch.float32).fill_(1.0)
        assert mallinfo().hblkhd - mapped_before < BLOCK
        del x


@pytest.mark.parametrize("environ", [{"VLR_VIZ_MALLOC": "system"}, {"MALLOC_MMAP_THRESHOLD_": "65536"},
                                     {"MALLOC_TRIM_THRESHOLD_": "0"}])
def test_opt_out_and_the_users_own_settings_leave_malloc_alone(environ):
    assert allocator._glibc(environ) is None and allocator._glibc({}) is not None
    with allocator.reusing_large_blocks(environ=environ):
        assert allocator._depth == 0  # nothing was set, so nothing is undone
    with allocator.reusing_large_blocks(environ={}):
        assert allocator._depth == 1
    assert allocator._depth == 0


def test_extraction_gives_the_same_features_with_and_without_reuse(monkeypatch):
    """Allocation does not touch arithmetic: the image features are bit for bit those of the system's settings."""
    enc = get_encoder("efficientnet-lite0")
    images = np.random.default_rng(0).integers(0, 256, (6, 72, 72, 3), dtype=np.uint8)
    reused = enc.encode_images(images, batch_size=3, progress=False)
    monkeypatch.setenv("VLR_VIZ_MALLOC", "system")
    system = enc.encode_images(images, batch_size=3, progress=False)
    np.testing.assert_array_equal(reused, system)
