"""The imbalance explorer: degrade one modality, retrain the student on cached features, and watch retrieval,
λ, the relation matrices and the common space respond (docs/method.md, D).

Degradations are precomputed on a grid (`FeatureGrid`: ``(kind, severity) -> teacher features``, built once by
`build_feature_grid`, the encoders' disk cache making later builds instant), so no control re-runs an encoder;
``"feature_noise"`` (`vlr_viz.imbalance.feature_noise`) is the instant option at any severity.

Everything a control move does is a pure function of an `ExplorerState`: `run_state` (train + evaluate), then
`metrics_table` / `metrics_html`, `relation_figure` and `geometry_figure`. `ImbalanceExplorer` only wires these
to ipywidgets; they are tested without a kernel.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from vlr_viz.arrays import cosine_matrix, first_caption_of_image

NONE = "none"
FEATURE_NOISE = "feature_noise"
NOISE_LEVELS = tuple(float(s) for s in np.round(np.linspace(0.0, 1.0, 11), 2))
STUDENT_RELATIONS = ("pair", "intra", "inter", "all")
MODALITIES = ("image", "text")


# -- the feature grid ----------------------------------------------------------------------------------------------

def _grid_key(key) -> tuple[str, float]:
    if not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[0], str):
        raise ValueError(f"grid keys must be (kind, severity) tuples; got {key!r}")
    return key[0], round(float(key[1]), 6)


@dataclass
class FeatureGrid:
    """Teacher features of one set of pairs at several degradation levels.

    Attributes:
        image: ``{(kind, severity): (N, Dv) array}``; must hold the clean ``("none", 0.0)``.
        text: ``{(kind, severity): (M, Dt) array}``; must hold ``("none", 0.0)``.
        txt_to_img: image of each caption ``(M,)``.
        labels: category id per image ``(N,)``; label_names: the category names.
        captions, chars: caption strings and one emoji character per image (hover text), optional.
        name: shown in titles.
    """

    image: dict
    text: dict
    txt_to_img: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    captions: list[str] | None = None
    chars: list[str] | None = None
    name: str = "pairs"
    _noise_cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.txt_to_img = np.asarray(self.txt_to_img, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n, m = self.labels.size, self.txt_to_img.size
        for modality, rows in (("image", n), ("text", m)):
            grid = {_grid_key(k): np.asarray(v, dtype=np.float32) for k, v in getattr(self, modality).items()}
            if (NONE, 0.0) not in grid:
                raise ValueError(f"the {modality} grid needs the clean entry ('none', 0.0)")
            dims = {v.shape[1] for v in grid.values() if v.ndim == 2}
            for key, v in grid.items():
                if v.ndim != 2 or v.shape[0] != rows or len(dims) != 1:
                    raise ValueError(f"{modality} grid entry {key} must be ({rows}, D) with one D for all levels; "
                                     f"got {v.shape}")
            setattr(self, modality, grid)
        if m and (self.txt_to_img.min() < 0 or self.txt_to_img.max() >= n):
            raise ValueError(f"txt_to_img must map captions to images in [0, {n})")
        if self.captions is not None and len(self.captions) != m:
            raise ValueError(f"captions has {len(self.captions)} entries for {m} captions")
        if self.chars is not None and len(self.chars) != n:
            raise ValueError(f"chars has {len(self.chars)} entries for {n} images")

    @property
    def n_images(self) -> int:
        return int(self.labels.size)

    def kinds(self, modality: str) -> list[str]:
        """``"none"``, the precomputed kinds, then ``"feature_noise"``."""
        grid = self._grid(modality)
        return [NONE] + sorted({k for k, _ in grid} - {NONE}) + [FEATURE_NOISE]

    def severities(self, modality: str, kind: str) -> list[float]:
        if kind == NONE:
            return [0.0]
        if kind == FEATURE_NOISE:
            return list(NOISE_LEVELS)
        levels = sorted(s for k, s in self._grid(modality) if k == kind)
        if not levels:
            raise ValueError(f"the {modality} grid has no kind {kind!r}; it has {', '.join(self.kinds(modality))}")
        return levels

    def features(self, modality: str, kind: str, severity: float, seed: int = 0) -> np.ndarray:
        """The cached features of ``(kind, severity)``; ``"feature_noise"`` is computed from the clean features
        (and memoised)."""
        grid = self._grid(modality)
        sev = round(float(severity), 6)
        if kind == NONE or sev == 0.0:
            return grid[(NONE, 0.0)]
        if kind == FEATURE_NOISE:
            from vlr_viz.imbalance import feature_noise

            key = (modality, sev, seed)
            if key not in self._noise_cache:
                self._noise_cache[key] = feature_noise(grid[(NONE, 0.0)], sev, seed=seed)
            return self._noise_cache[key]
        if (kind, sev) not in grid:
            raise ValueError(f"{modality} level {(kind, sev)} is not on the grid; "
                             f"severities of {kind!r}: {self.severities(modality, kind)}")
        return grid[(kind, sev)]

    def subset(self, image_indices, name: str | None = None) -> "FeatureGrid":
        """The grid of the given images and all their captions (re-indexed, in the order given), e.g. to split
        one grid into training and evaluation parts."""
        idx = np.asarray(image_indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= self.n_images)):
            raise ValueError(f"image_indices must be indices into the {self.n_images} images")
        remap = np.full(self.n_images, -1, dtype=np.int64)
        remap[idx] = np.arange(idx.size)
        keep = np.flatnonzero(remap[self.txt_to_img] >= 0)
        keep = keep[np.argsort(remap[self.txt_to_img[keep]], kind="stable")]
        return FeatureGrid(image={k: v[idx] for k, v in self.image.items()},
                           text={k: v[keep] for k, v in self.text.items()},
                           txt_to_img=remap[self.txt_to_img[keep]], labels=self.labels[idx],
                           label_names=list(self.label_names),
                           captions=None if self.captions is None else [self.captions[j] for j in keep],
                           chars=None if self.chars is None else [self.chars[i] for i in idx],
                           name=name or self.name)

    def _grid(self, modality: str) -> dict:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be 'image' or 'text'; got {modality!r}")
        return getattr(self, modality)


def build_feature_grid(pairs, encode_fn: Callable, image_levels: Mapping[str, Sequence[float]] | None = None,
                       text_levels: Mapping[str, Sequence[float]] | None = None, seed: int = 0) -> FeatureGrid:
    """Encode ``pairs`` clean and at each ``{kind: [severities]}`` level with `vlr_viz.imbalance.degrade_pairs`.

    ``encode_fn(pairs) -> features`` with ``.image`` and ``.text`` (e.g. ``lambda p: load_features(p,
    cache_dir=...)``: cached on disk, so a rebuild is instant). An image level keeps the clean text features and
    a text level the clean image features.
    """
    from vlr_viz.imbalance import degrade_pairs

    clean = encode_fn(pairs)
    image, text = {(NONE, 0.0): np.asarray(clean.image)}, {(NONE, 0.0): np.asarray(clean.text)}
    for modality, levels, out in (("image", image_levels, image), ("text", text_levels, text)):
        for kind, sevs in (levels or {}).items():
            for s in sevs:
                if float(s) == 0.0:
                    continue
                spec = {"image": (kind, float(s)), "text": None} if modality == "image" else \
                    {"image": None, "text": (kind, float(s))}
                feats = encode_fn(degrade_pairs(pairs, seed=seed, **spec))
                out[(kind, float(s))] = np.asarray(getattr(feats, modality))
    chars = pairs.meta.get("chars")
    return FeatureGrid(image=image, text=text, txt_to_img=pairs.txt_to_img, labels=pairs.labels,
                       label_names=list(pairs.label_names), captions=list(pairs.captions),
                       chars=list(chars) if chars is not None and len(chars) == pairs.n_images else None,
                       name=pairs.name)


# -- state, training contract, result ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExplorerState:
    """What the controls say: one degradation per modality, the structure-loss weight, the student relation."""

    image_kind: str = NONE
    image_severity: float = 0.0
    text_kind: str = NONE
    text_severity: float = 0.0
    structure_weight: float = 2.0
    student_relation: str = "all"

    def check(self, grid: FeatureGrid) -> "ExplorerState":
        """Raise ``ValueError`` naming the offending field if the grid cannot serve this state."""
        for modality in MODALITIES:
            kind, sev = getattr(self, f"{modality}_kind"), float(getattr(self, f"{modality}_severity"))
            if kind not in grid.kinds(modality):
                raise ValueError(f"{modality}_kind={kind!r} is not available; choose one of {grid.kinds(modality)}")
            if kind != FEATURE_NOISE and round(sev, 6) not in grid.severities(modality, kind) and sev != 0.0:
                raise ValueError(f"{modality}_severity={sev} is not on the grid for {kind!r}: "
                                 f"{grid.severities(modality, kind)}")
            if not 0.0 <= sev <= 1.0:
                raise ValueError(f"{modality}_severity must lie in [0, 1]; got {sev}")
        if self.student_relation not in STUDENT_RELATIONS:
            raise ValueError(f"student_relation must be one of {STUDENT_RELATIONS}; got {self.student_relation!r}")
        if not (np.isfinite(self.structure_weight) and self.structure_weight >= 0):
            raise ValueError(f"structure_weight must be a non-negative number; got {self.structure_weight!r}")
        return self


@dataclass
class TrainedStudent:
    """What a ``train_fn`` returns: ``encode(image_features, text_features) -> (v, t)`` into the common space, and
    the learned fusion weight λ and relation temperature τ2 when the method has them."""

    encode: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    lam: float | None = None
    tau2: float | None = None
    history: object = None


TrainFn = Callable[[Mapping[str, np.ndarray], ExplorerState], TrainedStudent]


@dataclass
class ExplorerResult:
    """Everything the views show for one state (plain arrays and numbers)."""

    state: ExplorerState
    metrics: dict[str, float]
    lam: float | None
    image_embeddings: np.ndarray
    text_embeddings: np.ndarray
    txt_to_img: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    probe: np.ndarray
    relations: dict[str, np.ndarray]
    captions: list[str] | None = None
    chars: list[str] | None = None
    seconds: float = 0.0


def probe_indices(labels, size: int) -> np.ndarray:
    """A category-balanced probe subset: take items round-robin over categories (each in index order), sorted.

    Unknown labels (``-1``) are used last.
    """
    lab = np.asarray(labels, dtype=np.int64)
    size = min(int(size), lab.size)
    if size < 3:
        raise ValueError(f"probe_size must be at least 3 (and the set needs 3 images); got {size}")
    cats = [c for c in np.unique(lab) if c >= 0] + ([-1] if (lab < 0).any() else [])
    members = [np.flatnonzero(lab == c) for c in cats]
    rank = np.empty(lab.size, dtype=np.int64)
    for ci, idx in enumerate(members):
        rank[idx] = np.arange(idx.size) * (len(cats) + 1) + ci  # round r of category ci
    if (lab < 0).any():
        rank[lab < 0] += np.iinfo(np.int32).max
    return np.sort(np.argsort(rank, kind="stable")[:size])


def _split_arrays(grid: FeatureGrid, state: ExplorerState, seed: int) -> dict[str, np.ndarray]:
    return {
        "image": grid.features("image", state.image_kind, state.image_severity, seed),
        "text": grid.features("text", state.text_kind, state.text_severity, seed),
        "txt_to_img": grid.txt_to_img,
        "labels": grid.labels,
    }


def run_state(state: ExplorerState, grid: FeatureGrid, train_fn: TrainFn, eval_grid: FeatureGrid | None = None,
              probe_size: int = 48, seed: int = 0, ks=(1, 5, 10), ndcg_k: int = 10) -> ExplorerResult:
    """Train the student for ``state`` on ``grid`` (the training split) and evaluate on ``eval_grid``.

    The degradation of ``state`` applies to both splits. Metrics (on the evaluation split): cross-modal R@K and
    RSUM (`vlr_viz.eval.recall_at_k`), and single-modal NDCG@``ndcg_k`` with *category* relevance of the
    student's towers and of the (degraded) teachers (`vlr_viz.imbalance.diagnostics.modality_strength`; i2i:
    every image queries the others, t2t: each image's first caption queries the other captions). The relation
    matrices are cosines of a category-balanced probe subset: teachers ``R_v``, ``R_t``, fused
    ``E = λ R_t + (1 − λ) R_v`` (λ of the student, else 0.5), and the student's ``S_v``, ``S_t``, ``S_vt``.
    """
    from vlr_viz.eval import recall_at_k
    from vlr_viz.imbalance.diagnostics import modality_strength

    eval_grid = grid if eval_grid is None else eval_grid
    state.check(grid)
    state.check(eval_grid)
    t0 = time.perf_counter()
    student = train_fn(_split_arrays(grid, state, seed), state)
    if not isinstance(student, TrainedStudent):
        raise TypeError(f"train_fn must return a TrainedStudent; got {type(student).__name__}")
    ev = _split_arrays(eval_grid, state, seed)
    v, t = (np.asarray(x, dtype=np.float32) for x in student.encode(ev["image"], ev["text"]))
    n, m = eval_grid.n_images, eval_grid.txt_to_img.size
    if v.shape[0] != n or t.shape[0] != m or v.shape[1] != t.shape[1]:
        raise ValueError(f"train_fn's encode returned shapes {v.shape} and {t.shape}; expected ({n}, D) and ({m}, D)")
    rec = recall_at_k(v, t, eval_grid.txt_to_img, ks=ks, return_ranks=False)
    first = first_caption_of_image(eval_grid.txt_to_img, n)
    cap_labels = eval_grid.labels[eval_grid.txt_to_img]
    key = f"ndcg@{ndcg_k}"

    def strength(x, labels, queries=None) -> float:
        return modality_strength(x, labels, ks=(ndcg_k,), queries=queries)[key]

    metrics = {"rsum": float(rec["rsum"])}
    metrics.update({k: float(rec[k]) for k in rec if "R@" in k})
    metrics.update({
        f"student image {key}": strength(v, eval_grid.labels),
        f"student text {key}": strength(t, cap_labels, first[first >= 0]),
        f"teacher image {key}": strength(ev["image"], eval_grid.labels),
        f"teacher text {key}": strength(ev["text"], cap_labels, first[first >= 0]),
    })
    probe = probe_indices(eval_grid.labels, probe_size)
    probe = probe[first[probe] >= 0]
    lam = None if student.lam is None else float(student.lam)
    r_v = cosine_matrix(ev["image"][probe])
    r_t = cosine_matrix(ev["text"][first[probe]])
    w = 0.5 if lam is None else lam
    relations = {"R_v": r_v, "R_t": r_t, "E": w * r_t + (1 - w) * r_v,
                 "S_v": cosine_matrix(v[probe]), "S_t": cosine_matrix(t[first[probe]]), "S_vt": cosine_matrix(v[probe], t[first[probe]])}
    return ExplorerResult(state=state, metrics=metrics, lam=lam, image_embeddings=v, text_embeddings=t,
                          txt_to_img=eval_grid.txt_to_img, labels=eval_grid.labels,
                          label_names=list(eval_grid.label_names), probe=probe, relations=relations,
                          captions=eval_grid.captions, chars=eval_grid.chars,
                          seconds=time.perf_counter() - t0)


# -- views (pure) --------------------------------------------------------------------------------------------------

def metrics_table(result: ExplorerResult, reference: ExplorerResult | None = None) -> pd.DataFrame:
    """One row per metric (``value``), plus ``Δ`` against a ``reference`` result when given; λ last."""
    rows = dict(result.metrics)
    rows["λ (text-teacher weight)"] = np.nan if result.lam is None else result.lam
    out = pd.DataFrame({"value": pd.Series(rows, dtype=float)})
    if reference is not None:
        ref = dict(reference.metrics)
        ref["λ (text-teacher weight)"] = np.nan if reference.lam is None else reference.lam
        out["Δ"] = out["value"] - pd.Series(ref, dtype=float).reindex(out.index)
    out.index.name = "metric"
    return out


def describe_state(state: ExplorerState) -> str:
    def part(kind, s):
        return "clean" if kind == NONE or s == 0 else f"{kind} @ {s:g}"

    return (f"image: {part(state.image_kind, state.image_severity)} · "
            f"text: {part(state.text_kind, state.text_severity)}"
            f" · structure weight {state.structure_weight:g} · student relation {state.student_relation!r}")


def metrics_html(result: ExplorerResult, reference: ExplorerResult | None = None) -> str:
    """The `metrics_table` as a small HTML table (category relevance for NDCG), headed by the state."""
    table = metrics_table(result, reference)
    cells = []
    for name, row in table.iterrows():
        value = "–" if pd.isna(row["value"]) else f"{row['value']:.3f}" if name.startswith("λ") else \
            f"{row['value']:.2f}"
        delta = ""
        if "Δ" in table.columns and not pd.isna(row["Δ"]):
            colour = "#1B7837" if row["Δ"] > 0 else "#B2182B" if row["Δ"] < 0 else "#444"
            delta = f'<td style="color:{colour}">{row["Δ"]:+.2f}</td>'
        elif "Δ" in table.columns:
            delta = "<td></td>"
        cells.append(f"<tr><td>{html.escape(str(name))}</td><td style='text-align:right'>{value}</td>{delta}</tr>")
    head = "<tr><th>metric</th><th>value</th>" + ("<th>Δ</th>" if "Δ" in table.columns else "") + "</tr>"
    return (f"<div class='vlr-explorer-metrics'><p><b>{html.escape(describe_state(result.state))}</b><br>"
            f"NDCG uses category relevance; trained and evaluated in {result.seconds:.1f} s</p>"
            f"<table>{head}{''.join(cells)}</table></div>")


def relation_figure(result: ExplorerResult) -> go.Figure:
    """`vlr_viz.viz.relation_heatmaps` of the probe subset (teachers on top, student below)."""
    from vlr_viz.viz.relations import relation_heatmaps

    names = None
    if result.chars is not None or result.captions is not None:
        first = first_caption_of_image(result.txt_to_img, result.labels.size)
        names = [(result.chars[i] + " " if result.chars is not None else "")
                 + (result.captions[first[i]] if result.captions is not None else "") for i in result.probe]
    lam = "0.5 (fixed)" if result.lam is None else f"{result.lam:.3f}"
    return relation_heatmaps(result.relations, result.labels[result.probe], result.label_names, item_names=names,
                             title=f"Relations of {result.probe.size} probe items (cosine) · λ = {lam}",
                             panel_size=230)


def geometry_figure(result: ExplorerResult, reference_layout=None, method: str = "pca") -> go.Figure:
    """`vlr_viz.viz.common_space_figure` of the evaluation split (one panel, PCA by default), aligned by
    Procrustes to ``reference_layout`` when given (keeps the view steady while controls move)."""
    from vlr_viz.viz.geometry import common_space_figure

    return common_space_figure({"img": result.image_embeddings, "txt": result.text_embeddings}, None,
                               result.labels, result.label_names, result.captions, method=method,
                               txt_to_img=result.txt_to_img, chars=result.chars, titles=(describe_state(result.state),),
                               reference_layout=reference_layout,
                               title=f"Common space ({method.upper()}) of the evaluation split")


# -- the widget ----------------------------------------------------------------------------------------------------

def _without_non_finite(value):
    """``(changed, value)``: a float array or (nested) list with every NaN / ±inf replaced by ``None``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f" or np.isfinite(value).all():
            return False, value
        out = value.astype(object)
        out[~np.isfinite(value)] = None
        return True, out.tolist()
    if isinstance(value, (list, tuple)):
        parts = [_without_non_finite(v) for v in value]
        if not any(changed for changed, _ in parts):
            return False, value
        return True, [v for _, v in parts]
    if isinstance(value, float) and not np.isfinite(value):
        return True, None
    return False, value


