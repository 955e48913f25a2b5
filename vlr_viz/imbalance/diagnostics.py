"""Modal-imbalance diagnostics: how strong each modality is and how far the common space bends the teachers'.

All functions take numpy arrays (rows are items) and return floats or small dicts (docs/method.md, D3):

- :func:`modality_gap_vector`, :func:`modality_gap`: the vector between the modality centroids and its length
  (Liang et al., "Mind the Gap", NeurIPS 2022); :func:`gap_shift_curve`, their experiment of moving both
  modalities along that vector and measuring cross-modal retrieval.
- :func:`alignment`, :func:`uniformity`, :func:`alignment_uniformity`: the two properties of a contrastive space
  of Wang & Isola (ICML 2020), per tower.
- :func:`relation_matrix`, :func:`structure_distortion`: cosine relations, and mean ``|S - R|`` and Spearman
  correlation between a student's and a teacher's relations over the pairs ``i < j`` (the relations are symmetric,
  so this equals the average over all ``i ≠ j``).
- :func:`knn_overlap`: how many of an item's k nearest neighbours two spaces share.
- :func:`linear_cka`: linear centred kernel alignment (Kornblith et al., ICML 2019).
- :func:`modality_strength`, :func:`pair_strengths`: single-modal retrieval quality of one modality's features
  (category-relevance NDCG and kNN category accuracy, via :mod:`vlr_viz.eval`), and :func:`chance_ndcg`, the
  score of a random ranking that a category-relevance NDCG sits on.
- :func:`imbalance_index`, :func:`imbalance_summary`: which modality is weaker and by how much.
- :func:`diagnose`: all of the above for a trained dual encoder and its two teachers.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from vlr_viz import arrays
from vlr_viz.arrays import numeric_matrix
from vlr_viz.data.pairs import PairSet
from vlr_viz.eval.cutoffs import check_cutoffs

_CHUNK = 1024


def _same_rows(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names} must describe the same items; got {a.shape[0]} and {b.shape[0]} rows")


def l2_normalize(x, center: bool = False) -> np.ndarray:
    """Rows scaled to unit L2 norm (optionally after subtracting the mean row), float64, after checking ``x``."""
    return arrays.l2_normalize(numeric_matrix(x, "x"), center=center)


def _common_space(img_emb, txt_emb) -> tuple[np.ndarray, np.ndarray]:
    v, t = numeric_matrix(img_emb, "img_emb"), numeric_matrix(txt_emb, "txt_emb")
    if v.shape[1] != t.shape[1]:
        raise ValueError(f"img_emb and txt_emb must share a dimension; got {v.shape[1]} and {t.shape[1]}")
    return l2_normalize(v), l2_normalize(t)


def modality_gap_vector(img_emb, txt_emb) -> np.ndarray:
    """``Δ = mean_i norm(v_i) - mean_j norm(t_j)``: the gap vector between the modality centroids of unit
    embeddings (Liang et al., NeurIPS 2022, eq. 1). Both sets share the dimension; their sizes may differ."""
    v, t = _common_space(img_emb, txt_emb)
    return v.mean(axis=0) - t.mean(axis=0)


def modality_gap(img_emb, txt_emb) -> float:
    """``‖Δ‖₂`` of :func:`modality_gap_vector`: the distance between the modality centroids (Liang et al., 2022)."""
    return float(np.linalg.norm(modality_gap_vector(img_emb, txt_emb)))


def gap_shift_curve(img_emb, txt_emb, txt_to_img, shifts=np.linspace(-1.0, 1.0, 9), ks=(1, 5, 10)):
    """Liang et al.'s (2022, sec. 4.2) shift experiment: move both modalities along the gap, re-rank, measure.

    With ``Δ`` the gap vector of the unit embeddings, each shift ``α`` moves ``v' = norm(v - α Δ / 2)`` and
    ``t' = norm(t + α Δ / 2)``: ``α = 0`` is the trained space, ``α = 1`` makes the centroids meet before
    re-normalising, ``α < 0`` widens the gap. Cross-modal retrieval (`vlr_viz.eval.recall_at_k`) is measured at
    each shift.

    Returns a ``pandas.DataFrame`` with one row per shift: ``shift``, ``gap`` (:func:`modality_gap` after the
    shift), ``i2t_R@k``, ``t2i_R@k`` for each ``k`` and ``rsum``.
    """
    import pandas as pd

    from vlr_viz.eval import recall_at_k  # imported here: vlr_viz.eval loads torch

    v, t = _common_space(img_emb, txt_emb)
    shifts = np.asarray(shifts, dtype=np.float64).ravel()
    if shifts.size == 0 or not np.isfinite(shifts).all():
        raise ValueError(f"shifts must be a non-empty sequence of finite numbers; got {shifts!r}")
    gap = v.mean(axis=0) - t.mean(axis=0)
    rows = []
    for a in shifts:
        vs, ts = l2_normalize(v - a * gap / 2), l2_normalize(t + a * gap / 2)
        r = recall_at_k(vs.astype(np.float32), ts.astype(np.float32), txt_to_img, ks, return_ranks=False)
        keep = {k: val for k, val in r.items() if "R@" in k or k == "rsum"}
        rows.append({"shift": float(a), "gap": modality_gap(vs, ts), **keep})
    return pd.DataFrame(rows)


def alignment(x, y, alpha: float = 2.0) -> float:
    """``mean_i ‖norm(x_i) - norm(y_i)‖₂^α`` over paired rows (Wang & Isola, ICML 2020, ``L_align``; lower:
    positive pairs closer)."""
    a, b = l2_normalize(x), l2_normalize(y)
    _same_rows(a, b, "x and y")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive; got {alpha!r}")
    return float(np.mean(np.linalg.norm(a - b, axis=1) ** alpha))


def uniformity(x, t: float = 2.0, max_items: int = 4000, seed: int = 0) -> float:
    """``log mean_{i<j} exp(-t ‖norm(x_i) - norm(x_j)‖²)`` (Wang & Isola, ICML 2020, ``L_uniform``; lower: more
    uniform on the sphere; it lies in [-4t, 0] and is 0 when every row coincides).

    O(N²): above ``max_items`` rows a seeded random subset of that size is used.
    """
    z = l2_normalize(x)
    if z.shape[0] < 2:
        raise ValueError("uniformity needs at least 2 rows")
    if not t > 0:
        raise ValueError(f"t must be positive; got {t!r}")
    if z.shape[0] > max_items:
        z = z[np.sort(np.random.default_rng(seed).choice(z.shape[0], max_items, replace=False))]
    iu = np.triu_indices(z.shape[0], k=1)
    sq = np.maximum(2.0 - 2.0 * arrays.cosine_matrix(z)[iu], 0.0)  # ‖a - b‖² of unit rows
    return float(np.log(np.mean(np.exp(-t * sq))))


def alignment_uniformity(img_emb, txt_emb, txt_to_img, alpha: float = 2.0, t: float = 2.0) -> dict[str, float]:
    """``{"alignment", "uniformity_image", "uniformity_text"}`` of a dual encoder (Wang & Isola, 2020):
    :func:`alignment` over the caption–image pairs (caption ``c`` with image ``txt_to_img[c]``) and
    :func:`uniformity` of each tower."""
    v, tt = _common_space(img_emb, txt_emb)
    t2i = np.asarray(txt_to_img, dtype=np.int64)
    if t2i.shape != (tt.shape[0],) or (t2i.size and (t2i.min() < 0 or t2i.max() >= v.shape[0])):
        raise ValueError(f"txt_to_img must hold one image index in [0, {v.shape[0]}) per caption ({tt.shape[0]})")
    return {"alignment": alignment(v[t2i], tt, alpha), "uniformity_image": uniformity(v, t),
            "uniformity_text": uniformity(tt, t)}


def relation_matrix(x, tau: float = 1.0, center: bool = False) -> np.ndarray:
    """Cosine relation matrix ``R = norm(x) norm(x)ᵀ / tau`` (``center``: subtract the mean feature first)."""
    if not tau > 0:
        raise ValueError(f"tau must be positive; got {tau!r}")
    z = l2_normalize(x, center=center)
    return z @ z.T / tau


def structure_distortion(student, teacher, tau: float = 1.0, center: bool = False) -> dict[str, float]:
    """How far a student's relations moved from a teacher's, on the same items (rows aligned).

    ``mae = mean_{i<j} |S_ij - R_ij|`` with ``S = relation_matrix(student)``, ``R = relation_matrix(teacher)``
    (scale ``1/tau``; ``center`` applies to both spaces, which removes the offset of non-negative CNN features,
    docs/method.md, F1) and ``spearman`` = Spearman rank correlation of the off-diagonal entries (scale-free).
    """
    s, r = numeric_matrix(student, "student"), numeric_matrix(teacher, "teacher")
    _same_rows(s, r, "student and teacher")
    if s.shape[0] < 3:
        raise ValueError("structure_distortion needs at least 3 items")
    return relation_distortion(relation_matrix(s, tau, center), relation_matrix(r, tau, center), entries="upper")


def relation_distortion(student, teacher, scale: float = 1.0, entries: str = "off_diagonal") -> dict[str, float]:
    """``mae = mean |S_ij − R_ij| · scale`` and Spearman ρ (scale-free) between two relation matrices, over the
    off-diagonal entries ``i ≠ j`` (``entries="upper"``: ``i < j``, the same mean for symmetric matrices).

    ``scale``: multiply the absolute gap, e.g. by a snapshot's τ2 to read relations ``x xᵀ/τ2`` on the cosine
    scale (docs/method.md, A5).
    """
    s, t = np.asarray(student, dtype=np.float64), np.asarray(teacher, dtype=np.float64)
    if s.ndim != 2 or s.shape != t.shape or s.shape[0] != s.shape[1] or s.shape[0] < 3:
        raise ValueError(f"student and teacher relations must be square matrices of equal shape (n >= 3); "
                         f"got {s.shape} and {t.shape}")
    if entries not in ("off_diagonal", "upper"):
        raise ValueError(f"entries must be 'off_diagonal' or 'upper'; got {entries!r}")
    pick = np.triu_indices(s.shape[0], k=1) if entries == "upper" else ~np.eye(s.shape[0], dtype=bool)
    a, b = s[pick], t[pick]
    rho = spearmanr(a, b).statistic if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan
    return {"mae": float(np.mean(np.abs(a - b)) * scale), "spearman": float(rho)}


def nearest_neighbours(x, k: int) -> np.ndarray:
    """Indices ``(N, k)`` of each row's k most cosine-similar other rows, nearest first (ties: lower index)."""
    z = l2_normalize(x)
    n = z.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer in [1, {n - 1}] for {n} items; got {k!r}")
    out = np.empty((n, k), dtype=np.int64)
    for lo in range(0, n, _CHUNK):
        sim = z[lo : lo + _CHUNK] @ z.T
        rows = np.arange(sim.shape[0])
        sim[rows, lo + rows] = -np.inf
        out[lo : lo + _CHUNK] = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return out


