"""CPU settings for a block of training: `torch_threads` (the number of torch threads) and `flush_denormals`."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block (``None``: leave torch's setting).

    Small towers train fastest on one thread, one thread makes every CPU kernel reproducible, and several threads
    on a machine that is already busy can slow training down by orders of magnitude.
    """
    if n is None:
        yield
        return
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of torch threads must be a positive integer or None, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block (``torch.set_flush_denormal``), back to torch's default (off)
    after.

    A softmax over many codewords at a low temperature leaves probabilities below 1e-38; x86 CPUs compute on such
    denormal numbers up to a hundred times slower, which made the matrix products of a DCMQ step 3 to 4 times
    slower. Values that small change nothing a float32 model can resolve.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
