"""Content keys: what every stored entry is named by, a SHA-256 over everything that determines it.

`content_hash` keys an entry on its inputs (arrays by their bytes, strings, numbers, nested lists and dicts of them);
`file_digest` keys one on a file's bytes (a weights file). Nothing here reads or writes the store (`vlr_viz.store`),
so every layer, the training core included, can key what it computes.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np


def content_hash(*parts) -> str:
    """SHA-256 (hex, 24 chars) over arrays, strings, numbers and nested lists/dicts of them."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, np.ndarray):
            h.update(f"nd{x.dtype.str}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (list, tuple)):
            h.update(f"L{len(x)}".encode())
            for y in x:
                feed(y)
        elif isinstance(x, dict):
            h.update(f"D{len(x)}".encode())
            for k in sorted(x):
                feed(str(k))
                feed(x[k])
        elif isinstance(x, bytes):
            h.update(b"B" + len(x).to_bytes(8, "little") + x)
        else:
            s = repr(x).encode()
            h.update(b"S" + len(s).to_bytes(8, "little") + s)

    for p in parts:
        feed(p)
    return h.hexdigest()[:24]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (used to key caches on a weights file, and to check a stored array)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
