"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 real 28×28 greyscale photos of clothing in 10 classes.

The images come from Debian's ``dataset-fashion-mnist`` package (IDX files under
``/usr/share/datasets/fashion-mnist/``; ``apt-get install dataset-fashion-mnist``) or any folder holding the four
``*-idx?-ubyte(.gz)`` files. Splits: the 60,000 training images (of which a seeded twelfth, 5,000, form ``val``) and
the 10,000 test images.

The captions are made from the class name with five templates (``"a photo of a sneaker"``, ...), one per image in
turn: the text side is coarse (50 distinct captions; a caption says the class and nothing else), so caption→caption
retrieval is trivial and every relevance here is the class. Use it to measure scale (time, memory), not text
understanding. The images are MIT-licensed (Zalando Research).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .pairs import PairSet
from .sources import ArrayImages

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
TEMPLATES = ("a photo of {a} {c}", "{a} {c}", "a picture of {a} {c}", "a product photo of {a} {c}",
             "a greyscale photo of {a} {c}")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
VAL_SHARE = 12
"""One training image in 12 (5,000 of 60,000) goes to ``val``."""


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (LeCun's MNIST format: magic ``0x0000 08 D``, D big-endian int32 sizes, uint8 data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataFormatError(f"cannot read IDX file {path}: {e}") from e
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DataFormatError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataFormatError(f"{path}: header says {shape} ({int(np.prod(shape))} bytes), body has {body.size}")
    return body.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataFormatError(f"{folder} has no {stem}(.gz); install Debian's dataset-fashion-mnist or pass the folder")


def caption_of(label: int, index: int) -> str:
    name = CLASSES[label]
    return TEMPLATES[index % len(TEMPLATES)].format(a="an" if name[0] in "aeiou" else "a", c=name)


def load_fashion_mnist(folder=DEFAULT_DIR):
    """``(PairSet of all 70,000 images, split of each image)`` (module docstring)."""
    folder = Path(folder)
    images, labels, splits = [], [], []
    for split, (img_stem, lab_stem) in FILES.items():
        x, y = read_idx(_find(folder, img_stem)), read_idx(_find(folder, lab_stem))
        if x.ndim != 3 or y.shape != (x.shape[0],) or (y >= len(CLASSES)).any():
            raise DataFormatError(f"{folder}: {img_stem} {x.shape} and {lab_stem} {y.shape} do not match")
        images.append(x)
        labels.append(y.astype(np.int64))
        part = np.full(x.shape[0], split, dtype=object)
        if split == "train":
            part[np.random.default_rng(0).choice(x.shape[0], x.shape[0] // VAL_SHARE, replace=False)] = "val"
        splits.append(part)
    x, y = np.concatenate(images), np.concatenate(labels)
    n = x.shape[0]
    ids = [f"fashion-mnist:{split}{i}" for split, part in zip(FILES, images) for i in range(part.shape[0])]
    pairs = PairSet(images=ArrayImages(x), captions=[caption_of(int(y[i]), i) for i in range(n)],
                    txt_to_img=np.arange(n), labels=y, label_names=list(CLASSES), family=np.arange(n),
                    image_ids=ids, caption_ids=[f"{i}#0" for i in ids], name="fashion-mnist",
                    meta={"source": str(folder), "licence": "MIT (Zalando Research)"})
    return pairs, np.concatenate(splits).astype(str)
