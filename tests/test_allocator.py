"""`vlr_viz.allocator`: large freed blocks are reused inside `reusing_large_blocks` (counted by the kernel's page
faults, an oracle independent of the allocator), the settings are undone afterwards, and the opt-out holds."""
import platform
import resource

import numpy as np
import pytest
import torch

from vlr_viz import allocator
from vlr_viz.encoders import get_encoder

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

BLOCK = 64 << 20  # above glibc's largest dynamic mmap threshold (32 MiB): mapped afresh on every allocation
PAGES = BLOCK // 4096


def faults_of_allocations(times: int = 6) -> int:
    """Minor page faults of allocating, touching and freeing a 64 MiB tensor ``times`` times."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        x = torch.empty(BLOCK // 4, dtype=torch.float32)
        x.fill_(1.0)
        del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_large_blocks_are_reused_inside_and_mapped_afresh_outside():
    outside = faults_of_allocations()
    with allocator.reusing_large_blocks(environ={}):
        inside = faults_of_allocations()
    after = faults_of_allocations()
    assert outside >= 5 * PAGES  # every allocation faults its pages in again
    assert inside <= 2 * PAGES  # only the first one does
    assert after >= 5 * PAGES  # the settings are undone and the heap returned


def test_nested_blocks_keep_reusing_until_the_outermost_ends():
    with allocator.reusing_large_blocks(environ={}):
        with allocator.reusing_large_blocks(environ={}):
            faults_of_allocations(2)
        inner_done = faults_of_allocations()
    assert inner_done <= 2 * PAGES


@pytest.mark.parametrize("environ", [{"VLR_VIZ_MALLOC": "system"}, {"MALLOC_MMAP_THRESHOLD_": "65536"}])
def test_opt_out_and_the_users_own_settings_leave_malloc_alone(environ):
    with allocator.reusing_large_blocks(environ=environ):
        assert faults_of_allocations() >= 5 * PAGES


def test_extraction_gives_the_same_features_with_and_without_reuse(monkeypatch):
    """Allocation does not touch arithmetic: the image features are bit for bit those of the system's settings."""
    enc = get_encoder("efficientnet-lite0")
    images = np.random.default_rng(0).integers(0, 256, (6, 72, 72, 3), dtype=np.uint8)
    reused = enc.encode_images(images, batch_size=3, progress=False)
    monkeypatch.setenv("VLR_VIZ_MALLOC", "system")
    system = enc.encode_images(images, batch_size=3, progress=False)
    np.testing.assert_array_equal(reused, system)
