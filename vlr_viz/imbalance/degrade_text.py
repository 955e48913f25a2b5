"""Caption degradations with a severity knob ``s`` in [0, 1] (``s = 0`` returns the captions unchanged).

Kinds (docs/method.md, D1); words are whitespace tokens, re-joined by one space:

- ``"word_dropout"``: each word is dropped with probability ``s``.
- ``"truncation"``: keep the first ``ceil((1 - s) · n)`` of a caption's ``n`` words.
- ``"word_replace"``: each word is replaced, with probability ``s``, by a different word drawn uniformly from the
  vocabulary (default: the sorted distinct words of the given captions).
- ``"coarsen"`` (insufficient information): each caption is replaced, with probability ``s``, by the name of its
  category; needs ``labels`` (one per caption, ``-1`` = unknown, left as is) and ``label_names``.
- ``"mismatch"`` (noisy correspondence): each caption is selected with probability ``s`` and the selected captions
  are moved among each other by a derangement, so each lands on another image when the selection allows it.
  The permutation ``perm`` (``new[i] = old[perm[i]]``) is returned in ``info["permutation"]``.

No caption ever comes back empty: dropout keeps at least the word it would drop last, truncation at least one word.

Randomness is per item and coupled across severities: item ``i`` draws its uniforms from a generator seeded by
``(kind, seed, item_keys[i])`` and a word (or caption) is hit when its uniform is below ``s``. So for one seed the
hit set grows with ``s`` (word counts never increase), and a subset of a data set, given the same ``item_keys``
(e.g. ``PairSet.caption_ids``), is degraded exactly like those items of the full set. The words drawn by
``word_replace`` also depend on the vocabulary: pass the full set's vocabulary to keep a subset consistent.
The derangement of ``mismatch`` depends on which captions are selected, so only the selection is per item.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from vlr_viz.imbalance.degrade_image import check_seed, check_severity, item_generators

TEXT_KINDS = ("word_dropout", "truncation", "word_replace", "coarsen", "mismatch")


def _check_captions(captions) -> list[list[str]]:
    if isinstance(captions, str) or not isinstance(captions, Sequence):
        raise TypeError(f"captions must be a list of strings; got {type(captions).__name__}")
    words = []
    for i, c in enumerate(captions):
        if not isinstance(c, str):
            raise TypeError(f"captions[{i}] must be a string; got {type(c).__name__}")
        w = c.split()
        if not w:
            raise ValueError(f"captions[{i}] is empty")
        words.append(w)
    return words


def caption_vocabulary(captions: Sequence[str]) -> list[str]:
    """Sorted distinct whitespace tokens of ``captions``."""
    return sorted({w for c in captions for w in c.split()})


def word_dropout(captions: Sequence[str], severity: float, seed: int = 0,
                 item_keys: Sequence | None = None) -> list[str]:
    """Drop each word with probability ``severity``; if all would go, keep the one with the largest uniform."""
    words = _check_captions(captions)
    s = check_severity(severity)
    gens = item_generators("word_dropout", seed, item_keys, len(words))
    if s == 0.0:
        return list(captions)
    out = []
    for w, g in zip(words, gens):
        u = g.random(len(w))
        keep = u >= s
        if not keep.any():
            keep[np.argmax(u)] = True
        out.append(" ".join(x for x, k in zip(w, keep) if k))
    return out


def truncate_captions(captions: Sequence[str], severity: float) -> list[str]:
    """Keep the first ``max(1, ceil((1 - severity) · n))`` words of each caption (deterministic)."""
    words = _check_captions(captions)
    s = check_severity(severity)
    if s == 0.0:
        return list(captions)
    # round before ceil so that e.g. (1 - 0.7) * 10 = 3.0000000000000004 keeps 3 words, not 4
    return [" ".join(w[: max(1, math.ceil(round((1.0 - s) * len(w), 9)))]) for w in words]


def replace_words(captions: Sequence[str], severity: float, seed: int = 0, item_keys: Sequence | None = None,
                  vocabulary: Sequence[str] | None = None) -> list[str]:
    """Replace each word with probability ``severity`` by another vocabulary word drawn uniformly."""
    words = _check_captions(captions)
    s = check_severity(severity)
    vocab = list(vocabulary) if vocabulary is not None else caption_vocabulary(captions)
    if not vocab or any(not isinstance(v, str) or not v.strip() or len(v.split()) != 1 for v in vocab):
        raise ValueError("vocabulary must be a non-empty list of single words")
    index = {v: i for i, v in enumerate(vocab)}
    gens = item_generators("word_replace", seed, item_keys, len(words))
    if s == 0.0:
        return list(captions)
    out = []
    for w, g in zip(words, gens):
        u, pick = g.random(len(w)), g.random(len(w))
        new = list(w)
        for j in np.flatnonzero(u < s):
            own = index.get(w[j])
            if own is None or len(vocab) == 1:
                new[j] = vocab[int(pick[j] * len(vocab))]
            else:  # uniform over the other len(vocab) - 1 words
                r = int(pick[j] * (len(vocab) - 1))
                new[j] = vocab[r + (r >= own)]
        out.append(" ".join(new))
    return out


def coarsen_captions(captions: Sequence[str], severity: float, labels, label_names: Sequence[str], seed: int = 0,
                     item_keys: Sequence | None = None) -> list[str]:
    """Replace each caption, with probability ``severity``, by ``label_names[labels[i]]`` (label -1: unchanged)."""
    words = _check_captions(captions)
    s = check_severity(severity)
    if labels is None or label_names is None:
        raise ValueError("coarsen needs labels (one per caption) and label_names")
    labels = np.asarray(labels)
    if labels.shape != (len(words),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {len(words)} integers, one per caption; got shape {labels.shape}")
    if labels.size and (labels.min() < -1 or labels.max() >= len(label_names)):
        raise ValueError(f"labels must lie in [-1, {len(label_names) - 1}] (label_names has {len(label_names)})")
    empty = [k for k, n in enumerate(label_names) if not str(n).strip()]
    if empty:
        raise ValueError(f"label_names[{empty[0]}] is empty")
    gens = item_generators("coarsen", seed, item_keys, len(words))
    if s == 0.0:
        return list(captions)
    return [label_names[y] if y >= 0 and g.random() < s else c for c, y, g in zip(captions, labels, gens)]


def mismatch_captions(captions: Sequence[str], severity: float, seed: int = 0, item_keys: Sequence | None = None,
                      txt_to_img=None) -> tuple[list[str], np.ndarray]:
    """Swap a fraction ``severity`` of captions among each other; returns ``(captions, perm)``, new[i] = old[perm[i]].

    Selected captions are grouped by image (``txt_to_img``; default: each caption its own image), the groups put
    in random order, and position ``p`` takes the caption at position ``p + g`` (cyclically) where ``g`` is the
    largest group: every selected caption then moves to another image unless one image holds more than half the
    selection. With fewer than two selected images nothing moves.
    """
    words = _check_captions(captions)
    s = check_severity(severity)
    m = len(words)
    img = np.arange(m) if txt_to_img is None else np.asarray(txt_to_img)
    if img.shape != (m,):
        raise ValueError(f"txt_to_img must have one entry per caption ({m}); got shape {img.shape}")
    gens = item_generators("mismatch", seed, item_keys, m)
    perm = np.arange(m, dtype=np.int64)
    if s == 0.0:
        return list(captions), perm
    draws = np.array([g.random(2) for g in gens]).reshape(m, 2)
    chosen = np.flatnonzero(draws[:, 0] < s)
    if np.unique(img[chosen]).size >= 2:
        order = chosen[np.argsort(draws[chosen, 1], kind="stable")]
        groups, first = np.unique(img[order], return_index=True)
        group_rank = np.empty(groups.size, dtype=np.int64)
        group_rank[np.argsort(first, kind="stable")] = np.arange(groups.size)
        order = order[np.argsort(group_rank[np.searchsorted(groups, img[order])], kind="stable")]
        shift = int(np.unique(img[order], return_counts=True)[1].max())
        perm[order] = order[(np.arange(order.size) + shift) % order.size]
    return [captions[j] for j in perm], perm


def degrade_captions(captions: Sequence[str], kind: str, severity: float, seed: int = 0,
                     item_keys: Sequence | None = None, labels=None, label_names=None, txt_to_img=None,
                     vocabulary=None) -> tuple[list[str], dict]:
    """Apply the caption degradation ``kind`` (one of :data:`TEXT_KINDS`); returns ``(captions, info)``.

    ``info`` has ``kind``, ``severity``, ``seed`` and, for ``"mismatch"``, ``permutation`` (new[i] = old[perm[i]])
    and ``mismatched_fraction`` (share of captions now on another image).
    """
    if kind not in TEXT_KINDS:
        raise ValueError(f"unknown text degradation kind {kind!r}; known kinds: {', '.join(TEXT_KINDS)}")
    s = check_severity(severity)
    seed = check_seed(seed)
    info = {"kind": kind, "severity": s, "seed": seed}
    if kind == "word_dropout":
        out = word_dropout(captions, s, seed, item_keys)
    elif kind == "truncation":
        out = truncate_captions(captions, s)
    elif kind == "word_replace":
        out = replace_words(captions, s, seed, item_keys, vocabulary=vocabulary)
    elif kind == "coarsen":
        out = coarsen_captions(captions, s, labels, label_names, seed, item_keys)
    else:
        out, perm = mismatch_captions(captions, s, seed, item_keys, txt_to_img=txt_to_img)
        img = np.arange(len(out)) if txt_to_img is None else np.asarray(txt_to_img)
        info["permutation"] = perm
        info["mismatched_fraction"] = float(np.mean(img[perm] != img)) if len(out) else 0.0
    return out, info
