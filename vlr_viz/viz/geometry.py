"""The common space in 2-D: projections (UMAP / PCA, cached), Procrustes alignment of two layouts, the
baseline-vs-rebalanced scatter of images and captions, and the items whose neighbourhoods moved most.

UMAP: McInnes, Healy & Melville, arXiv 1802.03426 (umap-learn, fixed ``random_state``). Orthogonal Procrustes:
Schönemann, Psychometrika 1966: ``min_{Q orthogonal, s} ‖s (Y - ȳ) Q - (X - x̄)‖_F`` has ``Q = U Vᵀ`` from the SVD
``(Y - ȳ)ᵀ (X - x̄) = U Σ Vᵀ`` and ``s = trace(Σ) / ‖Y - ȳ‖²_F``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vlr_viz.arrays import first_caption_of_image, l2_normalize, numeric_matrix
from vlr_viz.imbalance.diagnostics import knn_overlap_per_item
from vlr_viz.keys import content_hash
from vlr_viz.store.arrays import cached_array
from vlr_viz.viz.colors import category_color, series_color
from vlr_viz.viz.sampling import sample_pairs

PROJECTION_METHODS = ("umap", "pca")
WEBGL_THRESHOLD = 3000


def _embeddings(x, name: str) -> np.ndarray:
    return numeric_matrix(x, name, dtype=np.float32)


def _pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal-component scores; each axis' sign fixed so its largest-magnitude loading is positive."""
    xc = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(comps.shape[0]), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    out = xc @ comps.T
    if out.shape[1] < 2:  # one-dimensional input: pad a zero axis
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


