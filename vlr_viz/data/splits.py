"""Deterministic train/val/test splits by family, so near-duplicates never straddle a split."""
from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


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


def fraction_split(family: np.ndarray, val_fraction: float, test_fraction: float, seed: int = 0
                   ) -> dict[str, np.ndarray]:
    """`family_split` with the val and test sizes given as fractions of the items (each at least one item when
    its fraction is positive)."""
    n = len(family)
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {frac!r}")
    count = lambda frac: 0 if frac == 0 else max(1, round(frac * n))
    return family_split(family, count(test_fraction), count(val_fraction), seed=seed)
