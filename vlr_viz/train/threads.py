"""`torch_threads`: run a block with a given number of torch CPU threads, restoring the previous number after."""
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
