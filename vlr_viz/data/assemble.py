"""Turning ``(image, caption[, category])`` rows into a `PairSet`: the one place every row-based loader ends."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .pairs import PairSet
from .tables import existing_file, inside


class PairRows:
    """Collects rows; several rows may name the same image (several captions per image).

    ``add(image_key, caption, category, where)`` checks the caption is not empty and the image's category does not
    conflict with an earlier row, naming ``where`` (e.g. ``"captions.tsv:12"``) otherwise.
    """

    def __init__(self):
        self.checked: dict[str, Path] = {}
        self.index: dict[str, int] = {}
        self.captions: list[str] = []
        self.txt_to_img: list[int] = []
        self.categories: dict[int, tuple[str, str]] = {}

    def add(self, image_key: str, caption: str, category: str | None, where: str) -> None:
        caption = caption.strip()
        if not caption:
            raise DataFormatError(f"{where}: empty caption for image {image_key}")
        idx = self.index.setdefault(image_key, len(self.index))
        if category:
            known = self.categories.get(idx)
            if known is not None and known[0] != category:
                raise DataFormatError(f"{where}: image {image_key} has category {category!r} here but "
                                      f"{known[0]!r} at {known[1]}")
            self.categories.setdefault(idx, (category, where))
        self.captions.append(caption)
        self.txt_to_img.append(idx)

    def image_file(self, root: Path, relative: str, where: str, allow_outside: bool = False) -> Path:
        """``root / relative`` after checking (once per path) that it is not empty, stays inside ``root`` unless
        ``allow_outside``, and names a file (`existing_file`); `DataFormatError` naming ``where`` otherwise."""
        if relative not in self.checked:
            if not relative:
                raise DataFormatError(f"{where}: empty image path")
            self.checked[relative] = existing_file(inside(root, relative, where, allow_outside), where)
        return self.checked[relative]

    @property
    def image_keys(self) -> list[str]:
        return list(self.index)

    def build(self, name: str, images, image_ids: list[str] | None = None, meta: dict | None = None,
              label_names: list[str] | None = None) -> PairSet:
        """The `PairSet` of the rows (``images`` must follow `image_keys` order; category names sorted unless
        ``label_names`` fixes their order)."""
        keys = self.image_keys
        names = label_names if label_names is not None else sorted({c for c, _ in self.categories.values()})
        position = {c: i for i, c in enumerate(names)}
        labels = np.array([position[self.categories[i][0]] if i in self.categories else -1 for i in range(len(keys))],
                          dtype=np.int64)
        ids = image_ids or keys
        caption_ids = [f"{ids[j]}#{k}" for j, k in zip(self.txt_to_img, _occurrence(self.txt_to_img))]
        return PairSet(images=images, captions=self.captions, txt_to_img=np.asarray(self.txt_to_img, np.int64),
                       labels=labels, label_names=list(names), family=np.arange(len(keys)), image_ids=list(ids),
                       caption_ids=caption_ids, name=name, meta=meta or {})


def _occurrence(txt_to_img: list[int]) -> list[int]:
    """For each caption, how many earlier captions share its image (``0`` for the first)."""
    seen: dict[int, int] = {}
    out = []
    for j in txt_to_img:
        out.append(seen.get(j, 0))
        seen[j] = out[-1] + 1
    return out
