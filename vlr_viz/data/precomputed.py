"""Precomputed features: a dataset shipped as feature arrays, no image or caption needed.

``features:DIR`` reads ``DIR/train``, ``DIR/val`` and ``DIR/test``, each holding::

    image.npy        (N, Di) float   image features (memory-mapped)
    text.npy         (M, Dt) float   caption features (memory-mapped)
    txt_to_img.npy   (M,)    int     the image of each caption (every image needs at least one)
    labels.npy       (N,)    int     optional: a category per image (-1 unknown), for category relevance
    captions.txt     M lines         optional: the caption texts (UTF-8), for ROUGE-L relevance and hover text
    label_names.txt  lines           optional: one name per category id
    meta.json                        optional: {"image_model": "...", "text_model": "..."}, the encoders' names
                                     (UTF-8 JSON)

This is how features of COCO or Flickr30k made by a CLIP/BLIP model are usually shared; training, evaluation and
the notebooks then run on the arrays alone. Every array is checked when loaded (shapes, the caption map's range,
NaN or infinite rows); errors name the file and the row.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..arrays import check_finite_rows
from ..errors import DataFormatError
from .feature_arrays import Features
from .pairs import PairSet
from .tables import read_json

FEATURE_FILES = ("image.npy", "text.npy", "txt_to_img.npy")


def _load_npy(path: Path, mmap: bool):
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataFormatError(f"cannot read {path}: {e}") from e


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"cannot read {path} as UTF-8 text: {e}") from e


def _meta(path: Path) -> dict:
    """The encoders' names of ``meta.json``: a JSON object whose ``image_model`` and ``text_model``, where given,
    are non-empty strings."""
    meta = read_json(path, "feature metadata")
    if not isinstance(meta, dict):
        raise DataFormatError(f"{path}: expected a JSON object such as {{\"image_model\": \"...\", \"text_model\": "
                              f"\"...\"}}, got {json.dumps(meta)[:40]}")
    for key in ("image_model", "text_model"):
        if key in meta and (not isinstance(meta[key], str) or not meta[key].strip()):
            raise DataFormatError(f"{path}: {key} must be a non-empty string, got {json.dumps(meta[key])[:40]}")
    return meta


def load_precomputed_split(folder, name: str | None = None) -> PairSet:
    """The `PairSet` of one split folder (module docstring), its features memory-mapped."""
    folder = Path(folder)
    missing = [f for f in FEATURE_FILES if not (folder / f).is_file()]
    if missing:
        raise DataFormatError(f"{folder} lacks {missing} (a precomputed split needs {list(FEATURE_FILES)})")
    image, text = _load_npy(folder / "image.npy", True), _load_npy(folder / "text.npy", True)
    t2i = _load_npy(folder / "txt_to_img.npy", False)
    for fname, x in (("image.npy", image), ("text.npy", text)):
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating) or x.shape[0] == 0:
            raise DataFormatError(f"{folder / fname} must be a non-empty float (rows, dim) array; got {x.dtype} "
                                  f"{x.shape}")
    n, m = image.shape[0], text.shape[0]
    if t2i.shape != (m,) or not np.issubdtype(t2i.dtype, np.integer):
        raise DataFormatError(f"{folder / 'txt_to_img.npy'} must be an integer array of {m} entries (one per row of "
                              f"text.npy); got {t2i.dtype} {t2i.shape}")
    bad = np.flatnonzero((t2i < 0) | (t2i >= n))
    if bad.size:
        raise DataFormatError(f"{folder / 'txt_to_img.npy'}: row {bad[0]} maps caption {bad[0]} to image "
                              f"{t2i[bad[0]]}, outside the {n} rows of image.npy")
    alone = np.flatnonzero(np.bincount(t2i.astype(np.int64), minlength=n) == 0)
    if alone.size:
        raise DataFormatError(f"{folder / 'txt_to_img.npy'}: {alone.size} of the {n} images of split "
                              f"'{folder.name}' have no caption (no row maps to image {alone[0]}"
                              f"{' ...' if alone.size > 1 else ''}); every image needs at least one")
    for fname, x in (("image.npy", image), ("text.npy", text)):
        try:
            check_finite_rows(x, str(folder / fname))
        except ValueError as e:
            raise DataFormatError(str(e)) from None
    labels = np.full(n, -1, dtype=np.int64)
    if (folder / "labels.npy").is_file():
        labels = _load_npy(folder / "labels.npy", False)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise DataFormatError(f"{folder / 'labels.npy'} must be an integer array of {n} entries (one per image)")
    names_file = folder / "label_names.txt"
    label_names = _lines(names_file) if names_file.is_file() else [str(c) for c in range(int(labels.max()) + 1)]
    if labels.max() >= len(label_names):
        raise DataFormatError(f"{names_file}: {len(label_names)} names for label ids up to {labels.max()}")
    captions = None
    if (folder / "captions.txt").is_file():
        captions = _lines(folder / "captions.txt")
        if len(captions) != m:
            raise DataFormatError(f"{folder / 'captions.txt'} has {len(captions)} lines for {m} rows of text.npy")
        empty = next((i for i, c in enumerate(captions) if not c.strip()), None)
        if empty is not None:
            raise DataFormatError(f"{folder / 'captions.txt'}:{empty + 1}: empty caption")
    meta = _meta(folder / "meta.json") if (folder / "meta.json").is_file() else {}
    name = name or f"{folder.parent.name}-{folder.name}"
    feats = Features(image, text, meta.get("image_model", f"precomputed:{folder.parent.name}/image"),
                     meta.get("text_model", f"precomputed:{folder.parent.name}/text"))
    return PairSet(images=None, captions=captions, txt_to_img=t2i.astype(np.int64), labels=labels.astype(np.int64),
                   label_names=label_names, family=np.arange(n), image_ids=[f"{name}:{i}" for i in range(n)],
                   caption_ids=[f"{name}:{i}#{c}" for c, i in enumerate(t2i.tolist())], name=name,
                   meta={"source": str(folder)}, features=feats)