def _umap_2d(x: np.ndarray, seed: int, n_neighbors: int, min_dist: float, metric: str) -> np.ndarray:
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, x.shape[0] - 1), min_dist=min_dist,
                        metric=metric, random_state=seed, transform_seed=seed, n_jobs=1)
    return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def project_2d(emb, method: str = "umap", seed: int = 0, cache_dir=None, normalize: bool = True,
               n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine") -> np.ndarray:
    """2-D layout ``(N, 2)`` float32 of embeddings ``(N, D)``.

    Args:
        method: ``"umap"`` (umap-learn, ``random_state=seed``: deterministic, single-threaded; the first fit in a
            process compiles its numba kernels first) or ``"pca"`` (instant; signs fixed, so the result is deterministic).
        seed: UMAP random state.
        cache_dir: when given, the layout is cached with `vlr_viz.store.arrays.cached_array`, keyed by the content
            hash of the embeddings and every parameter.
        normalize: L2-normalise rows first (the common space is compared by cosine).
        n_neighbors, min_dist, metric: UMAP parameters (``n_neighbors`` is capped at ``N - 1``).
    """
    if method not in PROJECTION_METHODS:
        raise ValueError(f"method must be one of {PROJECTION_METHODS}; got {method!r}")
    x = _embeddings(emb, "emb")
    if x.shape[0] < 3:
        raise ValueError(f"emb needs at least 3 rows to project; got {x.shape[0]}")
    if normalize:
        x = l2_normalize(x)
    params = {"method": method, "normalize": normalize}
    if method == "umap":
        params.update(seed=int(seed), n_neighbors=int(n_neighbors), min_dist=float(min_dist), metric=metric)

    def compute() -> np.ndarray:
        if method == "pca":
            return _pca_2d(x)
        return _umap_2d(x, int(seed), int(n_neighbors), float(min_dist), metric)

    layout, _ = cached_array(cache_dir, f"proj2d-{method}", content_hash(x, params), compute, meta=params)
    return layout


def procrustes_align(reference, moving, scaling: bool = True, reflection: bool = True) -> np.ndarray:
    """``moving`` mapped onto ``reference`` by translation, rotation (and reflection), and isotropic scaling.

    Rows correspond (same items). Returns ``s (Y - ȳ) Q + x̄`` in the reference's frame (unlike
    ``scipy.spatial.procrustes``, which standardises both sets). ``reflection=False`` restricts ``Q`` to rotations.
    """
    moving = np.asarray(moving)
    out_dtype = moving.dtype if np.issubdtype(moving.dtype, np.floating) else np.float64
    x = np.asarray(reference, dtype=np.float64)
    y = moving.astype(np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 2:
        raise ValueError(f"reference and moving must be (N, d) arrays of the same shape, N >= 2; "
                         f"got {x.shape} and {y.shape}")
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - xm, y - ym
    u, sig, vt = np.linalg.svd(yc.T @ xc)
    if not reflection and np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
        sig = sig.copy()
        sig[-1] *= -1
    q = u @ vt
    norm = float(np.sum(yc ** 2))
    s = float(np.sum(sig)) / norm if scaling and norm > 0 else 1.0
    return (s * yc @ q + xm).astype(out_dtype)


def _panel_embeddings(panel, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(panel, Mapping) or "img" not in panel or "txt" not in panel:
        raise ValueError(f"{name} must be a dict with 'img' (N, D) and 'txt' (M, D) embeddings")
    img, txt = _embeddings(panel["img"], f"{name}['img']"), _embeddings(panel["txt"], f"{name}['txt']")
    if img.shape[1] != txt.shape[1]:
        raise ValueError(f"{name}: 'img' and 'txt' must share a dimension; got {img.shape[1]} and {txt.shape[1]}")
    return img, txt


def _category_name(c: int, label_names) -> str:
    if c < 0:
        return "unknown"
    return str(label_names[c]) if label_names is not None and c < len(label_names) else f"category {c}"


def _thumbnail_picks(n: int, count: int, indices) -> np.ndarray:
    if indices is not None:
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"thumbnail_indices must lie in [0, {n})")
        return idx
    return np.unique(np.linspace(0, n - 1, num=min(count, n)).round().astype(np.int64)) if count > 0 else \
        np.empty(0, np.int64)


def panel_layouts(panels, method: str = "umap", seed: int = 0, cache_dir=None, align: bool = True,
                  reference_layout=None) -> list[np.ndarray]:
    """The ``(N + M, 2)`` layout of each ``(img, txt)`` panel (`project_2d` of ``[img; txt]``): the first aligned to
    ``reference_layout`` when given, every later one Procrustes-aligned to the first (``align``)."""
    layouts = [project_2d(np.vstack([i, t]), method=method, seed=seed, cache_dir=cache_dir) for i, t in panels]
    if reference_layout is not None:
        ref = np.asarray(reference_layout)
        if ref.shape != layouts[0].shape:
            raise ValueError(f"reference_layout must have shape {layouts[0].shape}; got {ref.shape}")
        layouts[0] = procrustes_align(ref, layouts[0])
    if align:
        layouts[1:] = [procrustes_align(layouts[0], xy) for xy in layouts[1:]]
    return layouts


LEGEND_MARGINS, LEGEND_ROW = 200, 22
"""Pixels of the figure outside its legend (top and bottom margins) and per legend entry: the figure grows with the
categories, so that the legend of a dataset with many (OpenClipArt's 22) is not cut off at the bottom."""


def common_space_figure(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray] | None, labels,
                        label_names: Sequence[str] | None = None, captions: Sequence[str] | None = None,
                        thumbnails=None, method: str = "umap", show_links: bool = False, *, txt_to_img=None,
                        chars: Sequence[str] | None = None, titles: Sequence[str] = ("baseline", "rebalanced"),
                        seed: int = 0, cache_dir=None, align: bool = True, n_thumbnails: int = 40,
                        thumbnail_indices=None, thumbnail_scale: float = 0.05,
                        webgl_threshold: int = WEBGL_THRESHOLD, title: str | None = None,
                        reference_layout=None, max_points: int | None = None) -> go.Figure:
    """Images and captions of the common space in 2-D, baseline next to rebalanced, coloured by category.

    Args:
        before, after: ``{"img": (N, D), "txt": (M, D)}`` embeddings of the same items in two models; ``after``
            may be ``None`` (one panel). Each panel projects ``[img; txt]`` jointly (`project_2d`); the ``after``
            layout is Procrustes-aligned to the ``before`` one (``align``) so that only real moves show.
        labels: category id per image ``(N,)``; a caption takes its image's category.
        label_names: category names (legend, hover).
        captions: ``M`` caption strings (hover; an image's hover shows its first caption).
        thumbnails: uint8 images ``(N, H, W, 3)`` or an `~vlr_viz.data.ImageSource`: a subset (``thumbnail_indices``, default ``n_thumbnails``
            evenly spread) is drawn as layout images at the image points.
        method: ``"umap"`` or ``"pca"`` (fast).
        show_links: draw a line from each image to each of its captions.
        txt_to_img: image of each caption ``(M,)``; default: caption ``i`` belongs to image ``i`` (``M == N``).
        chars: one emoji character per image (``PairSet.meta["chars"]``), shown in hover text.
        reference_layout: ``(N + M, 2)`` layout to align the first panel to (keeps a widget's view steady).
        webgl_threshold: use ``Scattergl`` when the figure has more points than this.
        max_points: with more images + captions than this, draw a seeded random subsample of whole pairs
            (`vlr_viz.viz.sampling.sample_pairs`, seed ``seed``) and say which fraction in the title; show
            every point with `vlr_viz.viz.large_scatter.linked_common_space`.

    Image markers are circles, caption markers open diamonds; the legend toggles a category in both panels.
    """
    if max_points is not None:
        img0, txt0 = _panel_embeddings(before, "before")
        n_img = img0.shape[0]
        t2i_all = np.arange(n_img) if txt_to_img is None else np.asarray(txt_to_img, dtype=np.int64)
        if n_img + txt0.shape[0] > max_points:
            keep, kept, kept_t2i, fraction = sample_pairs(t2i_all, n_img, max_points, seed)
            sub = lambda e: None if e is None else {"img": np.asarray(e["img"])[keep],  # noqa: E731
                                                     "txt": np.asarray(e["txt"])[kept]}
            pick = lambda xs, idx: None if xs is None else [xs[int(i)] for i in idx]  # noqa: E731
            sampled_title = (f"Common space ({method.upper()}): a random {100 * fraction:.1f} % of the test pairs "
                             f"({keep.size:,} images, {kept.size:,} captions; seed {seed})")
            return common_space_figure(
                sub(before), sub(after), np.asarray(labels)[keep], label_names, pick(captions, kept),
                thumbnails=None if thumbnails is None else (thumbnails.subset(keep) if hasattr(thumbnails, "subset")
                                                            else np.asarray(thumbnails)[keep]),
                method=method, show_links=show_links, txt_to_img=kept_t2i, chars=pick(chars, keep), titles=titles,
                seed=seed, cache_dir=cache_dir, align=align, n_thumbnails=n_thumbnails,
                thumbnail_scale=thumbnail_scale, webgl_threshold=webgl_threshold, title=title or sampled_title)
    img_b, txt_b = _panel_embeddings(before, "before")
    panels = [(img_b, txt_b)]
    if after is not None:
        img_a, txt_a = _panel_embeddings(after, "after")
        if img_a.shape[0] != img_b.shape[0] or txt_a.shape[0] != txt_b.shape[0]:
            raise ValueError(f"before and after must hold the same items; got {img_b.shape[0]}+{txt_b.shape[0]} "
                             f"and {img_a.shape[0]}+{txt_a.shape[0]}")
        panels.append((img_a, txt_a))
    n, m = img_b.shape[0], txt_b.shape[0]
    lab = np.asarray(labels)
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must hold {n} integer category ids (one per image); got shape {lab.shape}")
    t2i = np.arange(n) if txt_to_img is None else np.asarray(txt_to_img, dtype=np.int64)
    if t2i.shape != (m,) or (m and (t2i.min() < 0 or t2i.max() >= n)):
        hint = "" if txt_to_img is not None else " (give txt_to_img when M != N)"
        raise ValueError(f"txt_to_img must map each of the {m} captions to an image in [0, {n}); "
                         f"got shape {t2i.shape}{hint}")
    if captions is not None and len(captions) != m:
        raise ValueError(f"captions has {len(captions)} entries for {m} caption embeddings")
    if chars is not None and len(chars) != n:
        raise ValueError(f"chars has {len(chars)} entries for {n} images")
    cap_lab = lab[t2i]

    layouts = panel_layouts(panels, method, seed, cache_dir, align, reference_layout)

    first_caption = first_caption_of_image(t2i, n)
    glyph = [f"{chars[i]} " if chars is not None and chars[i] else "" for i in range(n)]
    img_hover = [f"{glyph[i]}<b>{captions[first_caption[i]] if captions is not None and first_caption[i] >= 0 else ''}"
                 f"</b><br>image #{i} · {_category_name(int(lab[i]), label_names)}" for i in range(n)]
    cap_hover = [f"“{captions[j] if captions is not None else ''}”<br>{glyph[t2i[j]]}caption #{j} of image "
                 f"#{t2i[j]} · {_category_name(int(cap_lab[j]), label_names)}" for j in range(m)]

    scatter = go.Scattergl if len(panels) * (n + m) > webgl_threshold else go.Scatter
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(titles)[: len(panels)],
                        horizontal_spacing=0.04)
    cats = sorted(set(lab.tolist()) | set(cap_lab.tolist()), key=lambda c: (c < 0, c))
    for p, xy in enumerate(layouts):
        xy_img, xy_txt = xy[:n], xy[n:]
        if show_links and m:
            seg = np.full((3 * m, 2), np.nan)
            seg[0::3], seg[1::3] = xy_img[t2i], xy_txt
            fig.add_trace(scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", name="image → caption",
                                  line=dict(color="rgba(120,120,120,0.35)", width=0.6), hoverinfo="skip",
                                  legendgroup="links", showlegend=p == 0), row=1, col=p + 1)
        for c in cats:
            name = _category_name(c, label_names)
            ii, jj = np.flatnonzero(lab == c), np.flatnonzero(cap_lab == c)
            colour = category_color(c)
            fig.add_trace(scatter(
                x=xy_img[ii, 0], y=xy_img[ii, 1], mode="markers", name=name, legendgroup=f"category {c}",
                showlegend=p == 0, marker=dict(symbol="circle", size=7, color=colour, opacity=0.85,
                                               line=dict(width=0.5, color="white")),
                text=[img_hover[i] for i in ii], customdata=ii, hovertemplate="%{text}<extra>image</extra>",
                meta={"modality": "image", "category": int(c), "panel": p}), row=1, col=p + 1)
            fig.add_trace(scatter(
                x=xy_txt[jj, 0], y=xy_txt[jj, 1], mode="markers", name=name, legendgroup=f"category {c}",
                showlegend=False, marker=dict(symbol="diamond-open", size=7, color=colour, opacity=0.85),
                text=[cap_hover[j] for j in jj], customdata=jj, hovertemplate="%{text}<extra>caption</extra>",
                meta={"modality": "text", "category": int(c), "panel": p}), row=1, col=p + 1)
        if thumbnails is not None:
            _add_thumbnails(fig, thumbnails, xy_img, n, p, n_thumbnails, thumbnail_indices, thumbnail_scale)
    for symbol, what in (("circle", "image"), ("diamond-open", "caption")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"marker: {what}",
                                 marker=dict(symbol=symbol, size=8, color=series_color("teacher")),
                                 legendgroup="markers", hoverinfo="skip"), row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=f"{method.upper()} 1")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=f"{method.upper()} 2")
    for p in range(1, len(panels)):
        fig.update_yaxes(scaleanchor=f"x{p + 1}", row=1, col=p + 1, title=None)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    entries = len(cats) + 2 + bool(show_links and m)  # categories, the two marker keys, the links
    fig.update_layout(title=title or f"Common space ({method.upper()}): images ● and captions ◇ by category",
                      template="plotly_white", height=max(560, LEGEND_MARGINS + LEGEND_ROW * entries),
                      width=520 * len(panels) + 220, hoverlabel=dict(font_size=13),
                      legend=dict(itemsizing="constant", tracegroupgap=2))
    fig.layout.meta = {"method": method, "layouts": [xy.tolist() for xy in layouts], "n_images": n,
                       "n_captions": m}
    return fig


