"""Datasets by name: one syntax for every form a researcher holds, used by the command line, the library and the
notebooks' ``dataset`` parameter.

=====================================  ==========================================================================
``twemoji``                            the embedded Twemoji pairs (splits by emoji family)
``PATH`` or ``folder:PATH``            a folder with ``captions.tsv`` (``image<TAB>caption[<TAB>category]``)
``karpathy:JSON:IMAGE_ROOT``           Karpathy split JSON (``dataset_coco.json``, ``dataset_flickr30k.json``)
``coco:CAPTIONS_JSON:IMAGE_DIR``       COCO caption annotations and their image folder
``csv:FILE``                           open_clip's CSV/TSV (``csv_img_key``, ``csv_caption_key``, ``csv_separator``)
``wds:SHARD_PATTERN``                  webdataset tar shards (``shards/{000000..000009}.tar``)
``features:DIR``                       precomputed features, ``DIR/{train,val,test}/image.npy, text.npy, ...``
``fashion-mnist[:DIR]``                Fashion-MNIST, 70k real images (Debian's ``dataset-fashion-mnist``)
``openclipart[:PNG_ROOT:SVG_ROOT]``    OpenClipArt 0.18 drawings, weak titles flagged (Debian's ``openclipart-*``)
=====================================  ==========================================================================

Splits: Twemoji, Karpathy files, Fashion-MNIST and precomputed features bring their own. The other forms are split
by image (whole families for Twemoji-like data, whole drawing series for OpenClipArt:
`vlr_viz.data.openclipart.split_series`) into ``val_fraction`` and ``test_fraction`` of the images, seeded by
``split_seed``. A part may name its split instead, ``...@train`` / ``@val`` / ``@test``, and several parts join with
``+``: ``coco:captions_train2017.json:train2017@train+coco:captions_val2017.json:val2017@test`` keeps COCO's own
train/val files as train and test and carves ``val`` out of train by ``val_fraction``.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError, VlrVizError
from .options import DatasetOptions
from .pairs import PairSet
from .sources import ConcatImages, image_source
from .splits import SPLITS, fraction_split, warn_if_too_small_to_evaluate

FORMS = ("twemoji", "folder", "karpathy", "coco", "csv", "wds", "features", "fashion-mnist", "openclipart")
BARE_FORMS = ("twemoji", "fashion-mnist", "openclipart")
"""Forms that may stand without ``:...`` (their data lies where a package installs it)."""
SPEC_HELP = ("twemoji, a folder with captions.tsv, karpathy:JSON:IMAGE_ROOT, coco:CAPTIONS_JSON:IMAGE_DIR, csv:FILE, "
             "wds:SHARD_PATTERN, features:DIR, fashion-mnist[:DIR], openclipart[:PNG_ROOT:SVG_ROOT]")


def _two_paths(form: str, rest: str, what: str) -> tuple[str, str]:
    parts = rest.split(":")
    if len(parts) != 2 or not all(parts):
        raise VlrVizError(f"dataset '{form}:{rest}': expected {form}:{what}")
    return parts[0], parts[1]


def _load_part(form: str, rest: str, options: DatasetOptions, cache) -> tuple[PairSet | dict, np.ndarray | None]:
    """One part of a spec: ``(PairSet, split of each image or None)``, or ``({split: PairSet}, None)``."""
    outside = options.allow_outside_paths
    if form == "twemoji":
        from .twemoji import twemoji_splits

        return twemoji_splits(cache), None
    if form == "folder":
        from .folder import load_image_caption_folder

        return load_image_caption_folder(rest, allow_outside=outside), None
    if form == "karpathy":
        from .karpathy import load_karpathy

        return load_karpathy(*_two_paths(form, rest, "JSON:IMAGE_ROOT"), allow_outside=outside)
    if form == "coco":
        from .coco import load_coco_captions

        return load_coco_captions(*_two_paths(form, rest, "CAPTIONS_JSON:IMAGE_DIR"), allow_outside=outside), None
    if form == "csv":
        from .csv_table import load_csv_pairs

        return load_csv_pairs(rest, options.csv_img_key, options.csv_caption_key, options.csv_separator), None
    if form == "wds":
        from .webdataset_shards import load_webdataset

        return load_webdataset(rest), None
    if form == "features":
        from .precomputed import load_precomputed_split

        folder = Path(rest)
        if not folder.is_dir():
            raise VlrVizError(f"dataset 'features:{rest}': {folder} is not a folder")
        return {s: load_precomputed_split(folder / s, name=f"{folder.name}-{s}") for s in SPLITS}, None
    if form == "openclipart":
        from .openclipart import PNG_ROOT, SVG_ROOT, load_openclipart, split_series

        pairs = load_openclipart(*(_two_paths(form, rest, "PNG_ROOT:SVG_ROOT") if rest else (PNG_ROOT, SVG_ROOT)))
        return pairs, split_series(pairs.family, options.val_fraction, options.test_fraction, options.split_seed)
    from .fashion_mnist import DEFAULT_DIR, load_fashion_mnist

    return load_fashion_mnist(rest or DEFAULT_DIR)


def parse_part(part: str) -> tuple[str, str, str | None]:
    """``(form, rest, fixed split or None)`` of one ``+``-separated part of a spec."""
    fixed = None
    if "@" in part and part.rsplit("@", 1)[1] in SPLITS:
        part, fixed = part.rsplit("@", 1)
    form, sep, rest = part.partition(":")
    if form in FORMS and (sep or form in BARE_FORMS):
        return form, rest, fixed
    if Path(part).is_dir():
        return "folder", part, fixed
    raise VlrVizError(f"unknown dataset {part!r}: use one of {SPEC_HELP}")


def _split_part(pairs, image_split, fixed: str | None, part: str, options: DatasetOptions) -> dict[str, PairSet]:
    if isinstance(pairs, dict):
        if fixed is not None:
            raise VlrVizError(f"{next(iter(pairs.values())).name}: a dataset with its own splits cannot take @{fixed}")
        return pairs
    if fixed is not None:
        return {fixed: pairs}
    if image_split is None:
        idx = fraction_split(pairs.family, options.val_fraction, options.test_fraction, seed=options.split_seed,
                             name=f"dataset {part!r}")
    else:
        idx = {s: np.flatnonzero(image_split == s) for s in SPLITS}
    return {s: pairs.subset(i, name=f"{pairs.name}-{s}") for s, i in idx.items() if i.size}


def _concat(parts: list[PairSet], name: str) -> PairSet:
    """One `PairSet` of several (images, captions, categories one after another; category names merged)."""
    if len(parts) == 1:
        return parts[0]
    if any(p.images is None for p in parts) or any(p.captions is None for p in parts):
        raise VlrVizError(f"{name}: only datasets with images and captions can be joined with '+'")
    names = sorted({n for p in parts for n in p.label_names})
    labels, t2i, offset = [], [], 0
    for p in parts:
        remap = np.array([names.index(n) for n in p.label_names] + [-1], dtype=np.int64)
        labels.append(remap[p.labels])
        t2i.append(p.txt_to_img + offset)
        offset += p.n_images
    sources = [image_source(p.images) for p in parts]
    return PairSet(images=ConcatImages(sources), captions=[c for p in parts for c in p.captions],
                   txt_to_img=np.concatenate(t2i), labels=np.concatenate(labels), label_names=names,
                   family=np.arange(offset), image_ids=[i for p in parts for i in p.image_ids],
                   caption_ids=[c for p in parts for c in p.caption_ids], name=name,
                   meta={"source": [p.meta.get("source") for p in parts]})


_TABLE_SUFFIXES = (".tsv", ".csv", ".txt", ".json", ".npy", ".gz")


def _stat(spec: str) -> tuple:
    """Sizes and modification times of the files a spec names, and of the tables and arrays inside the folders it
    names (``captions.tsv``, ``*/image.npy`` ...), so that a changed file is read again."""
    stats = []
    for token in spec.replace("+", ":").replace("@", ":").split(":"):
        path = Path(token)
        files = [path] if path.is_file() else (
            [f for f in (*path.glob("*"), *path.glob("*/*")) if f.suffix in _TABLE_SUFFIXES] if path.is_dir() else [])
        for f in sorted(files):
            try:
                st = f.stat()
            except OSError:
                continue
            stats.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(stats)


def _split_parts(spec: str) -> list[str]:
    """The ``+``-separated parts of a spec, refusing an empty one (``base+``, ``+base``, ``a++b``) or one that
    names only a split (``a+@test``)."""
    parts = spec.split("+")
    for k, part in enumerate(parts):
        if part.strip() in ("", *(f"@{s}" for s in SPLITS)):
            place = ("before the first '+'" if k == 0 else "after the last '+'" if k == len(parts) - 1
                     else f"between '+' {k} and {k + 1}")
            what = "is empty" if not part.strip() else f"({part.strip()!r}) names a split but no dataset"
            raise ConfigError(f"dataset {spec!r}: part {k + 1} of {len(parts)}, {place}, {what}; parts join with "
                              "'+' as in A+B")
    return parts


@lru_cache(maxsize=4)
def _parts_cached(spec: str, options: DatasetOptions, stats: tuple, cache) -> tuple:
    """``((pairs, split of each image or None, fixed split or None, part), ...)`` of each ``+``-part, as loaded."""
    out = []
    for part in _split_parts(spec):
        form, rest, fixed = parse_part(part)
        pairs, image_split = _load_part(form, rest, options, cache)
        out.append((pairs, image_split, fixed, part))
    return tuple(out)


def _parts(spec: str, options: DatasetOptions | None, overrides: dict, cache=None) -> tuple:
    if not isinstance(spec, str) or not spec.strip():
        raise VlrVizError(f"a dataset must be a non-empty string spec, got {spec!r}")
    options = options or DatasetOptions()
    if overrides:
        options = DatasetOptions(**{**asdict(options), **overrides})
    return _parts_cached(spec.strip(), options, _stat(spec), cache), options


def load_splits(spec: str, options: DatasetOptions | None = None, *, cache=None, **overrides) -> dict[str, PairSet]:
    """``{"train", "val", "test"}`` `PairSet` s of a dataset spec (module docstring). Loading is cached in the
    process, keyed by the spec, the options and the files' sizes and modification times. ``cache``: where arrays
    decoded on the way are read back or kept (`vlr_viz.store.arrays.ArrayCache`; the Twemoji images), or None."""
    parts, options = _parts(spec, options, overrides, cache)
    by_split: dict[str, list[PairSet]] = {s: [] for s in SPLITS}
    by_fraction = set()  # the splits that fractions of the images made, wholly or in part
    for pairs, image_split, fixed, part in parts:
        for s, p in _split_part(pairs, image_split, fixed, part, options).items():
            by_split[s].append(p)
        if fixed is None and image_split is None and not isinstance(pairs, dict):
            by_fraction |= {"val", "test"}
    out = {s: _concat(ps, f"{spec}-{s}") for s, ps in by_split.items() if ps}
    if "val" not in out and "train" in out and options.val_fraction > 0:
        train = out["train"]
        carve = fraction_split(train.family, options.val_fraction, 0.0, seed=options.split_seed,
                               name=f"dataset {spec!r}: its train split")
        out["val"] = train.subset(carve["val"], name=f"{train.name}-val")
        out["train"] = train.subset(carve["train"], name=train.name)
        by_fraction.add("val")
    missing = [s for s in SPLITS if s not in out]
    if missing:
        raise ConfigError(f"dataset {spec!r} has no {missing} split (val_fraction {options.val_fraction}, "
                          f"test_fraction {options.test_fraction}): give positive fractions or parts with @train / "
                          "@val / @test")
    for s in sorted(by_fraction):
        warn_if_too_small_to_evaluate(out[s], s, f"dataset {spec!r}", options.val_fraction, options.test_fraction)
    return out


def load_dataset(spec: str, split: str | None = None, options: DatasetOptions | None = None, *, cache=None,
                 **overrides) -> PairSet:
    """One split of a dataset spec, or (``split=None``) the whole dataset, unsplit: every part in order, a part
    with its own splits as train, val, test."""
    if split is not None:
        if split not in SPLITS:
            raise VlrVizError(f"split must be one of {SPLITS} or None, got {split!r}")
        return load_splits(spec, options, cache=cache, **overrides)[split]
    if spec.strip() == "twemoji":
        from .twemoji import load_twemoji

        return load_twemoji(cache=cache)
    parts, _ = _parts(spec, options, overrides, cache)
    for pairs, _, _, part in parts:
        if isinstance(pairs, dict) and any(p.images is None for p in pairs.values()):
            raise ConfigError(f"dataset {part!r} holds only precomputed features, stored split into train, val and "
                              "test, so it cannot be read as one unsplit dataset (split=None, --split all); load one "
                              "of its splits")
    whole = [p for pairs, _, _, _ in parts for p in (pairs.values() if isinstance(pairs, dict) else [pairs])]
    return _concat(whole, spec)
