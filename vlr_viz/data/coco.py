"""COCO caption annotations (``captions_train2017.json`` + the image folder), indexed with ``pycocotools``.

The file holds ``images`` (``id``, ``file_name``) and ``annotations`` (``image_id``, ``caption``); every image with
at least one caption becomes one image of the `PairSet`, its captions in annotation order. COCO captions carry no
categories (labels are ``-1``). The file's structure is checked first, so errors name the entry
(``annotations[17]``): ids must be integers (or strings), and no two images may share one. ``pycocotools.coco.COCO``
then builds the image → annotations index; images are taken in the order of their ids (integers before strings).
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from ..errors import DataFormatError
from .assemble import PairRows
from .sources import FileImages
from .tables import read_json


def _is_id(value) -> bool:
    """COCO ids are integers; strings are taken too (some COCO-style files use them), never lists or objects."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _check_structure(doc, path: Path) -> None:
    """Refuse, naming the entry, what would make the index wrong or fail: a missing field, an id that is not an
    id, two images with one id (their captions would be paired with one of them and the other image dropped), an
    annotation of an image that is not listed."""
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(
            doc.get("annotations"), list):
        raise DataFormatError(f"{path}: expected a COCO captions file with 'images' and 'annotations' lists")
    first: dict = {}  # id -> index of its image in 'images'
    for k, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise DataFormatError(f"{path}: images[{k}] needs an 'id' and a 'file_name'")
        if not _is_id(img["id"]):
            raise DataFormatError(f"{path}: images[{k}] ({img['file_name']}): id {json.dumps(img['id'])} is not an "
                                  "integer or a string")
        if img["id"] in first:
            j = first[img["id"]]
            raise DataFormatError(f"{path}: images[{j}] ({doc['images'][j]['file_name']}) and images[{k}] "
                                  f"({img['file_name']}) share the id {img['id']!r}; each image needs its own id")
        first[img["id"]] = k
    for k, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str) or "image_id" not in ann:
            raise DataFormatError(f"{path}: annotations[{k}] needs an 'image_id' and a 'caption' string")
        for key in ("image_id", "id"):
            if key in ann and not _is_id(ann[key]):
                raise DataFormatError(f"{path}: annotations[{k}]: {key} {json.dumps(ann[key])} is not an integer "
                                      "or a string")
        if ann["image_id"] not in first:
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
    for image_id in sorted(coco.imgs, key=lambda i: (isinstance(i, str), i)):
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
