"""Cross-modal retrieval metrics: Recall@K, RSUM, median and mean rank (image→text and text→image).

Protocol (VSE++, Faghri et al., BMVC 2018; the VSE family's ``evaluation.py``): similarity is the cosine of
L2-normalised embeddings. An image's rank (i2t) is the best rank among its captions; a caption's rank (t2i) is
the rank of its image. ``R@K = 100 · mean(rank ≤ K)``, ``RSUM`` = the sum of the six recalls.

Ranks are 1-based and tie-exact: the rank of a positive with score ``s`` at gallery index ``p`` is
``1 + #{j: score_j > s} + #{j < p: score_j = s}``, which is its position in a stable ``argsort(-score)``
(equal scores: lower gallery index first). Ties are decided on the float32 scores as computed.

Implementation: one pass of chunked float32 matrix products (images × captions), with captions grouped by
image so that each chunk's gallery splits into captions of earlier images, of the chunk's images and of later
images. Ranks are counted (``score > positive`` plus the tie rule), never sorted: no loop over queries.
A t2i positive score whose image lies in a later chunk is read ahead from a small block product and checked,
bit for bit, against the score of the main pass; a caption whose read-ahead differs is ranked again from one
consistent product of its own, so every query is ranked on one consistent set of scores.
The counting of each chunk is split by rows over ``torch.get_num_threads()`` threads (numpy releases the GIL).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..arrays import unit_rows
from ..errors import ConfigError
from .cutoffs import RECALL_KS, check_cutoffs

PROTOCOLS = ("all", "fold5", "first_k_images")
_READ_AHEAD_IMAGES = 256


_NOT_REAL = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers", "M": "dates",
             "m": "time spans", "V": "raw records"}


def _real_array(x, name: str) -> np.ndarray:
    """``x`` as a numpy array; `ConfigError` naming ``name`` when it holds no real numbers (strings, objects,
    complex numbers) or is ragged, which torch could not take or would take without meaning."""
    try:
        a = np.asarray(x)
    except ValueError:
        raise ConfigError(f"{name} must be an array of real numbers; got a ragged {type(x).__name__}") from None
    if a.dtype.kind in _NOT_REAL:
        raise ConfigError(f"{name} must hold real numbers; got {_NOT_REAL[a.dtype.kind]} (dtype {a.dtype})")
    return a


def _embeddings(x, name: str) -> torch.Tensor:
    """Float32 CPU tensor with L2-normalised rows (`vlr_viz.arrays.unit_rows`: tiny or huge but finite rows are
    normalised exactly, not lost to float32 underflow); ``ValueError`` naming ``name`` on bad input."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:  # a read-only array (memory-mapped features) is copied: torch warns that it cannot share one
        a = _real_array(x, name)
        t = torch.from_numpy(a if a.flags.writeable else a.copy())
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim); got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise ConfigError(f"{name} must hold real numbers; got dtype {t.dtype}")
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    finite = torch.isfinite(t).all(1)
    if not finite.all():
        raise ValueError(f"{name} row {int(torch.nonzero(~finite)[0])} contains NaN or inf")
    zero = (t == 0).all(1)
    if zero.any():
        raise ValueError(f"{name} row {int(torch.nonzero(zero)[0])} has zero norm")
    return torch.from_numpy(unit_rows(t.numpy(), dtype=np.float32)).contiguous()


def _caption_map(txt_to_img, n_images: int, n_captions: int) -> np.ndarray:
    t2i = (txt_to_img.detach().cpu().numpy() if isinstance(txt_to_img, torch.Tensor)
           else _real_array(txt_to_img, "txt_to_img"))
    if t2i.shape != (n_captions,):
        raise ValueError(f"txt_to_img must have shape ({n_captions},) (one entry per caption); got {t2i.shape}")
    if t2i.size and not np.issubdtype(t2i.dtype, np.integer):
        raise ConfigError(f"txt_to_img must hold integer image indices; got dtype {t2i.dtype}")
    t2i = t2i.astype(np.int64)
    if t2i.min() < 0 or t2i.max() >= n_images:
        bad = int(np.flatnonzero((t2i < 0) | (t2i >= n_images))[0])
        raise ValueError(f"txt_to_img[{bad}] = {t2i[bad]} is out of range for {n_images} images")
    counts = np.bincount(t2i, minlength=n_images)
    if (counts == 0).any():
        raise ValueError(f"txt_to_img: image {int(np.flatnonzero(counts == 0)[0])} has no caption")
    return t2i


