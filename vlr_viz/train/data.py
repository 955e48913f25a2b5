"""What the trainer eats: `PairFeatures` (student inputs + teacher features), caption batches and the probe subset."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..arrays import first_caption_of_image


def _rows(x, name: str):
    """A torch tensor view of a numpy array or tensor with at least one dimension."""
    if not isinstance(x, torch.Tensor):
        x = np.ascontiguousarray(x)
        x = torch.from_numpy(x if x.flags.writeable else x.copy())  # e.g. a memory-mapped feature file
    t = x
    if t.ndim < 1:
        raise ValueError(f"{name} must have a first (item) dimension, got a scalar")
    return t


@dataclass
class PairFeatures:
    """One split: student inputs, frozen teacher features and the caption → image map.

    Attributes:
        image: ``(N, ...)`` student image inputs (cached backbone features ``(N, Di)``, or pixels for an
            end-to-end student).
        text: ``(M, ...)`` student text inputs (features ``(M, Dt)``, or token ids).
        txt_to_img: ``(M,)`` image of each caption.
        teacher_image: ``(N, Da)`` vision-teacher features ``a``; ``None`` means ``image`` serves as teacher too
            (the default: student backbone and teacher come from the same cached features).
        teacher_text: ``(M, Db)`` text-teacher features ``b``; ``None`` means ``text``.
        labels: optional ``(N,)`` category per image (orders the probe; ``-1`` unknown).
        name: split name for messages.
    """

    image: object
    text: object
    txt_to_img: object
    teacher_image: object = None
    teacher_text: object = None
    labels: object = None
    name: str = "split"

    def __post_init__(self) -> None:
        self.image = _rows(self.image, f"{self.name}.image")
        self.text = _rows(self.text, f"{self.name}.text")
        self.txt_to_img = _rows(self.txt_to_img, f"{self.name}.txt_to_img").long()
        n, m = self.image.shape[0], self.text.shape[0]
        if tuple(self.txt_to_img.shape) != (m,):
            raise ValueError(f"{self.name}.txt_to_img must have shape ({m},), got {tuple(self.txt_to_img.shape)}")
        if m == 0 or n == 0:
            raise ValueError(f"{self.name} has no images or no captions")
        if self.txt_to_img.min() < 0 or self.txt_to_img.max() >= n:
            raise ValueError(f"{self.name}.txt_to_img has entries outside [0, {n})")
        for attr, rows, like in (("teacher_image", n, "image"), ("teacher_text", m, "text")):
            x = getattr(self, attr)
            x = getattr(self, like) if x is None else _rows(x, f"{self.name}.{attr}")
            if x.ndim != 2 or x.shape[0] != rows or not x.is_floating_point():
                raise ValueError(f"{self.name}.{attr} must be float ({rows}, D), got {x.dtype} {tuple(x.shape)}")
            if not torch.isfinite(x).all():
                raise ValueError(f"{self.name}.{attr} contains NaN or inf (row "
                                 f"{int(torch.nonzero(~torch.isfinite(x).all(1))[0])})")
            setattr(self, attr, x.float())
        for attr in ("image", "text"):
            x = getattr(self, attr)
            if x.is_floating_point():
                if not torch.isfinite(x).all():
                    raise ValueError(f"{self.name}.{attr} contains NaN or inf")
                setattr(self, attr, x.float())
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if self.labels.shape != (n,):
                raise ValueError(f"{self.name}.labels must have shape ({n},), got {self.labels.shape}")

    n_images = property(lambda self: int(self.image.shape[0]), doc="Number of images (rows of ``image``).")
    n_captions = property(lambda self: int(self.text.shape[0]), doc="Number of captions (rows of ``text``).")

    @classmethod
    def from_features(cls, features, pairs, name: str | None = None) -> "PairFeatures":
        """From `vlr_viz.features.Features` and its `PairSet` (the features serve as student input and teacher)."""
        return cls(features.image, features.text, pairs.txt_to_img, labels=pairs.labels,
                   name=name or pairs.name)

    def dims(self) -> dict:
        """Shapes a checkpoint must agree with."""
        return {"image": list(self.image.shape[1:]), "text": list(self.text.shape[1:]),
                "teacher_image": int(self.teacher_image.shape[1]), "teacher_text": int(self.teacher_text.shape[1])}


def caption_batches(n_captions: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Caption indices of each batch of one epoch: a seeded permutation cut into full batches (rest dropped).

    The permutation depends only on ``(seed, epoch)``, so a resumed run and every distributed rank see the
    same global batches.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n_captions, generator=g)
    n_full = n_captions // batch_size
    return list(perm[: n_full * batch_size].view(n_full, batch_size))


def select_probe(txt_to_img, labels=None, n: int = 48, seed: int = 0) -> np.ndarray:
    """Caption indices of a fixed probe subset: ``n`` images (first caption each), spread over categories.

    Images are taken round-robin over categories (a seeded order inside each), then sorted by (category,
    image index) so relation matrices show category blocks. Without labels: ``n`` evenly spaced images.
    """
    txt_to_img = np.asarray(txt_to_img, dtype=np.int64)
    first = first_caption_of_image(txt_to_img)
    has_caption = np.flatnonzero(first >= 0)
    n = min(n, has_caption.size)
    if labels is None:
        images = has_caption[np.linspace(0, has_caption.size - 1, n).round().astype(np.int64)]
        return first[np.unique(images)]
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(has_caption[labels[has_caption] == c])) for c in np.unique(labels[has_caption])]
    chosen: list[int] = []
    while len(chosen) < n:
        for q in queues:
            if q and len(chosen) < n:
                chosen.append(int(q.pop(0)))
    chosen_arr = np.array(chosen, dtype=np.int64)
    chosen_arr = chosen_arr[np.lexsort((chosen_arr, labels[chosen_arr]))]
    return first[chosen_arr]
