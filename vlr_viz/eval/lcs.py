"""ROUGE-L of every query caption against every gallery caption, compiled (numba) and reduced to images on the fly.

The LCS length of two token sequences ``a`` (``m ≤ 64`` tokens) and ``b`` comes from the bit-parallel algorithm of
Crochemore, Iliopoulos, Pinzon & Reid (2001), one 64-bit word per query::

    M[t] = bit mask of the positions of token t in a;  V = all ones (m bits)
    for t in b:  U = V & M[t];  V = (V + U) | (V - U)
    LCS = number of zero bits among the m low bits of V

so a pair costs ``len(b)`` word operations instead of the ``m × len(b)`` table of dynamic programming, which
remains the path for queries longer than 64 tokens. ``F = 2PR / (P + R)`` with ``P = LCS / len(b)`` and
``R = LCS / len(a)`` is computed in float64 exactly as ``rouge-score`` does, so the values are identical.
The image reduction (max or mean over an image's captions) happens inside the loop: memory is
``queries × images``, never ``queries × captions``.
"""
from __future__ import annotations

import numba
import numpy as np

@numba.njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True)
def _lcs_table(a, b):
    """Plain dynamic programming (queries longer than 64 tokens)."""
    prev = np.zeros(b.size + 1, np.int64)
    cur = np.zeros(b.size + 1, np.int64)
    for i in range(a.size):
        for j in range(b.size):
            if a[i] == b[j]:
                cur[j + 1] = prev[j] + 1
            else:
                cur[j + 1] = max(cur[j], prev[j + 1])
        prev, cur = cur, prev
    return prev[b.size]


@numba.njit(cache=True, parallel=True)
def rouge_to_images(q_tok, q_off, g_tok, g_off, img_ptr, img_idx, n_images, vocab, mean, counts, n_workers):
    """``(n_queries, n_images)`` float32 ROUGE-L of each query against each image's captions (max, or the mean).

    Sequences are CSR token-id arrays (``tok[off[i]:off[i+1]]``); ``img_ptr`` / ``img_idx`` list, per gallery
    sequence, the images holding a caption with that sequence (repeated once per such caption, for the mean).
    ``n_workers`` parallel workers each take every ``n_workers``-th query with a mask table of their own.
    """
    n_q = q_off.size - 1
    out = np.zeros((n_q, n_images), np.float32)
    masks = np.zeros((n_workers, vocab), np.uint64)
    for worker in numba.prange(n_workers):
        for u in range(worker, n_q, n_workers):
            _query_row(u, q_tok, q_off, g_tok, g_off, img_ptr, img_idx, n_images, mean, counts, masks[worker], out)
    return out


@numba.njit(cache=True)
def _query_row(u, q_tok, q_off, g_tok, g_off, img_ptr, img_idx, n_images, mean, counts, own, out):
    """Row ``u`` of `rouge_to_images` (``own``: this worker's all-zero mask table, left all zero again)."""
    n_g = g_off.size - 1
    a = q_tok[q_off[u]:q_off[u + 1]]
    m = a.size
    if m == 0:
        return
    row = np.zeros(n_images, np.float64)
    if m <= 64:
        for i in range(m):
            own[a[i]] |= np.uint64(1) << np.uint64(i)
        width = np.uint64(0xFFFFFFFFFFFFFFFF) if m == 64 else (np.uint64(1) << np.uint64(m)) - np.uint64(1)
    for g in range(n_g):
        b = g_tok[g_off[g]:g_off[g + 1]]
        if b.size == 0:
            continue
        if m <= 64:
            v = width
            for t in b:
                w = v & own[t]
                v = ((v + w) | (v - w)) & width
            lcs = m - _popcount(v)
        else:
            lcs = _lcs_table(a, b)
        f = 0.0
        if lcs > 0:
            p, r = lcs / b.size, lcs / m
            f = 2 * p * r / (p + r)
        for k in range(img_ptr[g], img_ptr[g + 1]):
            j = img_idx[k]
            if mean:
                row[j] += f
            elif f > row[j]:
                row[j] = f
    if m <= 64:
        for i in range(m):
            own[a[i]] = np.uint64(0)
    for j in range(n_images):
        out[u, j] = row[j] / counts[j] if mean else row[j]
