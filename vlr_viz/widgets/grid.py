"""The feature grid of the imbalance explorer: teacher features of one set of pairs at several degradation levels.

Degradations are precomputed (`build_feature_grid`, the encoders' disk cache making later builds instant), so no
control re-runs an encoder; ``"feature_noise"`` (`vlr_viz.imbalance.feature_noise`) is the instant option at any
severity.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

NONE = "none"
FEATURE_NOISE = "feature_noise"
NOISE_LEVELS = tuple(float(s) for s in np.round(np.linspace(0.0, 1.0, 11), 2))
MODALITIES = ("image", "text")


def _grid_key(key) -> tuple[str, float]:
    if not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[0], str):
        raise ValueError(f"grid keys must be (kind, severity) tuples; got {key!r}")
    return key[0], round(float(key[1]), 6)


@dataclass
class FeatureGrid:
    """Teacher features of one set of pairs at several degradation levels.

    Attributes:
        image: ``{(kind, severity): (N, Dv) array}``; must hold the clean ``("none", 0.0)``.
        text: ``{(kind, severity): (M, Dt) array}``; must hold ``("none", 0.0)``.
        txt_to_img: image of each caption ``(M,)``.
        labels: category id per image ``(N,)``; label_names: the category names.
        captions, chars: caption strings and one emoji character per image (hover text), optional.
        name: shown in titles.
    """

    image: dict
    text: dict
    txt_to_img: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    captions: list[str] | None = None
    chars: list[str] | None = None
    name: str = "pairs"
    _noise_cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.txt_to_img = np.asarray(self.txt_to_img, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n, m = self.labels.size, self.txt_to_img.size
        for modality, rows in (("image", n), ("text", m)):
            grid = {_grid_key(k): np.asarray(v, dtype=np.float32) for k, v in getattr(self, modality).items()}
            if (NONE, 0.0) not in grid:
                raise ValueError(f"the {modality} grid needs the clean entry ('none', 0.0)")
            dims = {v.shape[1] for v in grid.values() if v.ndim == 2}
            for key, v in grid.items():
                if v.ndim != 2 or v.shape[0] != rows or len(dims) != 1:
                    raise ValueError(f"{modality} grid entry {key} must be ({rows}, D) with one D for all levels; "
                                     f"got {v.shape}")
            setattr(self, modality, grid)
        if m and (self.txt_to_img.min() < 0 or self.txt_to_img.max() >= n):
            raise ValueError(f"txt_to_img must map captions to images in [0, {n})")
        if self.captions is not None and len(self.captions) != m:
            raise ValueError(f"captions has {len(self.captions)} entries for {m} captions")
        if self.chars is not None and len(self.chars) != n:
            raise ValueError(f"chars has {len(self.chars)} entries for {n} images")

    @property
    def n_images(self) -> int:
        return int(self.labels.size)

    def kinds(self, modality: str) -> list[str]:
        """``"none"``, the precomputed kinds, then ``"feature_noise"``."""
        grid = self._grid(modality)
        return [NONE] + sorted({k for k, _ in grid} - {NONE}) + [FEATURE_NOISE]

    def severities(self, modality: str, kind: str) -> list[float]:
        if kind == NONE:
            return [0.0]
        if kind == FEATURE_NOISE:
            return list(NOISE_LEVELS)
        levels = sorted(s for k, s in self._grid(modality) if k == kind)
        if not levels:
            raise ValueError(f"the {modality} grid has no kind {kind!r}; it has {', '.join(self.kinds(modality))}")
        return levels

    def features(self, modality: str, kind: str, severity: float, seed: int = 0) -> np.ndarray:
        """The cached features of ``(kind, severity)``; ``"feature_noise"`` is computed from the clean features
        (and memoised)."""
        grid = self._grid(modality)
        sev = round(float(severity), 6)
        if kind == NONE or sev == 0.0:
            return grid[(NONE, 0.0)]
        if kind == FEATURE_NOISE:
            from vlr_viz.imbalance import feature_noise

            key = (modality, sev, seed)
            if key not in self._noise_cache:
                self._noise_cache[key] = feature_noise(grid[(NONE, 0.0)], sev, seed=seed)
            return self._noise_cache[key]
        if (kind, sev) not in grid:
            raise ValueError(f"{modality} level {(kind, sev)} is not on the grid; "
                             f"severities of {kind!r}: {self.severities(modality, kind)}")
        return grid[(kind, sev)]

    def subset(self, image_indices, name: str | None = None) -> "FeatureGrid":
        """The grid of the given images and all their captions (re-indexed, in the order given), e.g. to split
        one grid into training and evaluation parts."""
        idx = np.asarray(image_indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= self.n_images)):
            raise ValueError(f"image_indices must be indices into the {self.n_images} images")
        remap = np.full(self.n_images, -1, dtype=np.int64)
        remap[idx] = np.arange(idx.size)
        keep = np.flatnonzero(remap[self.txt_to_img] >= 0)
        keep = keep[np.argsort(remap[self.txt_to_img[keep]], kind="stable")]
        return FeatureGrid(image={k: v[idx] for k, v in self.image.items()},
                           text={k: v[keep] for k, v in self.text.items()},
                           txt_to_img=remap[self.txt_to_img[keep]], labels=self.labels[idx],
                           label_names=list(self.label_names),
                           captions=None if self.captions is None else [self.captions[j] for j in keep],
                           chars=None if self.chars is None else [self.chars[i] for i in idx],
                           name=name or self.name)

    def _grid(self, modality: str) -> dict:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be 'image' or 'text'; got {modality!r}")
        return getattr(self, modality)


def build_feature_grid(pairs, encode_fn: Callable, image_levels: Mapping[str, Sequence[float]] | None = None,
                       text_levels: Mapping[str, Sequence[float]] | None = None, seed: int = 0) -> FeatureGrid:
    """Encode ``pairs`` clean and at each ``{kind: [severities]}`` level with `vlr_viz.imbalance.degrade_pairs`.

    ``encode_fn(pairs) -> features`` with ``.image`` and ``.text`` (e.g. ``lambda p: load_features(p,
    cache_dir=...)``: cached on disk, so a rebuild is instant). An image level keeps the clean text features and
    a text level the clean image features.
    """
    from vlr_viz.imbalance import degrade_pairs

    clean = encode_fn(pairs)
    image, text = {(NONE, 0.0): np.asarray(clean.image)}, {(NONE, 0.0): np.asarray(clean.text)}
    for modality, levels, out in (("image", image_levels, image), ("text", text_levels, text)):
        for kind, sevs in (levels or {}).items():
            for s in sevs:
                if float(s) == 0.0:
                    continue
                spec = {"image": (kind, float(s)), "text": None} if modality == "image" else \
                    {"image": None, "text": (kind, float(s))}
                feats = encode_fn(degrade_pairs(pairs, seed=seed, **spec))
                out[(kind, float(s))] = np.asarray(getattr(feats, modality))
    chars = pairs.meta.get("chars")
    return FeatureGrid(image=image, text=text, txt_to_img=pairs.txt_to_img, labels=pairs.labels,
                       label_names=list(pairs.label_names), captions=list(pairs.captions),
                       chars=list(chars) if chars is not None and len(chars) == pairs.n_images else None,
                       name=pairs.name)
