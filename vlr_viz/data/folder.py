"""A user's own image-caption pairs: a folder of images and a ``captions.tsv`` beside them."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .images import read_images
from .pairs import PairSet


def load_image_caption_folder(folder, size: int = 72, captions_file: str = "captions.tsv") -> PairSet:
    """Load ``folder/captions.tsv`` with rows ``image_file<TAB>caption[<TAB>category]``.

    Several rows may name the same image (several captions per image). Images are resized to ``size``.
    Errors name the file and line: a missing or unreadable image, an empty caption, a malformed row.
    """
    folder = Path(folder)
    table = folder / captions_file
    if not table.exists():
        raise ValueError(f"{table} does not exist")
    image_index: dict[str, int] = {}
    captions, txt_to_img, categories = [], [], {}
    with open(table, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{table}:{line_no}: expected 'image<TAB>caption[<TAB>category]', got {row!r}")
            image, caption = row[0].strip(), row[1].strip()
            if not caption:
                raise ValueError(f"{table}:{line_no}: empty caption for image {image}")
            idx = image_index.setdefault(image, len(image_index))
            if len(row) > 2 and row[2].strip():
                categories[idx] = row[2].strip()
            captions.append(caption)
            txt_to_img.append(idx)
    names = list(image_index)
    images = read_images([folder / n for n in names], size=size)
    label_names = sorted(set(categories.values()))
    labels = np.array([label_names.index(categories[i]) if i in categories else -1 for i in range(len(names))])
    return PairSet(
        images=images, captions=captions, txt_to_img=np.array(txt_to_img), labels=labels,
        label_names=label_names, family=np.arange(len(names)), image_ids=names,
        caption_ids=[f"{names[j]}#{k}" for k, j in enumerate(txt_to_img)], name=folder.name,
    )
