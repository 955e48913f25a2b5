"""Karpathy split JSON (``dataset_coco.json``, ``dataset_flickr30k.json``, ``dataset_flickr8k.json``).

The file of Karpathy & Fei-Fei (CVPR 2015) that fixes the splits every vision-language retrieval paper reports on::

    {"images": [{"filepath": "val2014",            # optional (COCO); Flickr keeps all images in one folder
                 "filename": "COCO_val2014_000000391895.jpg",
                 "split": "test",                  # train | restval | val | test
                 "sentences": [{"raw": "A man with a red helmet ..."}, ...],
                 "cocoid": 391895 | "imgid": 0},   # optional ids
                ...]}

Images are read from ``IMAGE_ROOT / filepath / filename``. ``restval`` (COCO's 30k extra training images) joins
``train``, as in the VSE/SCAN line of work; ``val`` and ``test`` are the 5k/1k splits of the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .assemble import PairRows
from .sources import FileImages
from .tables import read_json

KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def load_karpathy(json_path, image_root, allow_outside: bool = False):
    """``(PairSet, split of each image)`` of a Karpathy split file (module docstring).

    Every entry is checked before anything is encoded: its fields, its split, its captions (non-empty strings)
    and that its image file exists; errors name ``file: images[k] (filename)``.
    """
    json_path, root = Path(json_path), Path(image_root)
    doc = read_json(json_path, "Karpathy split file")
    entries = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataFormatError(f"{json_path}: expected an object with a non-empty 'images' list (Karpathy split format)")
    rows, paths, ids, splits = PairRows(), [], [], []
    for k, entry in enumerate(entries):
        where = f"{json_path}: images[{k}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise DataFormatError(f"{where}: needs a 'filename' string")
        where = f"{where} ({entry['filename']})"
        split = entry.get("split")
        if split not in KARPATHY_SPLITS:
            raise DataFormatError(f"{where}: split {split!r} is not one of {sorted(KARPATHY_SPLITS)}")
        sentences = entry.get("sentences")
        if not isinstance(sentences, list) or not sentences:
            raise DataFormatError(f"{where}: needs a non-empty 'sentences' list")
        relative = str(Path(entry.get("filepath") or "") / entry["filename"])
        rows.image_file(root, relative, where, allow_outside)
        key = f"{k}"
        for s, sentence in enumerate(sentences):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            if not isinstance(raw, str):
                raise DataFormatError(f"{where}: sentences[{s}] needs a 'raw' string")
            rows.add(key, raw, None, f"{where}: sentences[{s}]")
        paths.append(relative)
        ids.append(f"{doc.get('dataset', 'karpathy')}:{entry.get('cocoid', entry.get('imgid', k))}")
        splits.append(KARPATHY_SPLITS[split])
    if len(set(ids)) != len(ids):
        ids = [f"{i}@{k}" for k, i in enumerate(ids)]
    pairs = rows.build(f"karpathy-{doc.get('dataset', json_path.stem)}", FileImages(root, paths), image_ids=ids,
                       meta={"source": str(json_path)})
    return pairs, np.asarray(splits)