def _add_thumbnails(fig, thumbnails, xy_img, n, panel, count, indices, scale) -> None:
    from vlr_viz.data.sources import ImageSource
    from vlr_viz.viz.thumbnails import thumbnail_uris

    if isinstance(thumbnails, ImageSource):
        if len(thumbnails) != n:
            raise ValueError(f"thumbnails must hold N={n} images; got {len(thumbnails)}")
    else:
        thumbnails = np.asarray(thumbnails)
        if thumbnails.ndim != 4 or thumbnails.shape[0] != n or thumbnails.dtype != np.uint8:
            raise ValueError(f"thumbnails must be uint8 images (N={n}, H, W, C) or an ImageSource; got "
                             f"{thumbnails.dtype} {thumbnails.shape}")
    picks = _thumbnail_picks(n, count, indices)
    span = float(np.ptp(xy_img, axis=0).max()) or 1.0
    suffix = "" if panel == 0 else str(panel + 1)
    for i, uri in zip(picks, thumbnail_uris(thumbnails, picks, size=32)):
        fig.add_layout_image(dict(source=uri, xref=f"x{suffix}", yref=f"y{suffix}",
                                  x=float(xy_img[i, 0]), y=float(xy_img[i, 1]), sizex=scale * span,
                                  sizey=scale * span, xanchor="center", yanchor="middle", layer="above",
                                  sizing="contain", opacity=0.95))


def who_moved_most(before_emb, after_emb, k: int = 10, top: int = 15, names: Sequence[str] | None = None,
                   labels=None, label_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Items whose k nearest neighbours changed most between two spaces, most-moved first.

    ``moved = 1 - |kNN_before(i) ∩ kNN_after(i)| / k``; ties keep item order. Returns the ``top`` rows with
    columns ``item``, ``name`` (e.g. the caption), ``category``, ``overlap``, ``moved``.
    """
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer; got {top!r}")
    overlap = knn_overlap_per_item(before_emb, after_emb, k)
    n = overlap.size
    if names is not None and len(names) != n:
        raise ValueError(f"names has {len(names)} entries for {n} items")
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and lab.shape != (n,):
        raise ValueError(f"labels must have one entry per item ({n}); got shape {lab.shape}")
    order = np.argsort(-(1.0 - overlap), kind="stable")[:top]
    return pd.DataFrame({
        "item": order,
        "name": [str(names[i]) if names is not None else f"#{i}" for i in order],
        "category": [_category_name(int(lab[i]), label_names) if lab is not None else "" for i in order],
        "overlap": overlap[order],
        "moved": 1.0 - overlap[order],
    })