def _non_finite_properties(props: dict, prefix: str = ""):
    """``(path, cleaned value)`` of every trace property (``"z"``, ``"marker.color"``) holding NaN / ±inf."""
    for key, value in props.items():
        if isinstance(value, dict):
            yield from _non_finite_properties(value, f"{prefix}{key}.")
        else:
            changed, cleaned = _without_non_finite(value)
            if changed:
                yield prefix + key, cleaned


def json_safe_figure(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` whose masked cells (NaN, e.g. a relation matrix's diagonal) are ``None``.

    Widget state travels as strict JSON, which has no NaN (jupyter_client warns "Out of range float values are
    not JSON compliant" and the frontend gets nothing); ``None`` is plotly's own gap, drawn the same way.
    """
    copy = go.Figure(fig)
    for trace, props in zip(copy.data, copy._data):
        for path, cleaned in list(_non_finite_properties(props)):
            trace[path] = cleaned
    return copy


def _anywidget_installed() -> bool:
    try:
        import anywidget  # noqa: F401
    except ImportError:
        return False
    return True


def figure_view():
    """A container to show figures in: an ipywidgets ``Box`` (for ``FigureWidget`` children) when anywidget is
    installed, else an ``ipywidgets.Output`` (figures displayed into it)."""
    import ipywidgets as w

    return w.Box(layout=w.Layout(width="100%")) if _anywidget_installed() else w.Output()


def show_figure(view, fig: go.Figure):
    """Show ``fig`` in ``view`` (from `figure_view`); return what shows it.

    A ``Box`` gets a new ``FigureWidget`` of `json_safe_figure` in place of its old child, which is closed: a
    ``FigureWidget``'s synced state is what it was created with, so every view of the new one (the open one, one
    opened after a page reload, a second view, Voilà) draws this figure. Editing a shown ``FigureWidget`` in place
    would not: plotly sends those edits as one-shot messages that a view opened later never sees, and that an
    open view can miss when several arrive at once. An ``Output`` is cleared and displays ``fig``.
    """
    if isinstance(view, go.FigureWidget):
        raise TypeError("show_figure needs the container from figure_view(), not a FigureWidget")
    if hasattr(view, "children"):
        widget = go.FigureWidget(json_safe_figure(fig))
        old = tuple(view.children)
        view.children = (widget,)
        for child in old:
            child.close()
        return widget
    from IPython.display import display

    view.clear_output(wait=True)
    with view:
        display(fig)
    return fig


class ImbalanceExplorer:
    """ipywidgets front end: image degradation kind + severity, text degradation kind + severity, structure-loss
    weight and student relation; every change retrains (`run_state`) and refreshes the metrics table, the relation
    heatmaps and the common-space scatter. Results are memoised per state, so going back is instant.

    Args:
        grid: `FeatureGrid` of the training split; eval_grid: of the evaluation split (default: ``grid``).
        train_fn: ``train_fn(split, state) -> TrainedStudent`` with ``split = {"image", "text", "txt_to_img",
            "labels"}`` (e.g. `trainer_train_fn`).
        initial: the starting `ExplorerState`; structure_weights: the slider's stops.
        probe_size: items in the relation heatmaps; seed: feature-noise seed.
        compare_to_initial: show ``Δ`` against the first result.

    ``explorer.widget`` is the ipywidgets box to display (a notebook shows the explorer itself too).
    """

    def __init__(self, grid: FeatureGrid, train_fn: TrainFn, eval_grid: FeatureGrid | None = None,
                 initial: ExplorerState | None = None, structure_weights: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0),
                 probe_size: int = 48, seed: int = 0, compare_to_initial: bool = True, max_cached: int = 32):
        import ipywidgets as w

        self.grid, self.eval_grid, self.train_fn = grid, eval_grid or grid, train_fn
        self.probe_size, self.seed, self.max_cached = probe_size, seed, max_cached
        self.compare_to_initial = compare_to_initial
        initial = (initial or ExplorerState()).check(grid)
        weights = sorted({float(x) for x in structure_weights} | {float(initial.structure_weight)})
        style = {"description_width": "150px"}
        layout = w.Layout(width="380px")
        self.image_kind = w.Dropdown(options=grid.kinds("image"), value=initial.image_kind,
                                     description="image degradation", style=style, layout=layout)
        self.image_severity = w.SelectionSlider(options=grid.severities("image", initial.image_kind),
                                                value=round(float(initial.image_severity), 6),
                                                description="image severity", continuous_update=False,
                                                style=style, layout=layout)
        self.text_kind = w.Dropdown(options=grid.kinds("text"), value=initial.text_kind,
                                    description="text degradation", style=style, layout=layout)
        self.text_severity = w.SelectionSlider(options=grid.severities("text", initial.text_kind),
                                               value=round(float(initial.text_severity), 6),
                                               description="text severity", continuous_update=False,
                                               style=style, layout=layout)
        self.structure_weight = w.SelectionSlider(options=weights, value=float(initial.structure_weight),
                                                  description="structure weight", continuous_update=False,
                                                  style=style, layout=layout)
        self.student_relation = w.Dropdown(options=list(STUDENT_RELATIONS), value=initial.student_relation,
                                           description="student relation", style=style, layout=layout)
        self.status = w.HTML()
        self.metrics = w.HTML()
        self._cache: dict[ExplorerState, ExplorerResult] = {}
        self._updating = False
        self.initial_result = self.result = self.compute(initial)
        geo = geometry_figure(self.result)
        self.reference_layout = np.asarray(geo.layout.meta["layouts"][0])
        self.relation_view, self.geometry_view = figure_view(), figure_view()
        self.relation_figure = show_figure(self.relation_view, relation_figure(self.result))
        self.geometry_figure = show_figure(self.geometry_view, geo)
        self._render()
        for kind, slider in ((self.image_kind, self.image_severity), (self.text_kind, self.text_severity)):
            kind.observe(self._on_kind, names="value")
        for ctrl in (self.image_severity, self.text_severity, self.structure_weight, self.student_relation):
            ctrl.observe(self._on_change, names="value")
        controls = w.VBox([w.HBox([self.image_kind, self.image_severity]), w.HBox([self.text_kind, self.text_severity]),
                           w.HBox([self.structure_weight, self.student_relation]), self.status])
        self.widget = w.VBox([controls, w.HBox([self.metrics, self.geometry_view]), self.relation_view])

    # pure core ----------------------------------------------------------------------------------------------------
    @property
    def state(self) -> ExplorerState:
        return ExplorerState(image_kind=self.image_kind.value, image_severity=float(self.image_severity.value),
                             text_kind=self.text_kind.value, text_severity=float(self.text_severity.value),
                             structure_weight=float(self.structure_weight.value),
                             student_relation=self.student_relation.value)

    def compute(self, state: ExplorerState) -> ExplorerResult:
        """`run_state` for ``state`` (memoised)."""
        if state not in self._cache:
            if len(self._cache) >= self.max_cached:
                self._cache.pop(next(iter(self._cache)))
            self._cache[state] = run_state(state, self.grid, self.train_fn, self.eval_grid, self.probe_size,
                                           self.seed)
        return self._cache[state]

    def update(self, state: ExplorerState | None = None) -> ExplorerResult:
        """Compute the result of ``state`` (default: the controls' state) and refresh every view."""
        state = self.state if state is None else state
        self.status.value = f"<i>training for {html.escape(describe_state(state))} …</i>"
        self.result = self.compute(state)
        self.relation_figure = show_figure(self.relation_view, relation_figure(self.result))
        self.geometry_figure = show_figure(self.geometry_view,
                                           geometry_figure(self.result, reference_layout=self.reference_layout))
        self._render()
        return self.result

    # wiring -------------------------------------------------------------------------------------------------------
    def _render(self) -> None:
        ref = self.initial_result if self.compare_to_initial and self.result is not self.initial_result else None
        self.metrics.value = metrics_html(self.result, ref)
        self.status.value = f"<small>{html.escape(describe_state(self.result.state))}</small>"

    def _on_kind(self, change) -> None:
        slider = self.image_severity if change["owner"] is self.image_kind else self.text_severity
        modality = "image" if change["owner"] is self.image_kind else "text"
        levels = self.grid.severities(modality, change["new"])
        self._updating = True
        try:
            slider.options = levels
            slider.value = next((s for s in levels if s > 0), levels[0])  # the mildest real degradation
            slider.disabled = change["new"] == NONE
        finally:
            self._updating = False
        self.update()

    def _on_change(self, change) -> None:
        if not self._updating:
            self.update()

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus an HTML snapshot (state and metrics) for clients without a kernel: nbconvert
        shows the snapshot when the notebook holds no widget state (papermill saves none)."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = (metrics_html(self.result, None) + "<p><i>The explorer's controls need a live "
                               "kernel: open the notebook in JupyterLab or run <code>vlr-viz explore</code>."
                               "</i></p>")
        return bundle


# -- a train_fn on the vlr_viz trainer -----------------------------------------------------------------------------

def trainer_train_fn(epochs_stage1: int = 1, epochs_stage2: int = 3, batch_size: int = 128, hidden: int = 256,
                     torch_threads: int | None = 1, **config) -> TrainFn:
    """A ``train_fn`` that trains the dual-encoder student with `vlr_viz.train.fit` on the cached features.

    The state's ``structure_weight`` is the weight of the structure term ``kd_loss`` (method ``"sad"``, the
    other weights as in `vlr_viz.losses.DEFAULT_WEIGHTS`; 0 leaves matching and representation distillation) and
    ``student_relation`` the student relation of docs/method.md, A3. ``config`` passes further `TrainConfig` fields
    (e.g. ``tau2``, ``lambda_mode``). The explorer is a quick look, so no epoch is selected on held-out data: the
    last epoch is kept (``select_best=False``) and the training split doubles as the logging split.

    Defaults aim at seconds per control move on a CPU (Twemoji train split, 2.4k pairs: about 5 s on one
    thread): short schedule, ``hidden=256``. ``torch_threads``: torch threads while training (small MLP towers
    train fastest on one thread, and several threads on a busy machine slow down by orders of magnitude);
    ``None`` keeps torch's setting.
    """
    def train(split: Mapping[str, np.ndarray], state: ExplorerState) -> TrainedStudent:
        import torch

        from vlr_viz.train import PairFeatures, TrainConfig, encode, fit
        from vlr_viz.train.threads import torch_threads as threads_for_training

        weights = {**dict(config.get("weights", {})), "kd_loss": float(state.structure_weight)}
        rest = {k: v for k, v in config.items() if k != "weights"}
        data = PairFeatures(np.asarray(split["image"], dtype=np.float32), np.asarray(split["text"], dtype=np.float32),
                            np.asarray(split["txt_to_img"]), labels=split.get("labels"), name="explorer-train")
        cfg = TrainConfig(**{"method": "sad", "epochs_stage1": epochs_stage1, "epochs_stage2": epochs_stage2,
                             "batch_size": min(batch_size, data.n_captions), "select_best": False,
                             "snapshot_every": 0, "n_probe": min(16, data.n_images), "weights": weights,
                             "hidden": hidden,
                             "student_relation": state.student_relation, **rest})
        with threads_for_training(torch_threads):
            result = fit(cfg, data, data, progress=False)
        model = result.model

        def encode_fn(img, txt):
            return encode(model, torch.as_tensor(np.asarray(img, dtype=np.float32)),
                          torch.as_tensor(np.asarray(txt, dtype=np.float32)))

        scalars = model.scalars()
        return TrainedStudent(encode=encode_fn, lam=scalars["lam"], tau2=scalars["tau2"], history=result.history)

    return train
