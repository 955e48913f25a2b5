"""Relation matrices as heatmaps: teacher relations ``R_v``, ``R_t``, fused ``E`` and student ``S_v``, ``S_t``,
``S_vt`` (TIP 2024 structure-aware distillation, docs/method.md, A3), and how a student's relations moved.

Items are ordered by category (stable: within a category the given order is kept, unknown labels last), with
lines at the category boundaries, so block structure (items of a category relate more to each other) is visible.
The diagonal is masked by default: the structure losses only use off-diagonal entries.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEACHER_RELATIONS = ("R_v", "R_t", "E")
RELATION_TITLES = {
    "R_v": "R_v · vision teacher",
    "R_t": "R_t · text teacher",
    "E": "E · fused teacher (λ)",
    "S_v": "S_v · student image–image",
    "S_t": "S_t · student text–text",
    "S_vt": "S_vt · student image–text",
    "S_pair": "S · student pair (v+t)",
}


def _labels(labels, n: int | None = None) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array; got dtype {lab.dtype}, shape {lab.shape}")
    if n is not None and lab.size != n:
        raise ValueError(f"labels has {lab.size} entries for matrices of {n} items")
    return lab.astype(np.int64)


def category_order(labels, order="category") -> np.ndarray:
    """Item order for display: ``"category"`` sorts by label (stable; unknown ``-1`` last), ``None``/``"none"``
    keeps the given order, an index array is used as is (it must be a permutation)."""
    lab = _labels(labels)
    n = lab.size
    if order is None or (isinstance(order, str) and order == "none"):
        return np.arange(n)
    if isinstance(order, str):
        if order != "category":
            raise ValueError(f"order must be 'category', 'none' or an index array; got {order!r}")
        key = np.where(lab < 0, np.iinfo(np.int64).max, lab)
        return np.argsort(key, kind="stable")
    idx = np.asarray(order, dtype=np.int64)
    if idx.shape != (n,) or not np.array_equal(np.sort(idx), np.arange(n)):
        raise ValueError(f"order must be a permutation of the {n} items")
    return idx


def category_blocks(sorted_labels) -> list[tuple[int, int, int]]:
    """Runs of equal labels in display order: ``[(label, start, stop), ...]`` (``stop`` exclusive)."""
    lab = _labels(sorted_labels)
    if lab.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(lab)) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [lab.size]])
    return [(int(lab[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def _ordered(matrix, name: str, n: int, idx: np.ndarray, mask_diagonal: bool) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (n, n):
        raise ValueError(f"matrix {name!r} must have shape ({n}, {n}) (one row and column per label); got {m.shape}")
    z = m[np.ix_(idx, idx)].copy()
    if mask_diagonal:
        np.fill_diagonal(z, np.nan)
    return z


def _category_name(c: int, label_names) -> str:
    if c < 0:
        return "unknown"
    return str(label_names[c]) if label_names is not None and c < len(label_names) else f"category {c}"


def _axis_ticks(blocks, label_names, angle: int = -45, tags: list[str] | None = None) -> dict:
    """Category names at the centre of each block (on a category axis of item ``tags``: at its centre item)."""
    centres = [(a + b - 1) / 2 if tags is None else tags[(a + b - 1) // 2] for _, a, b in blocks]
    return dict(tickmode="array", tickvals=centres, type="linear" if tags is None else "category",
                ticktext=[_category_name(c, label_names) for c, _, _ in blocks], tickangle=angle,
                tickfont=dict(size=9), showgrid=False, zeroline=False)


def _item_tags(item_names, labels_sorted, idx, label_names) -> list[str] | None:
    """One axis label per ordered item, ``"<index> · <name> (<category>)"`` (the index keeps repeated names apart),
    or ``None`` without names. Hover reads the row's and the column's label from the axes, so each name is stored
    once per axis instead of once per cell."""
    if item_names is None:
        return None
    if len(item_names) != len(idx):
        raise ValueError(f"item_names has {len(item_names)} entries for {len(idx)} items")
    return [f"{i} · {item_names[i]} ({_category_name(c, label_names)})" for i, c in zip(idx, labels_sorted)]


def _boundary_shapes(blocks, n: int, xref: str = "x", yref: str = "y", color: str = "white") -> list[dict]:
    """Lines between category blocks (at ``start - 0.5`` of each block but the first), on both axes."""
    line = dict(color=color, width=1)
    shapes = []
    for _, start, _ in blocks[1:]:
        pos = start - 0.5
        shapes.append(dict(type="line", xref=xref, yref=yref, x0=pos, x1=pos, y0=-0.5, y1=n - 0.5, line=line))
        shapes.append(dict(type="line", xref=xref, yref=yref, x0=-0.5, x1=n - 0.5, y0=pos, y1=pos, line=line))
    return shapes


def _default_rows(names: Sequence[str]) -> list[list[str]]:
    teachers = [nm for nm in TEACHER_RELATIONS if nm in names]
    students = [nm for nm in names if nm not in TEACHER_RELATIONS]
    return [r for r in (teachers, students) if r]


def relation_heatmaps(matrices: Mapping[str, np.ndarray], labels, label_names: Sequence[str] | None = None,
                      order="category", rows: Sequence[Sequence[str]] | None = None, mask_diagonal: bool = True,
                      item_names: Sequence[str] | None = None, colorscale: str = "Viridis",
                      title: str | None = "Relation matrices (ordered by category)",
                      panel_size: int = 300) -> go.Figure:
    """Side-by-side heatmaps of relation matrices of the same items, one shared colour scale per row.

    Args:
        matrices: ``{name: (n, n) array}``, e.g. ``R_v = a aᵀ/τ2``, ``R_t = b bᵀ/τ2``, ``E = λ R_t + (1-λ) R_v``,
            ``S_v = v vᵀ/τ2``, ``S_t = t tᵀ/τ2``, ``S_vt = v tᵀ/τ2`` (rows: images, columns: their captions).
        labels: category id of each item ``(n,)`` (``-1`` unknown).
        label_names: category names (tick labels, hover).
        order: ``"category"`` (default), ``"none"`` or an index permutation; see `category_order`.
        rows: names per figure row; default: teacher relations (``R_v``, ``R_t``, ``E``) in the first row and
            every other matrix, in the given order, in the second.
        mask_diagonal: show the diagonal as blank (the losses only use ``i ≠ j``); the colour range of a row is
            taken over the shown entries.
        item_names: one name per item (captions, emoji), shown on hover (as the axes' category labels).
        panel_size: pixels per panel side.

    Returns a figure with one ``Heatmap`` per matrix whose ``z`` is the ordered (masked) matrix.
    """
    if not isinstance(matrices, Mapping) or not matrices:
        raise ValueError("matrices must be a non-empty dict {name: (n, n) array}")
    lab = _labels(labels)
    n = lab.size
    rows = _default_rows(list(matrices)) if rows is None else [list(r) for r in rows if len(r)]
    for r in rows:
        for nm in r:
            if nm not in matrices:
                raise ValueError(f"rows names {nm!r}, which is not in matrices ({', '.join(matrices)})")
    idx = category_order(lab, order)
    lab_sorted = lab[idx]
    blocks = category_blocks(lab_sorted)
    tags = _item_tags(item_names, lab_sorted, idx, label_names)
    axis_values = np.arange(n) if tags is None else tags
    ncols = max(len(r) for r in rows)
    fig = make_subplots(rows=len(rows), cols=ncols, horizontal_spacing=0.06, vertical_spacing=0.08,
                        subplot_titles=[RELATION_TITLES.get(nm, nm) if j < len(r) else ""
                                        for r in rows for j, nm in enumerate(list(r) + [""] * (ncols - len(r)))])
    shapes: list[dict] = []
    for ri, row_names in enumerate(rows):
        zs = [_ordered(matrices[nm], nm, n, idx, mask_diagonal) for nm in row_names]
        finite = np.concatenate([z[np.isfinite(z)] for z in zs]) if zs else np.empty(0)
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        axis = "coloraxis" if ri == 0 else f"coloraxis{ri + 1}"
        top = 1 - ri / len(rows)
        fig.update_layout({axis: dict(colorscale=colorscale, cmin=lo, cmax=hi if hi > lo else lo + 1e-9,
                                      colorbar=dict(title=dict(text="relation", side="right"), len=0.9 / len(rows),
                                                    y=top - 0.5 / len(rows), yanchor="middle", thickness=12))})
        for ci, (nm, z) in enumerate(zip(row_names, zs)):
            axes = fig.get_subplot(ri + 1, ci + 1)
            shapes += _boundary_shapes(blocks, n, axes.xaxis.plotly_name.replace("axis", ""),
                                       axes.yaxis.plotly_name.replace("axis", ""))
            hovertemplate = f"<b>{nm}</b><br>row %{{y}}<br>col %{{x}}<br>value %{{z:.3f}}<extra></extra>"
            fig.add_trace(go.Heatmap(z=z, x=axis_values, y=axis_values, coloraxis=axis, name=nm,
                                     hovertemplate=hovertemplate), row=ri + 1, col=ci + 1)
            below = ri + 1 < len(rows) and ci < len(rows[ri + 1])  # a panel below shows the same x ticks
            fig.update_xaxes(_axis_ticks(blocks, label_names, tags=tags), range=[-0.5, n - 0.5], row=ri + 1,
                             col=ci + 1, showticklabels=not below)
            fig.update_yaxes(_axis_ticks(blocks, label_names, 0, tags), range=[n - 0.5, -0.5], row=ri + 1,
                             col=ci + 1, showticklabels=ci == 0)
    fig.update_layout(shapes=shapes, title=title, template="plotly_white", height=panel_size * len(rows) + 160,
                      width=panel_size * ncols + 240, margin=dict(l=120, b=110))
    return fig


def relation_drift_heatmap(before, after, labels, label_names: Sequence[str] | None = None, order="category",
                           name: str = "S_v", mask_diagonal: bool = True,
                           before_name: str = "baseline", after_name: str = "rebalanced",
                           item_names: Sequence[str] | None = None, title: str | None = None,
                           panel_size: int = 460) -> go.Figure:
    """Heatmap of ``after - before`` for one relation matrix of the same items (diverging colours centred at 0).

    Red: the relation grew from ``before`` to ``after``; blue: it shrank. Hover shows both values. The title
    reports ``mean |Δ|`` over the shown (off-diagonal by default) entries.
    """
    lab = _labels(labels)
    n = lab.size
    idx = category_order(lab, order)
    b = _ordered(before, "before", n, idx, mask_diagonal)
    a = _ordered(after, "after", n, idx, mask_diagonal)
    diff = a - b
    finite = diff[np.isfinite(diff)]
    m = float(np.abs(finite).max()) if finite.size else 0.0
    m = m if m > 0 else 1.0
    lab_sorted = lab[idx]
    blocks = category_blocks(lab_sorted)
    tags = _item_tags(item_names, lab_sorted, idx, label_names)
    axis_values = np.arange(n) if tags is None else tags
    mean_abs = float(np.abs(finite).mean()) if finite.size else float("nan")
    title = title or f"Change of {RELATION_TITLES.get(name, name)}: {after_name} − {before_name} " \
                     f"(mean |Δ| = {mean_abs:.3f})"
    fig = go.Figure(go.Heatmap(
        z=diff, x=axis_values, y=axis_values, customdata=np.stack([b, a], axis=-1),
        colorscale="RdBu_r", zmid=0.0, zmin=-m, zmax=m, name=f"Δ{name}",
        colorbar=dict(title=dict(text=f"Δ {name}", side="right")),
        hovertemplate="row %{y}<br>col %{x}<br>"
        + f"{before_name} %{{customdata[0]:.3f}}<br>{after_name} %{{customdata[1]:.3f}}<br>"
          "Δ %{z:+.3f}<extra></extra>"))
    fig.update_layout(shapes=_boundary_shapes(blocks, n, color="#444"))
    fig.update_xaxes(_axis_ticks(blocks, label_names, tags=tags), range=[-0.5, n - 0.5], title="items (by category)")
    fig.update_yaxes(_axis_ticks(blocks, label_names, 0, tags), range=[n - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(title=title, template="plotly_white", width=panel_size + 220, height=panel_size + 160,
                      margin=dict(l=120, b=110))
    fig.layout.meta = {"mean_abs_change": mean_abs}
    return fig
