"""The `PairSet`: images, captions and the caption→image map that every stage of vlr_viz passes around."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arrays import first_caption_of_image
from .feature_arrays import Features
from .sources import ArrayImages, ImageSource

PER_IMAGE_META = ("chars", "weak_text")
"""``meta`` keys holding one entry per image (e.g. the emoji character); `PairSet.subset` subsets them."""
PER_CAPTION_META = ("caption_weak", "caption_source")
"""``meta`` keys holding one entry per caption (e.g. whether it carries content); `PairSet.subset` subsets them."""


@dataclass
class PairSet:
    """An image-caption dataset: what its items are, and where their images, captions or features come from.

    Attributes:
        images: the images: a uint8 array ``(N, H, W, 3)`` held in memory (Twemoji), an
            `~vlr_viz.data.sources.ImageSource` that reads them on demand (files, tar shards), or ``None`` for a
            dataset of precomputed features only.
        captions: ``M`` caption strings, or ``None`` when only their features are known.
        txt_to_img: int64 array ``(M,)``: the image each caption describes (several captions may share one image).
        labels: int64 array ``(N,)``: category id per image, ``-1`` where unknown.
        label_names: name of each category id.
        family: int64 array ``(N,)``: near-duplicate group of each image (skin-tone, gender, hair variants of
            one emoji share a family); splits never cut a family.
        image_ids: stable string id per image.
        caption_ids: stable string id per caption.
        name: dataset name (and split), used in cache keys and figure titles.
        meta: free-form facts (source, licence); lists under `PER_IMAGE_META` keys run parallel to the images, under
            `PER_CAPTION_META` keys parallel to the captions.
        features: precomputed `Features` (e.g. CLIP features shipped with a dataset); `vlr_viz.features.load_features`
            returns them instead of running an encoder.
    """

    images: object
    captions: list[str] | None
    txt_to_img: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    family: np.ndarray
    image_ids: list[str]
    caption_ids: list[str]
    name: str = "pairs"
    meta: dict = field(default_factory=dict)
    features: Features | None = None

    def __post_init__(self) -> None:
        self.txt_to_img = np.asarray(self.txt_to_img, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.family = np.asarray(self.family, dtype=np.int64)
        if self.captions is not None:
            self.captions = list(self.captions)
        self.validate()

    @property
    def n_images(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_captions(self) -> int:
        return int(self.txt_to_img.shape[0])

    @property
    def lazy(self) -> bool:
        """Whether images are read on demand (an `ImageSource`) rather than held in one array."""
        return isinstance(self.images, ImageSource) and not isinstance(self.images, ArrayImages)

    @property
    def caption_labels(self) -> np.ndarray:
        """Category id of each caption (its image's label)."""
        return self.labels[self.txt_to_img]

    def first_caption_of_image(self) -> np.ndarray:
        """Index of the first caption of each image, shape ``(N,)``."""
        return first_caption_of_image(self.txt_to_img, self.n_images)

    def image_names(self) -> list[str]:
        """A name per image for tables and hovers: its first caption, or its id where it has none (or the dataset
        holds only caption features)."""
        first = self.first_caption_of_image()
        return [self.captions[c] if self.captions is not None and c >= 0 else self.image_ids[i]
                for i, c in enumerate(first)]

    def require_captions(self, why: str) -> list[str]:
        """The captions, or ``ValueError`` saying that ``why`` needs them and this dataset has none."""
        if self.captions is None:
            raise ValueError(f"{self.name}: {why} needs the caption texts, and this dataset has only their features")
        return self.captions

    def require_images(self, why: str):
        """The images (array or source), or ``ValueError`` saying that ``why`` needs them."""
        if self.images is None:
            raise ValueError(f"{self.name}: {why} needs the images, and this dataset has only their features")
        return self.images

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent field or item."""
        n, m = self.n_images, self.n_captions
        if self.images is None and self.features is None:
            raise ValueError(f"{self.name}: a dataset needs images or precomputed features")
        if isinstance(self.images, np.ndarray):
            if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
                raise ValueError(f"{self.name}: images must be a uint8 array (N, H, W, 3); "
                                 f"got {self.images.dtype} {self.images.shape}")
        elif self.images is not None and not isinstance(self.images, ImageSource):
            raise ValueError(f"{self.name}: images must be a uint8 array or an ImageSource; "
                             f"got {type(self.images).__name__}")
        if self.images is not None and len(self.images) != n:
            raise ValueError(f"{self.name}: {len(self.images)} images but {n} labels")
        if self.txt_to_img.ndim != 1:
            raise ValueError(f"{self.name}: txt_to_img must be 1-D; got shape {self.txt_to_img.shape}")
        if self.captions is not None and len(self.captions) != m:
            raise ValueError(f"{self.name}: txt_to_img has {m} entries but there are {len(self.captions)} captions")
        if m and (self.txt_to_img.min() < 0 or self.txt_to_img.max() >= n):
            bad = int(np.flatnonzero((self.txt_to_img < 0) | (self.txt_to_img >= n))[0])
            raise ValueError(
                f"{self.name}: txt_to_img[{bad}] = {self.txt_to_img[bad]} is out of range for {n} images"
            )
        for i, c in enumerate(self.captions or ()):
            if not isinstance(c, str) or not c.strip():
                cid = self.caption_ids[i] if i < len(self.caption_ids) else i
                raise ValueError(f"{self.name}: caption {i} ({cid!r}) is empty")
        for fld in ("labels", "family"):
            if getattr(self, fld).shape != (n,):
                raise ValueError(f"{self.name}: {fld} has shape {getattr(self, fld).shape}, expected ({n},)")
        if len(self.image_ids) != n or len(self.caption_ids) != m:
            raise ValueError(f"{self.name}: need {n} image_ids and {m} caption_ids")
        if n and self.labels.max() >= len(self.label_names):
            raise ValueError(f"{self.name}: label id {self.labels.max()} has no entry in label_names")
        if self.features is not None:
            self.features.check(n, m, self.name)

    def subset(self, image_indices, name: str | None = None) -> "PairSet":
        """The pairs of the given images (all their captions), re-indexed; order follows ``image_indices``."""
        idx = np.asarray(image_indices, dtype=np.int64)
        remap = np.full(self.n_images, -1, dtype=np.int64)
        remap[idx] = np.arange(idx.size)
        keep = np.flatnonzero(remap[self.txt_to_img] >= 0)
        keep = keep[np.argsort(remap[self.txt_to_img[keep]], kind="stable")]
        if self.images is None:
            images = None
        else:
            images = self.images[idx] if isinstance(self.images, np.ndarray) else self.images.subset(idx)
        return PairSet(
            images=images,
            captions=None if self.captions is None else [self.captions[i] for i in keep],
            txt_to_img=remap[self.txt_to_img[keep]],
            labels=self.labels[idx],
            label_names=list(self.label_names),
            family=self.family[idx],
            image_ids=[self.image_ids[i] for i in idx],
            caption_ids=[self.caption_ids[i] for i in keep],
            name=name or self.name,
            meta={k: self._subset_meta(k, v, idx, keep) for k, v in self.meta.items()},
            features=None if self.features is None else self.features.subset(idx, keep),
        )

    def _subset_meta(self, key: str, value, idx: np.ndarray, keep: np.ndarray):
        """A ``meta`` entry of the subset: per-image and per-caption lists follow their items."""
        if key in PER_IMAGE_META and value is not None and len(value) == self.n_images:
            return [value[i] for i in idx]
        if key in PER_CAPTION_META and value is not None and len(value) == self.n_captions:
            return [value[i] for i in keep]
        return value
