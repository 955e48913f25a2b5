"""One call for every metric of section E: a tidy table of (model, task, metric, relevance, value).

Tasks: ``i2t`` / ``t2i`` (cross-modal, relevance ``pair``) and ``cross`` (``rsum``); ``i2i`` / ``t2t``
(single-modal); ``mixed``, ``mixed-img``, ``mixed-txt`` (one gallery of images and captions). With teachers, the
raw teacher features get the single-modal rows under ``model="teacher"``: the ceiling that the student's
image and text towers are measured against. The table's ``attrs["empty_queries"]`` records the NDCG convention
for queries with nothing relevant (``"skip"`` or ``"zero"``, the TIP24 code's), so that a table built from it
can say which it uses.
"""
from __future__ import annotations

import re

import pandas as pd

from vlr_viz.eval.mixed import mixed_retrieval
from vlr_viz.eval.ranking import check_empty_queries
from vlr_viz.eval.relevance import caption_image_relevance
from vlr_viz.eval.retrieval import recall_at_k
from vlr_viz.eval.single_modal import image_to_image, text_to_text

COLUMNS = ["model", "task", "metric", "relevance", "value"]
_KEY = re.compile(r"^(?P<task>[a-z0-9-]+)_(?P<metric>[^\[]+)\[(?P<relevance>[^\]]+)\]$")


def _rows(model: str, metrics: dict) -> list[dict]:
    rows = []
    for key, value in metrics.items():
        if key.endswith("_ranks"):
            continue
        if key == "rsum":
            task, metric, relevance = "cross", "rsum", "pair"
        elif key.startswith(("i2t_", "t2i_")):
            task, metric, relevance = key[:3], key[4:], "pair"
        else:
            match = _KEY.match(key)
            if match is None:
                raise ValueError(f"metric key {key!r} does not read task_metric[relevance]")
            task, metric, relevance = match["task"], match["metric"], match["relevance"]
        rows.append(dict(model=model, task=task, metric=metric, relevance=relevance, value=float(value)))
    return rows


def evaluate(
    img_emb,
    txt_emb,
    pairs,
    *,
    teachers: dict | None = None,
    relevance=None,
    cache=None,
    ks=(1, 5, 10),
    ndcg_ks=(10, 20, 50),
    exclude_family: bool = False,
    protocol: str = "all",
    fold_size: int = 1000,
    gain: str = "linear",
    knn_k: int = 10,
    empty_queries: str = "skip",
    model: str = "student",
) -> pd.DataFrame:
    """Cross-modal, single-modal and mixed metrics of common-space embeddings on ``pairs``.

    Args:
        img_emb, txt_emb: ``(N, D)`` and ``(M, D)`` student embeddings (numpy or torch).
        pairs: the `vlr_viz.data.pairs.PairSet` they were computed on.
        teachers: optional ``{"image": (N, Da), "text": (M, Db)}`` raw teacher features (either key may be absent).
        relevance: optional precomputed ``(M, N)`` caption→image ROUGE-L matrix (else computed, cached in
            ``cache``, by `caption_image_relevance`; for a dataset without caption texts there is none, and
            only the category-relevance rows of the single-modal and mixed tasks appear).
        ks: Recall@K cut-offs; ``protocol`` / ``fold_size``: see `recall_at_k`.
        ndcg_ks: cut-offs of NDCG@K and mAP@K; ``gain``, ``exclude_family``, ``knn_k``: see `single_modal`.
        empty_queries: ``"skip"`` (default) leaves queries with no relevant item out of the NDCG means;
            ``"zero"`` scores them 0 (the TIP24 code's convention); see `vlr_viz.eval.ranking`.
        model: the name in the ``model`` column for the student rows.

    Returns:
        ``pandas.DataFrame`` with columns ``model, task, metric, relevance, value`` and
        ``attrs["empty_queries"]``.
    """
    check_empty_queries(empty_queries)
    if teachers is not None and not set(teachers) <= {"image", "text"}:
        raise ValueError(f"teachers keys must be 'image' and/or 'text'; got {sorted(teachers)}")
    rel = relevance
    if rel is None and pairs.captions is not None:
        rel = caption_image_relevance(pairs, cache=cache)
    opts = dict(ks=ndcg_ks, gain=gain, exclude_family=exclude_family, knn_k=knn_k, empty_queries=empty_queries)
    rows = _rows(model, recall_at_k(img_emb, txt_emb, pairs.txt_to_img, ks, protocol=protocol,
                                    fold_size=fold_size, return_ranks=False))
    rows += _rows(model, image_to_image(img_emb, pairs, rel, **opts))
    rows += _rows(model, text_to_text(txt_emb, pairs, rel, **opts))
    rows += _rows(model, mixed_retrieval(img_emb, txt_emb, pairs, rel, **opts))
    for name, fn in (("image", image_to_image), ("text", text_to_text)):
        if teachers and teachers.get(name) is not None:
            rows += _rows("teacher", fn(teachers[name], pairs, rel, **opts))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["empty_queries"] = empty_queries
    return df


def metrics_dict(df: pd.DataFrame) -> dict:
    """Flatten an `evaluate` table to ``{"model/task/metric[relevance]": value}``."""
    return {f"{r.model}/{r.task}/{r.metric}[{r.relevance}]": r.value for r in df.itertuples(index=False)}