def _count(cmp, a, thr, axis: int, buf: np.ndarray) -> np.ndarray:
    """``count_nonzero(cmp(a, thr), axis)`` through a preallocated boolean buffer (summed as bytes: faster)."""
    if a.shape[1] == 0:
        return np.zeros(a.shape[1 - axis], dtype=np.int64)
    out = buf[: a.shape[0], : a.shape[1]]
    cmp(a, thr, out=out)
    return out.view(np.uint8).sum(axis=axis, dtype=np.int32)


def _ranks_of_rows(queries: torch.Tensor, gallery: torch.Tensor, positive: np.ndarray) -> np.ndarray:
    """Tie-exact 1-based rank of gallery item ``positive[q]`` for each query, from one product per query row."""
    scores = (queries @ gallery.T).numpy()
    rows = np.arange(len(positive))
    pos = scores[rows, positive][:, None]
    before = np.arange(scores.shape[1])[None, :] < positive[:, None]
    return 1 + np.count_nonzero(scores > pos, 1) + np.count_nonzero((scores == pos) & before, 1)


def _read_ahead(img: torch.Tensor, txt_s: torch.Tensor, t2i_s: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Each caption's positive score from small image-block products (captions grouped by image)."""
    n, step = img.shape[0], _READ_AHEAD_IMAGES
    ahead = np.empty(txt_s.shape[0], dtype=np.float32)
    widest = max(start[min(a + step, n)] - start[a] for a in range(0, n, step))
    buf = torch.empty(min(step, n) * widest)  # reused output: no fresh pages per block
    for a in range(0, n, step):
        b = min(a + step, n)
        lo, hi = start[a], start[b]
        block = buf[: (b - a) * (hi - lo)].view(b - a, hi - lo)
        torch.mm(img[a:b], txt_s[lo:hi].T, out=block)
        ahead[lo:hi] = block.numpy()[t2i_s[lo:hi] - a, np.arange(hi - lo)]
    return ahead


class _ChunkCounts:
    """Rank counts of one chunk of image rows ``s`` (c, M) against captions grouped by image, where
    ``lo:hi`` are the captions of the chunk's own images. `count` handles a slice of rows (run in threads)."""

    def __init__(self, s, buf, lo, hi, best, first_best, pos, row_of, exact, ahead, grouped):
        self.s, self.buf, self.lo, self.hi, self.grouped = s, buf, lo, hi, grouped
        self.best, self.first_best, self.pos, self.row_of = best, first_best, pos, row_of
        self.exact, self.ahead = exact, ahead

    def count(self, rows: slice):
        """``(i2t ranks of the rows, t2i counts (M,) from the rows, number of scores equal to each row's best)``."""
        s, buf, lo, hi = self.s[rows], self.buf[rows], self.lo, self.hi
        cur = s[:, lo:hi]
        bcol = self.best[rows, None]
        col = np.arange(hi - lo)[None, :]
        # i2t: earlier captions win ties, later ones lose them; inside the chunk apply the index rule
        i2t = (
            1
            + _count(np.greater_equal, s[:, :lo], bcol, 1, buf)
            + _count(np.greater, s[:, hi:], bcol, 1, buf)
            + np.count_nonzero(cur > bcol, 1)
            + np.count_nonzero((cur == bcol) & (col < self.first_best[rows, None]), 1)
        )
        # t2i: these images come after earlier captions' images (lose ties), before later ones (win ties)
        t2i = np.empty(s.shape[1], dtype=np.int64)
        t2i[:lo] = _count(np.greater, s[:, :lo], self.exact[None, :lo], 0, buf)
        t2i[hi:] = _count(np.greater_equal, s[:, hi:], self.ahead[None, hi:], 0, buf)
        row = np.arange(rows.start, rows.stop)[:, None]
        t2i[lo:hi] = np.count_nonzero(cur > self.pos, 0) + np.count_nonzero((cur == self.pos) & (row < self.row_of), 0)
        n_equal = None if self.grouped else _count(np.equal, s, bcol, 1, buf)
        return i2t, t2i, n_equal


def cosine_ranks(img: torch.Tensor, txt: torch.Tensor, t2i: np.ndarray, chunk_size: int = 1024):
    """1-based tie-exact ranks ``(i2t (N,), t2i (M,))`` for normalised float32 embeddings (no validation)."""
    n, m = img.shape[0], txt.shape[0]
    order = np.argsort(t2i, kind="stable")  # captions grouped by image, original order inside a group
    t2i_s = t2i[order]
    txt_s = txt[torch.from_numpy(order)].contiguous()
    start = np.searchsorted(t2i_s, np.arange(n + 1))  # captions of image i: start[i]:start[i+1]

    ahead = _read_ahead(img, txt_s, t2i_s, start)
    exact = np.empty(m, dtype=np.float32)
    i2t = np.empty(n, dtype=np.int64)
    t2i_count = np.zeros(m, dtype=np.int64)
    buf = np.empty((min(chunk_size, n), m), dtype=bool)
    sbuf = torch.empty(min(chunk_size, n), m)  # reused score chunk: no fresh pages per chunk
    grouped = bool(np.all(np.diff(t2i) >= 0))
    n_equal = None if grouped else np.zeros(n, dtype=np.int64)
    workers = max(1, torch.get_num_threads())
    with ThreadPoolExecutor(workers) as pool:  # counting is split by rows over torch's thread count
        for a in range(0, n, chunk_size):
            b = min(a + chunk_size, n)
            lo, hi = start[a], start[b]
            s = torch.mm(img[a:b], txt_s.T, out=sbuf[: b - a]).numpy()  # (c, M)
            row_of = t2i_s[lo:hi] - a  # chunk row of each caption of this chunk's images
            pos = s[row_of, np.arange(lo, hi)]
            exact[lo:hi] = pos
            seg = start[a:b] - lo
            best = np.maximum.reduceat(pos, seg)
            first_best = np.minimum.reduceat(np.where(pos == best[row_of], np.arange(hi - lo), hi - lo), seg)
            block = _ChunkCounts(s, buf, lo, hi, best, first_best, pos, row_of, exact, ahead, grouped)
            bounds = np.linspace(0, b - a, min(workers, b - a) + 1).astype(int)
            parts = list(pool.map(block.count, [slice(r0, r1) for r0, r1 in zip(bounds[:-1], bounds[1:])]))
            i2t[a:b] = np.concatenate([p[0] for p in parts])
            t2i_count += sum(p[1] for p in parts)
            if not grouped:
                n_equal[a:b] = np.concatenate([p[2] for p in parts])
    t2i_s_rank = t2i_count + 1

    # captions whose read-ahead score was not bit-identical to the main pass: rank them again
    redo = np.flatnonzero((ahead != exact) & (t2i_s >= min(chunk_size, n)))
    for c in range(0, redo.size, chunk_size):
        idx = redo[c : c + chunk_size]
        t2i_s_rank[idx] = _ranks_of_rows(txt_s[torch.from_numpy(idx)], img, t2i_s[idx])

    if not grouped:  # captions not grouped by image: rows with ties may order them differently
        tied = np.flatnonzero(n_equal > 1)
        if tied.size:
            i2t[tied] = _i2t_ranks_exact(img[torch.from_numpy(tied)], txt, t2i, tied)

    t2i_rank = np.empty(m, dtype=np.int64)
    t2i_rank[order] = t2i_s_rank
    return i2t, t2i_rank


def _i2t_ranks_exact(img_rows: torch.Tensor, txt: torch.Tensor, t2i: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Tie-exact i2t ranks for a few images, in original caption order (stable argsort of -score)."""
    s = (img_rows @ txt.T).numpy()
    positive = t2i[None, :] == images[:, None]
    best = np.where(positive, s, -np.inf).max(1, keepdims=True)
    first = np.argmax(positive & (s == best), 1)  # lowest caption index reaching the best positive score
    before = np.arange(s.shape[1])[None, :] < first[:, None]
    return 1 + np.count_nonzero(s > best, 1) + np.count_nonzero((s == best) & before, 1)


def _summary(i2t: np.ndarray, t2i: np.ndarray, ks) -> dict:
    out = {}
    for name, r in (("i2t", i2t), ("t2i", t2i)):
        for k in ks:
            out[f"{name}_R@{k}"] = float(100.0 * np.mean(r <= k))
    out["rsum"] = float(sum(out[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in ks))
    for name, r in (("i2t", i2t), ("t2i", t2i)):
        out[f"{name}_medr"] = float(np.floor(np.median(r)))
        out[f"{name}_meanr"] = float(np.mean(r))
    return out


def recall_at_k(
    img_emb,
    txt_emb,
    txt_to_img,
    ks=RECALL_KS,
    *,
    protocol: str = "all",
    fold_size: int = 1000,
    chunk_size: int = 1024,
    return_ranks: bool = True,
) -> dict:
    """Image↔text retrieval metrics from embeddings (cosine similarity).

    Args:
        img_emb: ``(N, D)`` image embeddings (numpy or torch); normalised here.
        txt_emb: ``(M, D)`` caption embeddings.
        txt_to_img: ``(M,)`` image index of each caption; every image needs at least one caption.
        ks: recall cut-offs.
        protocol: ``"all"``: the whole set. ``"fold5"``: the VSE family's COCO-1K protocol: the mean of every
            metric over 5 consecutive folds of ``fold_size`` images and their captions (needs exactly
            ``5 · fold_size`` images). ``"first_k_images"``: the TIP24 code's "1K": only the first ``fold_size``
            images and their captions.
        fold_size: images per fold (``fold5``) or images kept (``first_k_images``).
        chunk_size: images per matrix-product chunk (memory ``chunk_size · M`` floats).
        return_ranks: add ``i2t_ranks`` and ``t2i_ranks`` (int64, 1-based). ``fold5``: each rank is within the
            item's own fold, in the original order. ``first_k_images``: ranks of the kept images and of their
            captions (in original caption order).

    Returns:
        ``{"i2t_R@1", ..., "t2i_R@10", "rsum", "i2t_medr", "t2i_medr", "i2t_meanr", "t2i_meanr"}`` (recalls in
        percent; ``medr = floor(median rank)``, as in the VSE code), plus the ranks when asked.

    Example:
        >>> m = recall_at_k(np.eye(3), np.eye(3), [0, 1, 2], ks=(1,))
        >>> m["i2t_R@1"], m["t2i_medr"]
        (100.0, 1.0)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    img = _embeddings(img_emb, "img_emb")
    txt = _embeddings(txt_emb, "txt_emb")
    if img.shape[1] != txt.shape[1]:
        raise ValueError(f"img_emb has dim {img.shape[1]} but txt_emb has dim {txt.shape[1]}")
    n = img.shape[0]
    t2i = _caption_map(txt_to_img, n, txt.shape[0])
    ks = check_cutoffs(ks)

    if protocol == "all":
        folds = [np.arange(n)]
    else:
        if fold_size < 1:
            raise ValueError(f"fold_size must be >= 1; got {fold_size}")
        if protocol == "fold5" and n != 5 * fold_size:
            raise ValueError(f"fold5 needs exactly 5 * fold_size = {5 * fold_size} images; img_emb has {n}")
        if protocol == "first_k_images" and n < fold_size:
            raise ValueError(f"first_k_images needs fold_size <= {n} images; got fold_size={fold_size}")
        n_folds = 5 if protocol == "fold5" else 1
        folds = [np.arange(f * fold_size, (f + 1) * fold_size) for f in range(n_folds)]

    i2t_all = np.zeros(n, dtype=np.int64)
    t2i_all = np.zeros(len(t2i), dtype=np.int64)
    kept_caps, summaries = [], []
    for images in folds:
        caps = np.flatnonzero((t2i >= images[0]) & (t2i <= images[-1]))
        n_gallery = min(len(images), len(caps))
        if max(ks) > n_gallery:
            raise ConfigError(f"ks contains {max(ks)} but the gallery has only {n_gallery} items ({len(images)} "
                              f"images, {len(caps)} captions): R@{max(ks)} needs at least {max(ks)} of each; "
                              "evaluate more images or pass smaller ks")
        i2t, t2i_r = cosine_ranks(
            img[images[0] : images[-1] + 1], txt[torch.from_numpy(caps)], t2i[caps] - images[0], int(chunk_size)
        )
        i2t_all[images], t2i_all[caps] = i2t, t2i_r
        kept_caps.append(caps)
        summaries.append(_summary(i2t, t2i_r, ks))
    out = {key: float(np.mean([s[key] for s in summaries])) for key in summaries[0]}
    if return_ranks:
        images = np.concatenate(folds)
        out["i2t_ranks"] = i2t_all[images]
        out["t2i_ranks"] = t2i_all[np.sort(np.concatenate(kept_caps))]
    return out
