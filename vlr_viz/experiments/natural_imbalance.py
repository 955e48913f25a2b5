"""Modal imbalance that a dataset has by nature, without any simulated degradation (notebook 01; docs/datasets.md).

For each dataset, on one split's clean teacher features:

* **strength per group**: each teacher's single-modal NDCG@10 with category relevance
  (`vlr_viz.imbalance.modality_strength`), the queries restricted to a group and the gallery always the whole split
  less the query's own family (near-duplicates: an emoji's skin tones, a drawing series; otherwise a series title
  shared by a whole series would find its siblings by name alone). Image queries are the group's images (i2i); text
  queries are the group's captions (t2t), where a category's are the first caption of each of its images (as
  `vlr_viz.imbalance.pair_strengths` takes them);
* **the teachers' kNN agreement**: ``|kNN_image(i) ∩ kNN_text(i)| / k`` per image
  (`vlr_viz.imbalance.knn_overlap_per_item`, k = 10): how many of an image's neighbours under the vision teacher are
  also its neighbours under the text teacher (its captions' features averaged). It is what structure-level
  distillation hands the student: low agreement means the two teachers' relation matrices disagree.

Groups: each **category** (those with fewer than ``min_images`` images in the split pooled as one group, `OTHER`,
each query still judged by its own category), and the **caption quality** groups of a dataset that flags weak text
(OpenClipArt's ``caption_weak`` per caption and ``weak_text`` per drawing, `vlr_viz.data.openclipart`): weak and rich
captions (text queries), and drawings with weak text only against the rest (image queries, agreement). A dataset
without such flags has one caption group, ``all captions``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..arrays import caption_sum_per_image
from ..data import load_splits
from ..features import load_features
from ..imbalance import knn_overlap_per_item, modality_strength
from ..store.arrays import array_cache

COLUMNS = ("dataset", "grouping", "group", "measure", "value", "n")
"""The rows of `natural_imbalance`: ``grouping`` is ``"category"`` or ``"caption quality"``; ``measure`` is
``"image NDCG@10"``, ``"text NDCG@10"`` or ``"kNN agreement"`` (×100); ``n`` counts the queries scored (those with
something relevant in their gallery; images for the agreement)."""
MEASURES = ("image NDCG@10", "text NDCG@10", "kNN agreement")
WEAK, RICH, ALL = "weak text", "rich text", "all captions"
OTHER = "smaller categories"


def _strength(features, labels, family, queries) -> tuple[float, int]:
    queries = queries[labels[queries] >= 0]
    if queries.size == 0:
        return float("nan"), 0
    strength = modality_strength(features, labels, queries=queries, family=family)
    return strength["ndcg@10"], int(queries.size) - strength["ndcg_skipped"]


def dataset_imbalance(pairs, image: np.ndarray, text: np.ndarray, dataset: str, k: int = 10,
                      min_images: int = 10) -> pd.DataFrame:
    """The rows of one dataset's split (module docstring) from its teacher features."""
    labels, caption_labels = pairs.labels, pairs.caption_labels
    family, caption_family = pairs.family, pairs.family[pairs.txt_to_img]
    first = pairs.first_caption_of_image()
    agreement = 100 * knn_overlap_per_item(image, caption_sum_per_image(text, pairs.txt_to_img, pairs.n_images), k)
    rows = []

    def add(grouping, group, image_queries, text_queries):
        for measure, (value, n) in (("image NDCG@10", _strength(image, labels, family, image_queries)),
                                    ("text NDCG@10", _strength(text, caption_labels, caption_family, text_queries))):
            rows.append((dataset, grouping, group, measure, value, n))
        if image_queries.size:
            rows.append((dataset, grouping, group, "kNN agreement", float(agreement[image_queries].mean()),
                         int(image_queries.size)))

    sizes = np.bincount(labels[labels >= 0], minlength=len(pairs.label_names))
    groups = [(name, np.flatnonzero(labels == c)) for c, name in enumerate(pairs.label_names) if sizes[c] >= min_images]
    small = np.flatnonzero((labels >= 0) & (sizes[np.maximum(labels, 0)] < min_images))
    for name, members in groups + ([(OTHER, small)] if small.size else []):
        add("category", name, members, first[members][first[members] >= 0])
    weak_caption = pairs.meta.get("caption_weak")
    if weak_caption is None:
        add("caption quality", ALL, np.arange(pairs.n_images), first[first >= 0])
    else:
        weak_caption, weak_image = np.asarray(weak_caption, bool), np.asarray(pairs.meta["weak_text"], bool)
        add("caption quality", WEAK, np.flatnonzero(weak_image), np.flatnonzero(weak_caption))
        add("caption quality", RICH, np.flatnonzero(~weak_image), np.flatnonzero(~weak_caption))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def natural_imbalance(datasets: Sequence[str] = ("twemoji", "openclipart"), split: str = "test", cache_dir=None,
                      progress: bool = False) -> pd.DataFrame:
    """`dataset_imbalance` of each dataset spec's ``split``, its clean teacher features from the cache (encoded
    on first use), one frame of `COLUMNS`."""
    if isinstance(datasets, str) or not datasets:
        raise ValueError(f"datasets must be a non-empty list of dataset specs, got {datasets!r}")
    frames = []
    for spec in datasets:
        pairs = load_splits(spec, cache=array_cache())[split]
        f = load_features(pairs, cache_dir=cache_dir, progress=progress)
        frames.append(dataset_imbalance(pairs, f.image, f.text, spec))
    return pd.concat(frames, ignore_index=True)


def imbalance_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per dataset: its weaker teacher over the whole split and, where text quality is flagged, how
    far weak captions fall behind rich ones (from the caption-quality rows of `natural_imbalance`)."""
    out = []
    for dataset, part in table.groupby("dataset", sort=False):
        q = part[part.grouping == "caption quality"].set_index(["group", "measure"])["value"]
        n = part[part.grouping == "caption quality"].set_index(["group", "measure"])["n"]
        if (ALL, "text NDCG@10") in q:
            img, txt = q[(ALL, "image NDCG@10")], q[(ALL, "text NDCG@10")]
            out.append(f"{dataset}: image teacher NDCG@10 {img:.1f}, text teacher {txt:.1f} "
                       f"({'text' if txt < img else 'image'} is the weaker modality); no caption is flagged as weak.")
            continue
        weak, rich = q[(WEAK, "text NDCG@10")], q[(RICH, "text NDCG@10")]
        share = n[(WEAK, "text NDCG@10")] / max(n[(WEAK, "text NDCG@10")] + n[(RICH, "text NDCG@10")], 1)
        img_weak, img_rich = q[(WEAK, "image NDCG@10")], q[(RICH, "image NDCG@10")]
        out.append(f"{dataset}: weak captions ({100 * share:.0f} % of the split's) reach text NDCG@10 {weak:.1f}, "
                   f"rich ones {rich:.1f}"
                   + (" (a collection name shared across a folder is a category cue, so category relevance does not "
                      "see what the weak-text rule flags)" if weak >= rich else "")
                   + f"; images whose text is all weak reach image NDCG@10 {img_weak:.1f}, the others "
                   f"{img_rich:.1f}; the teachers agree on {q[(WEAK, 'kNN agreement')]:.1f} % and "
                   f"{q[(RICH, 'kNN agreement')]:.1f} % of their neighbours.")
    return out