def knn_overlap_per_item(space_a, space_b, k: int = 10) -> np.ndarray:
    """``|kNN_a(i) ∩ kNN_b(i)| / k`` for every item (cosine neighbours, the item itself excluded), in [0, 1]."""
    a, b = numeric_matrix(space_a, "space_a"), numeric_matrix(space_b, "space_b")
    _same_rows(a, b, "space_a and space_b")
    both = np.sort(np.concatenate([nearest_neighbours(a, k), nearest_neighbours(b, k)], axis=1), axis=1)
    return np.sum(both[:, 1:] == both[:, :-1], axis=1) / k  # each list holds an item at most once


def knn_overlap(space_a, space_b, k: int = 10) -> float:
    """``mean_i |kNN_a(i) ∩ kNN_b(i)| / k`` (`knn_overlap_per_item`); in [0, 1]."""
    return float(knn_overlap_per_item(space_a, space_b, k).mean())


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al., 2019): ``‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F)``, columns centred.

    Invariant to orthogonal transforms and isotropic scaling of either space; 1 for ``x`` against itself.
    Computed through the ``N × N`` Gram matrices when that is smaller than the feature products.
    """
    a, b = numeric_matrix(x, "x"), numeric_matrix(y, "y")
    _same_rows(a, b, "x and y")
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    if a.shape[0] < min(a.shape[1], b.shape[1]):
        ka, kb = a @ a.T, b @ b.T
        num, den = np.sum(ka * kb), np.linalg.norm(ka) * np.linalg.norm(kb)
    else:
        num = np.linalg.norm(b.T @ a) ** 2
        den = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if den == 0:
        raise ValueError("linear_cka is undefined when a space is constant over the items")
    return float(num / den)


def chance_ndcg(relevance, ks=(10,), gain: str = "linear", mask=None) -> dict[str, float]:
    """Expected NDCG@k (×100) of a uniformly random ranking of each query's non-excluded gallery.

    Every rank holds, on average, the mean gain ``ḡ_q`` of the query's gallery, so
    ``E[NDCG@k] = ḡ_q · Σ_{r ≤ min(k, G_q)} 1/log2(r + 1) / IDCG@k``; queries with ``IDCG = 0`` are skipped, as in
    :func:`vlr_viz.eval.ndcg_at_k`. The floor that a category-relevance score sits on: with one dominant
    category it is far above zero. ``relevance`` and ``mask`` may be arrays or `vlr_viz.eval.ranking.RowBlocks`.
    """
    from vlr_viz.eval.ranking import RowBlocks  # imported here: vlr_viz.eval loads torch

    ks = check_cutoffs(ks)
    if gain not in ("linear", "exponential"):
        raise ValueError(f"gain must be 'linear' or 'exponential'; got {gain!r}")
    shape = relevance.shape if isinstance(relevance, RowBlocks) else np.shape(relevance)
    if len(shape) != 2 or (mask is not None and tuple(np.shape(mask) if not isinstance(mask, RowBlocks)
                                                      else mask.shape) != tuple(shape)):
        raise ValueError(f"relevance must be (Q, G) and mask the same shape; got {shape} and "
                         f"{None if mask is None else getattr(mask, 'shape', np.shape(mask))}")
    kmax = min(max(ks), shape[1])
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    sums = {k: [] for k in ks}
    for lo in range(0, shape[0], _CHUNK):
        rows = slice(lo, lo + _CHUNK)
        rel = np.asarray(relevance[rows], dtype=np.float64)
        keep = np.ones(rel.shape, dtype=bool) if mask is None else np.asarray(mask[rows], dtype=bool)
        g = np.where(keep, rel if gain == "linear" else np.exp2(rel) - 1.0, 0.0)
        size = keep.sum(axis=1)
        mean_gain = g.sum(axis=1) / np.maximum(size, 1)
        ideal = -np.sort(-g, axis=1)[:, :kmax]
        for k in ks:
            kk = min(k, kmax)
            idcg = (ideal[:, :kk] * discount[:kk]).sum(axis=1)
            span = np.cumsum(discount)[np.minimum(size, kk) - 1] * (size > 0)
            valid = idcg > 0
            sums[k].append(mean_gain[valid] * span[valid] / idcg[valid])
    out = {}
    for k in ks:
        values = np.concatenate(sums[k])
        out[f"ndcg@{k}"] = float(100.0 * values.mean()) if values.size else float("nan")
    return out


def modality_strength(features, labels, ks=(10,), knn_k: int = 10, queries=None, family=None,
                      gain: str = "linear") -> dict[str, float]:
    """Single-modal retrieval quality of one modality's features, with category relevance
    (`vlr_viz.eval.single_modal.category_strength`, the same numbers as the evaluation's category rows).

    Each query (default: every item; those with label ``-1`` are left out) ranks all other items by cosine
    similarity; an item is relevant when it shares the query's category (label ``-1`` never is). ``family`` (one
    id per item): also hide a query's same-family items (near-duplicates, docs/method.md, F3) from its gallery.

    Returns ``{"ndcg@k": ..}`` (×100 with ``gain``), ``"ndcg_skipped"``, ``"chance_ndcg@k"`` (:func:`chance_ndcg`,
    the random-ranking floor) and ``"knn_accuracy"`` (×100, ``knn_k`` neighbours over the same gallery).
    """
    from vlr_viz.eval.single_modal import category_strength  # imported here: vlr_viz.eval loads torch

    report = category_strength(numeric_matrix(features, "features", dtype=np.float32), labels, queries=queries,
                               family=family, ks=tuple(ks), knn_k=knn_k, gain=gain)
    out = {key: report[key] for key in report if key.startswith("ndcg")}
    graded = report["relevant"]
    out.update({f"chance_{key}": v for key, v in chance_ndcg(graded, tuple(ks), gain, report["mask"]).items()})
    out["knn_accuracy"] = report[f"knn@{knn_k}"]
    return {key: (int(v) if key == "ndcg_skipped" else float(v)) for key, v in out.items()}


def pair_strengths(pairs: PairSet, image_features=None, text_features=None, ks=(10,), knn_k: int = 10,
                   exclude_family: bool = False, gain: str = "linear") -> dict[str, dict[str, float]]:
    """:func:`modality_strength` of image features (i2i: every image queries all other images) and caption
    features (t2t: the first caption of each image queries all other captions), with the pairs' categories.

    Returns ``{"image": {...}, "text": {...}}`` for the features given. ``exclude_family``: hide same-family
    items from each query's gallery.
    """
    out = {}
    if image_features is not None:
        if np.shape(image_features)[0] != pairs.n_images:
            raise ValueError(f"image_features has {np.shape(image_features)[0]} rows for {pairs.n_images} images")
        out["image"] = modality_strength(image_features, pairs.labels, ks, knn_k, gain=gain,
                                         family=pairs.family if exclude_family else None)
    if text_features is not None:
        if np.shape(text_features)[0] != pairs.n_captions:
            raise ValueError(f"text_features has {np.shape(text_features)[0]} rows for {pairs.n_captions} captions")
        first = pairs.first_caption_of_image()
        out["text"] = modality_strength(text_features, pairs.caption_labels, ks, knn_k, queries=first[first >= 0],
                                        gain=gain, family=pairs.family[pairs.txt_to_img] if exclude_family else None)
    return out


def imbalance_index(strength_image: float, strength_text: float) -> float:
    """``(S_img - S_txt) / (S_img + S_txt)`` in [-1, 1]: positive when text is the weaker modality, 0 if balanced.

    Strengths are non-negative scores of the same kind (e.g. single-modal NDCG@10 of each modality).
    """
    si, st = float(strength_image), float(strength_text)
    if not (np.isfinite(si) and np.isfinite(st)) or si < 0 or st < 0:
        raise ValueError(f"strengths must be finite and non-negative; got image={strength_image!r}, "
                         f"text={strength_text!r}")
    return 0.0 if si + st == 0 else (si - st) / (si + st)


def imbalance_summary(strength_image: float, strength_text: float, tol: float = 0.05) -> dict:
    """``{"weaker": "text" | "image" | "balanced", "index": imbalance_index, "ratio": weaker / stronger}``.

    ``"balanced"`` when ``|index| <= tol``; ``ratio`` in [0, 1] is the share of the stronger modality's score
    the weaker one keeps (1 when both are zero).
    """
    if not 0 <= tol < 1:
        raise ValueError(f"tol must lie in [0, 1); got {tol!r}")
    index = imbalance_index(strength_image, strength_text)
    lo, hi = sorted((float(strength_image), float(strength_text)))
    weaker = "balanced" if abs(index) <= tol else ("text" if index > 0 else "image")
    return {"weaker": weaker, "index": index, "ratio": 1.0 if hi == 0 else lo / hi}


def diagnose(img_emb, txt_emb, pairs: PairSet, teacher_image, teacher_text, ks=(10,), knn_k: int = 10,
             tau: float = 1.0, center: bool = False, exclude_family: bool = False, tol: float = 0.05) -> dict:
    """Every imbalance diagnostic of a dual encoder against its two modal-independent teachers.

    Args:
        img_emb, txt_emb: student embeddings ``(N, D)`` of ``pairs.images`` and ``(M, D)`` of ``pairs.captions``.
        teacher_image, teacher_text: frozen teacher features ``(N, Dv)`` and ``(M, Dt)`` of the same items.
        ks, knn_k, exclude_family: single-modal strength settings (:func:`pair_strengths`); the imbalance
            indices use ``ndcg@ks[0]``. ``knn_k`` is also the k of :func:`knn_overlap`.
        tau, center: relation scale and centring for :func:`structure_distortion`.
        tol: tolerance of :func:`imbalance_summary`.

    Returns ``{"strength": {"teacher_image", "teacher_text", "student_image", "student_text"} (each
    {"ndcg@k", "knn_accuracy"}), "modality_gap": float, "structure_distortion": {"image": {"mae",
    "spearman"}, "text": ...} (image tower vs vision teacher, text tower vs text teacher), "knn_overlap":
    {"image", "text"}, "cka": {"image", "text"}, "imbalance": {"teacher": summary, "student": summary},
    "imbalance_above_chance": the same on ``ndcg - chance_ndcg``}``: with a dominant category the random-ranking
    floor is high and compresses the plain index.
    """
    teacher = pair_strengths(pairs, teacher_image, teacher_text, ks, knn_k, exclude_family)
    student = pair_strengths(pairs, img_emb, txt_emb, ks, knn_k, exclude_family)
    key = f"ndcg@{tuple(ks)[0]}"
    out = {
        "strength": {"teacher_image": teacher["image"], "teacher_text": teacher["text"],
                     "student_image": student["image"], "student_text": student["text"]},
        "modality_gap": modality_gap(img_emb, txt_emb),
        "structure_distortion": {}, "knn_overlap": {}, "cka": {},
        "imbalance": {
            "teacher": imbalance_summary(teacher["image"][key], teacher["text"][key], tol),
            "student": imbalance_summary(student["image"][key], student["text"][key], tol),
        },
        "imbalance_above_chance": {
            name: imbalance_summary(*(max(0.0, st[m][key] - st[m][f"chance_{key}"]) for m in ("image", "text")), tol)
            for name, st in (("teacher", teacher), ("student", student))
        },
    }
    for modality, emb, ref in (("image", img_emb, teacher_image), ("text", txt_emb, teacher_text)):
        out["structure_distortion"][modality] = structure_distortion(emb, ref, tau=tau, center=center)
        out["knn_overlap"][modality] = knn_overlap(ref, emb, k=knn_k)
        out["cka"][modality] = linear_cka(ref, emb)
    return out
