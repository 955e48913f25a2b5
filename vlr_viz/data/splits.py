"""Deterministic train/val/test splits by family, so near-duplicates never straddle a split."""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConfigError
from ..eval.cutoffs import RECALL_KS

SPLITS = ("train", "val", "test")


class SmallSplitWarning(UserWarning):
    """A split made by fractions is too small to evaluate with Recall@K (`warn_if_too_small_to_evaluate`)."""


def family_split(family: np.ndarray, n_test: int = 1000, n_val: int = 500, seed: int = 0) -> dict[str, np.ndarray]:
    """Assign whole families to test, then val, until each holds at least ``n_test`` / ``n_val`` items.

    Families are visited in a seeded random order of their sorted ids; the rest is train. Returns sorted item
    indices per split. No family appears in two splits.
    """
    family = np.asarray(family)
    ids, inverse = np.unique(family, return_inverse=True)
    if n_test + n_val >= family.size:
        raise ValueError(f"n_test + n_val = {n_test + n_val} leaves no training items out of {family.size}")
    order = np.random.default_rng(seed).permutation(ids.size)
    sizes = np.bincount(inverse, minlength=ids.size)
    assign = np.full(ids.size, 0)  # 0 train, 1 val, 2 test
    filled = {2: 0, 1: 0}
    for fam in order:
        for split, target in ((2, n_test), (1, n_val)):
            if filled[split] < target:
                assign[fam] = split
                filled[split] += sizes[fam]
                break
        else:
            break
    item_split = assign[inverse]
    return {name: np.flatnonzero(item_split == code) for name, code in (("train", 0), ("val", 1), ("test", 2))}


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def fraction_split(family: np.ndarray, val_fraction: float, test_fraction: float, seed: int = 0,
                   name: str = "the dataset") -> dict[str, np.ndarray]:
    """`family_split` with the val and test sizes given as fractions of the items (each at least one item when
    its fraction is positive). `ConfigError` naming ``name``, its size and the fractions when they leave no item
    for train."""
    n = len(family)
    for frac_name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{frac_name} must lie in [0, 1), got {frac!r}")
    count = lambda frac: 0 if frac == 0 else max(1, round(frac * n))
    n_val, n_test = count(val_fraction), count(test_fraction)
    takes = " and ".join(f"{s}_fraction {frac} takes {k}" for s, frac, k in (
        ("val", val_fraction, n_val), ("test", test_fraction, n_test)) if frac > 0)
    if n_val + n_test >= n:
        raise ConfigError(f"{name} has {_images(n)}: {takes}, which leaves none for train; lower the fractions or "
                          "add images")
    out = family_split(family, n_test, n_val, seed=seed)
    if not out["train"].size:
        raise ConfigError(f"{name} has {_images(n)} in {len(np.unique(family))} families: {takes}, and as families "
                          "are kept whole every family went to val or test, which leaves none for train")
    return out


def warn_if_too_small_to_evaluate(pairs, split: str, name: str, val_fraction: float, test_fraction: float) -> None:
    """Warn, naming ``name``, the split, its size and the fractions, when a split made by fractions holds fewer
    images than the largest cut-off of Recall@K (`vlr_viz.eval.cutoffs.RECALL_KS`): training selects its epoch on
    the val split's R@K and reports the test split's, and neither can rank that deep."""
    k = max(RECALL_KS)
    if pairs.n_images < k:
        warnings.warn(f"{name}: its {split} split holds {_images(pairs.n_images)} (val_fraction {val_fraction}, "
                      f"test_fraction {test_fraction}), fewer than the {k} that R@{k} ranks, so evaluating it fails; "
                      f"raise {split}_fraction (--{split}-fraction) or add images", SmallSplitWarning, stacklevel=3)
