"""COCO caption annotations (``captions_train2017.json`` + the image folder), indexed with ``pycocotools``.

The file holds ``images`` (``id``, ``file_name``) and ``annotations`` (``image_id``, ``caption``); every image with
at least one caption becomes one image of the `PairSet`, its captions in annotation order. COCO captions carry no
categories (labels are ``-1``). The file's structure is checked first, so errors name the entry
(``annotations[17]``); ``pycocotools.coco.COCO`` then builds the image → annotations index.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from ..errors import DataFormatError
from .assemble import PairRows
from .sources import FileImages
from .tables import read_json


def _check_structure(doc, path: Path) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(
            doc.get("annotations"), list):
        raise DataFormatError(f"{path}: expected a COCO captions file with 'images' and 'annotations' lists")
    ids = set()
    for k, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise DataFormatError(f"{path}: images[{k}] needs an 'id' and a 'file_name'")
        ids.add(img["id"])
    for k, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str) or "image_id" not in ann:
            raise DataFormatError(f"{path}: annotations[{k}] needs an 'image_id' and a 'caption' string")
        if ann["image_id"] not in ids:
            raise DataFormatError(f"{path}: annotations[{k}] refers to image_id {ann['image_id']!r}, "
                                  "which is not in 'images'")
        ann.setdefault("id", k)


def load_coco_captions(json_path, image_dir, allow_outside: bool = False):
    """The `PairSet` of a COCO captions file and its image folder (module docstring); image files are checked to
    exist before anything is encoded."""
    from pycocotools.coco import COCO

    json_path, root = Path(json_path), Path(image_dir)
    doc = read_json(json_path, "COCO captions file")
    _check_structure(doc, json_path)
    coco = COCO()
    coco.dataset = doc
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    rows, paths, ids, without = PairRows(), [], [], 0
    for image_id in sorted(coco.imgs):
        anns = coco.imgToAnns.get(image_id, [])
        if not anns:
            without += 1
            continue
        info = coco.imgs[image_id]
        rows.image_file(root, info["file_name"], f"{json_path}: image {image_id} ({info['file_name']})", allow_outside)
        for ann in anns:
            rows.add(str(image_id), ann["caption"], None, f"{json_path}: annotation {ann['id']} of image {image_id}")
        paths.append(info["file_name"])
        ids.append(f"coco:{image_id}")
    if not paths:
        raise DataFormatError(f"{json_path}: no image has a caption")
    return rows.build(f"coco-{json_path.stem}", FileImages(root, paths), image_ids=ids,
                      meta={"source": str(json_path), "images_without_captions": without})
