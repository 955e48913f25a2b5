"""Degrading a whole :class:`PairSet`, named severity presets, and their calibration on the teachers.

A severity number means little by itself (docs/method.md, D2: down-scaling Twemoji to 12 px barely hurts the vision
teacher while 50 % word dropout halves recall), so the presets are chosen by the drop they cause in the
modality's own teacher-ceiling score: category-relevance NDCG@10 of the frozen teacher features, image→image for
images and caption→caption for captions, measured above the random-ranking floor (:func:`calibrate_presets`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from vlr_viz.data.feature_arrays import Features
from vlr_viz.data.pairs import PairSet
from vlr_viz.imbalance.degrade_image import DegradedImages
from vlr_viz.imbalance.degrade_features import feature_noise
from vlr_viz.imbalance.degrade_image import IMAGE_KINDS, check_seed, check_severity, degrade_images
from vlr_viz.imbalance.degrade_text import TEXT_KINDS, degrade_captions
from vlr_viz.imbalance.diagnostics import pair_strengths

LEVELS = ("mild", "moderate", "severe")

# Calibrated with calibrate_presets on the Twemoji test split (1,008 pairs; efficientnet-lite0 and all-MiniLM-L6-v2
# teachers, seed 0), targets 10 / 25 / 50 % drop above chance of the teacher's category NDCG@10 (i2i for images,
# t2t for captions). Clean: image 74.68, text 81.76, chance 37.26. Numbers after each level: NDCG@10, drop
# above chance, plain relative drop. Blur and down-scaling never get there: blur at s = 1 (sigma = 9 px) costs
# 10.7 % above chance (70.69), down-scaling to 4 px 17.4 % (68.16): the colour layout of an emoji alone still
# tells most categories apart. Occlusion and word replacement span the whole range, so they are the presets.
PRESETS: dict[str, dict[str, tuple[str, float]]] = {
    "image": {
        "mild": ("occlusion", 0.25),      # 71.11, 9.5 %, 4.8 %
        "moderate": ("occlusion", 0.75),  # 65.14, 25.5 %, 12.8 %
        "severe": ("occlusion", 0.95),    # 56.35, 49.0 %, 24.5 %
    },
    "text": {
        "mild": ("word_replace", 0.10),      # 75.95, 13.1 %, 7.1 %
        "moderate": ("word_replace", 0.25),  # 69.87, 26.7 %, 14.5 %
        "severe": ("word_replace", 0.50),    # 57.23, 55.1 %, 30.0 %
    },
}

# The closest levels of the other calibrated kinds (same run; NDCG@10, drop above chance). Each saturates
# before the severe target: use them for the kind of weakness, not for the amount.
PRESETS_BY_KIND: dict[str, dict[str, float]] = {
    "noise": {"mild": 0.50, "moderate": 0.75, "severe": 1.0},         # 70.71 10.6 %, 67.52 19.1 %, 62.57 32.4 %
    "downscale": {"mild": 0.85, "moderate": 1.0, "severe": 1.0},      # 70.76 10.5 %, 68.16 17.4 %
    "word_dropout": {"mild": 0.20, "moderate": 0.80, "severe": 1.0},  # 77.97 8.5 %, 70.70 24.9 %, 68.47 29.9 %
    "occlusion": {level: s for level, (_, s) in PRESETS["image"].items()},
    "word_replace": {level: s for level, (_, s) in PRESETS["text"].items()},
}


FEATURE_KIND = "feature_noise"
"""Gaussian noise on the features themselves (`vlr_viz.imbalance.feature_noise`), after encoding: a kind of either
modality, and the only one for a dataset of precomputed features."""

FEATURE_PRESETS: dict[str, float] = {"mild": 0.25, "moderate": 0.5, "severe": 1.0}
"""Preset levels of feature noise for datasets of precomputed features: signal-to-noise ratio 4, 2 and 1 in every
dimension (noise std = severity × the dimension's std). Defined by that ratio, not calibrated like `PRESETS`."""


def resolve_degradation(spec, modality: str, features_only: bool = False) -> tuple[str, float, dict] | None:
    """Turn ``None``, a preset name, ``(kind, severity)`` or ``(kind, severity, options)`` into a checked triple.

    ``"feature_noise"`` is a kind of both modalities. With ``features_only`` (a dataset of precomputed features)
    it is the only kind and the presets are `FEATURE_PRESETS`.
    """
    if spec is None:
        return None
    known = (FEATURE_KIND,) if features_only else (*(IMAGE_KINDS if modality == "image" else TEXT_KINDS),
                                                    FEATURE_KIND)
    presets = {k: (FEATURE_KIND, s) for k, s in FEATURE_PRESETS.items()} if features_only else PRESETS[modality]
    if isinstance(spec, str):
        if spec not in presets:
            raise ValueError(f"unknown {modality} preset {spec!r}; known presets: {', '.join(presets)}")
        spec = presets[spec]
    if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
        raise ValueError(f"{modality} must be None, a preset name or (kind, severity[, options]); got {spec!r}")
    kind, severity = spec[0], spec[1]
    options = dict(spec[2]) if len(spec) == 3 else {}
    if kind not in known:
        hint = " (this dataset holds only precomputed features)" if features_only else ""
        raise ValueError(f"unknown {modality} degradation kind {kind!r}{hint}; known kinds: {', '.join(known)}")
    return kind, check_severity(severity, name=f"{modality} severity"), options


def degrade_pairs(pairs: PairSet, image=("blur", 0.5), text=None, seed: int = 0) -> PairSet:
    """A new :class:`PairSet` with degraded images and/or captions.

    Images held in an array are degraded at once; images read from files or shards are degraded as they are read
    (`~vlr_viz.imbalance.degrade_image.DegradedImages`, same result). ``"feature_noise"`` is recorded and applied to the
    features after encoding (`apply_feature_degradation`); it is the only kind for a dataset of precomputed features
    (presets `FEATURE_PRESETS`).

    Args:
        pairs: the clean pairs (left untouched).
        image, text: ``None`` (clean), a preset name from :data:`PRESETS`, ``(kind, severity)`` or
            ``(kind, severity, options)`` with options passed to :func:`degrade_images` / :func:`degrade_captions`.
        seed: per-item randomness is keyed by ``(kind, seed, image_ids[i] / caption_ids[j])``, so a subset of
            ``pairs`` degrades like the same items of the full set.

    The name records the degradation (``"twemoji-test|img:blur@0.50|txt:none"``) and
    ``meta["degradation"]`` holds ``{"source", "seed", "image", "text"}`` (each ``None`` or ``{"kind",
    "severity", "options"}``; a ``"mismatch"`` text entry adds ``"permutation"``: caption slot ``i`` now holds the
    old caption ``permutation[i]`` while ``txt_to_img`` is unchanged, and ``"mismatched_fraction"``).
    """
    if not isinstance(pairs, PairSet):
        raise TypeError(f"pairs must be a PairSet; got {type(pairs).__name__}")
    seed = check_seed(seed)
    features_only = pairs.images is None
    img_spec = resolve_degradation(image, "image", features_only)
    txt_spec = resolve_degradation(text, "text", features_only)
    record = {"source": pairs.name, "seed": seed, "image": None, "text": None}
    images, captions = pairs.images, pairs.captions
    if img_spec is not None:
        kind, s, opts = img_spec
        if kind != FEATURE_KIND:
            images = _degraded_images(pairs.images, kind, s, seed, pairs.image_ids, opts)
        record["image"] = {"kind": kind, "severity": s, "options": opts}
    if txt_spec is not None:
        kind, s, opts = txt_spec
        record["text"] = {"kind": kind, "severity": s, "options": opts}
        if kind != FEATURE_KIND:
            captions, info = degrade_captions(
                pairs.require_captions("degrading captions"), kind, s, seed=seed, item_keys=pairs.caption_ids,
                labels=pairs.caption_labels, label_names=pairs.label_names, txt_to_img=pairs.txt_to_img, **opts)
            record["text"].update({k: v for k, v in info.items() if k in ("permutation", "mismatched_fraction")})

    def tag(spec):
        return "none" if spec is None else f"{spec[0]}@{spec[1]:.2f}"

    meta = dict(pairs.meta)
    meta["degradation"] = record
    if isinstance(images, np.ndarray) and (img_spec is None or img_spec[0] == FEATURE_KIND):
        images = images.copy()
    return PairSet(images=images, captions=None if captions is None else list(captions),
                   txt_to_img=pairs.txt_to_img.copy(), labels=pairs.labels.copy(),
                   label_names=list(pairs.label_names), family=pairs.family.copy(),
                   image_ids=list(pairs.image_ids), caption_ids=list(pairs.caption_ids),
                   name=f"{pairs.name}|img:{tag(img_spec)}|txt:{tag(txt_spec)}", meta=meta, features=pairs.features)


def _degraded_images(images, kind: str, severity: float, seed: int, image_ids, options: dict):
    """An in-memory array is degraded now; an image source is wrapped so its images degrade as they are read."""
    if isinstance(images, np.ndarray):
        return degrade_images(images, kind, severity, seed=seed, item_keys=image_ids, **options)
    return DegradedImages(images, kind, severity, seed, image_ids, options)


def apply_feature_degradation(pairs: PairSet, features: Features) -> Features:
    """``features`` of ``pairs`` with the feature-level degradations ``pairs`` records (``"feature_noise"`` in
    ``meta["degradation"]``, left there by `degrade_pairs`) applied, each row keyed by its item id; unchanged
    otherwise. `vlr_viz.features.load_features` calls it on every result."""
    record = pairs.meta.get("degradation") or {}
    image, text = features.image, features.text
    names = {"image": features.image_model, "text": features.text_model}
    for modality, keys in (("image", pairs.image_ids), ("text", pairs.caption_ids)):
        spec = record.get(modality)
        if not spec or spec["kind"] != FEATURE_KIND:
            continue
        noisy = feature_noise(image if modality == "image" else text, spec["severity"], seed=record["seed"],
                              item_keys=keys, **spec["options"])
        image, text = (noisy, text) if modality == "image" else (image, noisy)
        names[modality] += f"|{FEATURE_KIND}@{spec['severity']:.2f}"
    if image is features.image and text is features.text:
        return features
    return Features(image, text, names["image"], names["text"], features.seconds)


def _modality_features(encoded, modality: str) -> np.ndarray:
    if isinstance(encoded, (tuple, list)) and len(encoded) == 2:
        encoded = dict(zip(("image", "text"), encoded))
    feats = encoded[modality] if isinstance(encoded, dict) else getattr(encoded, modality, None)
    if feats is None:
        raise ValueError(f"encode_fn must return an object with .image and .text (or a pair); missing {modality}")
    return np.asarray(feats)


def teacher_score(pairs: PairSet, encoded, modality: str, k: int = 10, exclude_family: bool = False) -> dict:
    """Category-relevance strength of one modality's teacher features (i2i for images, t2t for captions):
    ``{"ndcg@k", "chance_ndcg@k", "knn_accuracy", ...}`` from :func:`pair_strengths`."""
    feats = _modality_features(encoded, modality)
    kwargs = {"image_features": feats} if modality == "image" else {"text_features": feats}
    return pair_strengths(pairs, ks=(k,), exclude_family=exclude_family, **kwargs)[modality]


def pick_levels(severities, drops, target_drops=(0.10, 0.25, 0.50), names=LEVELS) -> dict[str, float]:
    """For each target relative drop, the severity whose measured drop is closest (ties: the smaller severity)."""
    sev, drop = np.asarray(severities, dtype=float), np.asarray(drops, dtype=float)
    if sev.shape != drop.shape or sev.size == 0:
        raise ValueError("severities and drops must be non-empty and of equal length")
    if len(names) != len(target_drops):
        raise ValueError(f"names has {len(names)} entries for {len(target_drops)} target_drops")
    order = np.argsort(sev, kind="stable")
    sev, drop = sev[order], drop[order]
    return {name: float(sev[int(np.argmin(np.abs(drop - t)))]) for name, t in zip(names, target_drops)}


def calibrate_presets(pairs: PairSet, kinds: Sequence[str], severities, encode_fn: Callable[[PairSet], object],
                      target_drops=(0.10, 0.25, 0.50), drop_scale: str = "above_chance", seed: int = 0,
                      k: int = 10, exclude_family: bool = False) -> dict:
    """Measure each kind's drop of the teacher-ceiling single-modal score over a severity grid; pick presets.

    The score is the teacher's category-relevance NDCG@k (×100), i2i for image kinds and t2t for caption kinds.
    Two drops are reported per grid point: ``drop = (clean - score) / clean`` and
    ``drop_above_chance = (clean - score) / (clean - chance)``, where ``chance`` is the NDCG of a random ranking
    (:func:`chance_ndcg`). Decision: levels are picked on ``drop_scale="above_chance"`` by default, because with
    a dominant category the random-ranking floor is high (on Twemoji test about 37 against a clean 75-82), so
    a plain relative drop can never reach 50 %; the above-chance drop is the share of the teacher's category
    information that the degradation removes.

    Args:
        pairs: clean pairs to degrade (e.g. ``load_twemoji("test")``).
        kinds: degradation kinds, image and/or text (the modality follows from the kind).
        severities: a grid shared by all kinds, or ``{kind: grid}``; 0 is the clean score.
        encode_fn: ``encode_fn(pairs)`` -> teacher features with ``.image`` ``(N, Dv)`` and ``.text`` ``(M, Dt)``
            (e.g. ``lambda p: load_features(p, cache_dir=...)``), or an ``(image, text)`` pair.
        target_drops: drops the levels aim at, one per name in :data:`LEVELS`.
        drop_scale: ``"above_chance"`` or ``"relative"``: which drop the levels are picked on.

    Returns ``{"clean": {modality: {"score", "chance"}}, "rows": [{"modality", "kind", "severity", "score",
    "drop", "drop_above_chance"}], "levels": {kind: {"mild": s, ...}}, "drop_scale": drop_scale}``.
    """
    if drop_scale not in ("above_chance", "relative"):
        raise ValueError(f"drop_scale must be 'above_chance' or 'relative'; got {drop_scale!r}")
    known = IMAGE_KINDS + TEXT_KINDS
    grid = severities if isinstance(severities, dict) else {kind: severities for kind in kinds}
    for kind in kinds:
        if kind not in known:
            raise ValueError(f"unknown degradation kind {kind!r}; known kinds: {', '.join(known)}")
        if kind not in grid:
            raise ValueError(f"severities has no grid for kind {kind!r}")
    key = f"ndcg@{k}"
    clean_enc = encode_fn(pairs)
    clean, rows, levels = {}, [], {}
    for kind in kinds:
        modality = "image" if kind in IMAGE_KINDS else "text"
        if modality not in clean:
            ref = teacher_score(pairs, clean_enc, modality, k, exclude_family)
            clean[modality] = {"score": ref[key], "chance": ref[f"chance_{key}"]}
        base, floor = clean[modality]["score"], clean[modality]["chance"]
        sev_list, drop_list = [], []
        for s in sorted(check_severity(s, name=f"severities[{kind}]") for s in grid[kind]):
            spec = {modality: (kind, s), "image" if modality == "text" else "text": None}
            score = base if s == 0.0 else teacher_score(
                pairs, encode_fn(degrade_pairs(pairs, seed=seed, **spec)), modality, k, exclude_family)[key]
            row = {"modality": modality, "kind": kind, "severity": s, "score": score,
                   "drop": (base - score) / base if base > 0 else 0.0,
                   "drop_above_chance": (base - score) / (base - floor) if base > floor else 0.0}
            rows.append(row)
            sev_list.append(s)
            drop_list.append(row["drop" if drop_scale == "relative" else "drop_above_chance"])
        levels[kind] = pick_levels(sev_list, drop_list, target_drops)
    return {"clean": clean, "rows": rows, "levels": levels, "drop_scale": drop_scale}
