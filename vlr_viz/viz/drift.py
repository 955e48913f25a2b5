"""Training dynamics: how far the student's relations drift from the teachers' per epoch, with the learned λ, τ
and τ2 (TIP 2024 structure-aware distillation, docs/method.md, A3), and the loss terms per epoch.

The builders read a training history only through the adapter functions at the top (`history_frame`,
`history_snapshots`, `stage_boundary`), which follow the format of `vlr_viz.train.history`.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from vlr_viz.imbalance.diagnostics import relation_distortion

from vlr_viz.viz.colors import series_color

# -- history adapter (kept in sync with vlr_viz.train.history) ------------------------------------------------------
# `vlr_viz.train.History`: ``.epochs`` is a list of per-epoch dicts (epoch 0 = before training, stage 0) with
# ``epoch, stage, lr, loss`` (weighted total), raw terms ``*_loss``, weighted terms ``w_*_loss``, ``lam, tau, tau2``,
# ``val_<metric>``, ``seconds``; ``.snapshots`` is ``{epoch: {"S_pair", "S_v", "S_t", "S_vt", "R_v", "R_t", "E"}}``,
# each relation over the τ2 of that epoch (plus ``"R_v_raw", "R_t_raw"``, the uncentred teacher relations, when the
# run centred its teachers); ``.probe["labels"]`` the probe items' categories.
#: Scalar columns of the per-epoch frame that the figures read, with the other spellings the adapter accepts.
ALIASES = {"lambda": ("lambda", "lam", "lambda_", "fusion_lambda"), "tau": ("tau", "temperature", "logit_tau"),
           "tau2": ("tau2", "relation_tau", "tau_2"), "lr": ("lr", "learning_rate"), "stage": ("stage",)}
WEIGHTED_PREFIX = "w_"
TOTAL_LOSS = "loss"


def _flatten(record: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        elif np.ndim(v) == 0:
            out[key] = v.item() if hasattr(v, "item") else v
    return out


def _records(history):
    if isinstance(history, pd.DataFrame):
        return history
    if callable(getattr(history, "epoch_frame", None)):
        return history.epoch_frame()
    if isinstance(history, Mapping):
        if "epochs" in history:
            return _records(history["epochs"])
        raise ValueError(f"history dict needs an 'epochs' list of per-epoch records; it has {', '.join(history)}")
    if isinstance(history, (list, tuple)):
        return list(history)
    raise TypeError(f"history must be a vlr_viz.train.History, a dict with 'epochs', a list of per-epoch dicts or a "
                    f"DataFrame; got {type(history).__name__}")


def history_frame(history) -> pd.DataFrame:
    """One row per epoch, nested dicts flattened with ``.``, the aliases of `ALIASES` renamed to ``lambda``, ``tau``,
    ``tau2``, ``lr``, ``stage``; sorted by ``epoch`` (numbered 1.. when the history has no epoch column)."""
    rec = _records(history)
    frame = rec.copy() if isinstance(rec, pd.DataFrame) else pd.DataFrame([_flatten(r) for r in rec])
    if frame.empty:
        raise ValueError("history has no epochs")
    for canonical, names in ALIASES.items():
        if canonical not in frame.columns:
            for nm in names:
                if nm in frame.columns:
                    frame = frame.rename(columns={nm: canonical})
                    break
    if "epoch" not in frame.columns:
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame.sort_values("epoch", kind="stable").reset_index(drop=True)


def history_snapshots(history) -> dict[int, dict[str, np.ndarray]]:
    """Relation snapshots of the probe subset: ``{epoch: {"S_v", "S_t", "S_vt", "S_pair", "R_v", "R_t", "E"}}``.

    Reads ``history.snapshots`` / ``history["snapshots"]``: a dict by epoch, or a list of dicts with ``epoch``.
    """
    snaps = history.get("snapshots") if isinstance(history, Mapping) else getattr(history, "snapshots", None)
    if snaps is None:
        return {}
    if isinstance(snaps, Mapping):
        items = [(int(e), s) for e, s in snaps.items()]
    else:
        items = [(int(s["epoch"]), {k: v for k, v in s.items() if k != "epoch"}) for s in snaps]
    return {e: {k: np.asarray(v) for k, v in s.items()} for e, s in sorted(items)}


def history_probe_labels(history) -> np.ndarray | None:
    """Categories of the snapshot probe items (``history.probe["labels"]``), or ``None``."""
    probe = history.get("probe") if isinstance(history, Mapping) else getattr(history, "probe", None)
    if not probe or "labels" not in probe:
        return None
    return np.asarray(probe["labels"], dtype=np.int64)


def stage_boundary(history) -> float | None:
    """Where stage 2 begins, between epochs (``first stage-2 epoch - 0.5``), or ``None`` when the history has no
    stage-1 epoch followed by a stage-2 epoch (epoch 0, stage 0, is the untrained model)."""
    frame = history_frame(history)
    if "stage" not in frame.columns:
        return None
    stage = frame["stage"].to_numpy()
    later = np.flatnonzero(stage >= 2)
    if later.size == 0 or not np.any(stage[: later[0]] == 1):
        return None
    return float(frame["epoch"].iloc[later[0]]) - 0.5


def loss_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(raw, weighted)`` loss-term columns: raw ``*_loss`` terms and their weighted ``w_*_loss`` counterparts
    (the weighted total is ``loss``)."""
    cols = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    weighted = [c for c in cols if c.startswith(WEIGHTED_PREFIX) and c.endswith("_loss")]
    raw = [c for c in cols if c.endswith("_loss") and c not in weighted and not c.startswith("val_")]
    return raw, weighted


# -- relation distortion -------------------------------------------------------------------------------------------
#: Student relation compared with each teacher relation, per modality.
MODALITY_PAIRS = {"image": ("S_v", "R_v"), "text": ("S_t", "R_t")}
#: Reference preferred over ``R_v`` / ``R_t`` when a snapshot has it: the teachers' own (uncentred) cosine relations,
#: so that runs with and without teacher centring are measured against the same matrices.
RAW_REFERENCE = {"R_v": "R_v_raw", "R_t": "R_t_raw"}


def distortion_frame(history, cosine_scale: bool = True) -> pd.DataFrame:
    """Rows ``epoch, modality, mae, spearman`` from the relation snapshots of one history.

    The reference of each modality is the teacher's uncentred relation (``R_v_raw`` where the run centred its
    teachers, else ``R_v``), the same matrices for every run.

    ``cosine_scale``: multiply the MAE by the τ2 of the snapshot (its own ``tau2``, else the frame's ``tau2`` at that
    epoch), so that runs with different τ2 compare on cosines; left unscaled when no τ2 is known.
    """
    snaps = history_snapshots(history)
    if not snaps:
        raise ValueError("history has no relation snapshots (S_v, S_t, R_v, R_t) to measure drift on")
    frame = history_frame(history)
    tau2_by_epoch = dict(zip(frame["epoch"], frame["tau2"])) if "tau2" in frame.columns else {}
    rows = []
    for epoch, snap in snaps.items():
        tau2 = float(snap["tau2"]) if "tau2" in snap else tau2_by_epoch.get(epoch)
        scale = tau2 if cosine_scale and tau2 is not None else 1.0
        for modality, (s_name, r_name) in MODALITY_PAIRS.items():
            r_name = RAW_REFERENCE[r_name] if RAW_REFERENCE[r_name] in snap else r_name
            if s_name in snap and r_name in snap:
                rows.append({"epoch": epoch, "modality": modality,
                             **relation_distortion(snap[s_name], snap[r_name], scale)})
    if not rows:
        raise ValueError("the snapshots hold no (S_v, R_v) or (S_t, R_t) pair")
    return pd.DataFrame(rows)


_MODALITY_DASH = {"image": "solid", "text": "dash"}
_PARAM_STYLE = {"lambda": ("dashdot", "circle-open", "λ"), "tau": ("dot", "square", "τ"),
                "tau2": ("longdash", "diamond", "τ2")}


def relation_drift_curves(histories: Mapping[str, object], metric: str = "both", cosine_scale: bool = True,
                          title: str | None = None) -> go.Figure:
    """Structure distortion per modality and epoch for several runs (e.g. baseline vs structure-aware), with the
    runs' λ (left axis) and τ, τ2 (right axis, log) in the bottom row, and the stage boundary as a vertical line.

    Args:
        histories: ``{run name: training history}`` (anything `history_frame` / `history_snapshots` read).
        metric: ``"mae"`` (mean |S − R| over i ≠ j; lower = less distortion), ``"spearman"`` (rank correlation of
            S with R; higher = the teacher's neighbourhood order kept), or ``"both"`` (one row each).
        cosine_scale: report the MAE on the cosine scale (times the snapshot's τ2).

    Colour: run; dash: modality (image solid, text dashed).
    """
    if metric not in ("mae", "spearman", "both"):
        raise ValueError(f"metric must be 'mae', 'spearman' or 'both'; got {metric!r}")
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty dict {run name: history}")
    metrics = ["mae", "spearman"] if metric == "both" else [metric]
    ylabels = {"mae": "mean |S − R|" + (" (cosine)" if cosine_scale else ""), "spearman": "Spearman ρ(S, R)"}
    nrows = len(metrics) + 1
    fig = make_subplots(rows=nrows, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        specs=[[{}]] * len(metrics) + [[{"secondary_y": True}]],
                        subplot_titles=[f"relation distortion: {ylabels[m]}" for m in metrics] + ["λ, τ, τ2"])
    boundaries = set()
    for run, history in histories.items():
        colour = series_color(run)
        dist = distortion_frame(history, cosine_scale)
        for r, m in enumerate(metrics, start=1):
            for modality, d in dist.groupby("modality", sort=False):
                fig.add_trace(go.Scatter(
                    x=d["epoch"], y=d[m], mode="lines+markers", name=f"{run} · {modality}", legendgroup=run,
                    showlegend=r == 1, line=dict(color=colour, dash=_MODALITY_DASH.get(modality, "dot")),
                    hovertemplate=f"<b>{run}</b> · {modality}<br>epoch %{{x}}<br>{m} %{{y:.4f}}<extra></extra>",
                    meta={"run": run, "modality": modality, "metric": m}), row=r, col=1)
        frame = history_frame(history)
        for param in ("lambda", "tau", "tau2"):
            if param not in frame.columns:
                continue
            dash, symbol, label = _PARAM_STYLE[param]
            fig.add_trace(go.Scatter(
                x=frame["epoch"], y=frame[param], mode="lines+markers", name=f"{run} · {label}", legendgroup=run,
                line=dict(color=colour, dash=dash, width=1.5), marker=dict(symbol=symbol, size=6),
                hovertemplate=f"<b>{run}</b><br>epoch %{{x}}<br>{label} %{{y:.4g}}<extra></extra>",
                meta={"run": run, "param": param}), row=nrows, col=1, secondary_y=param != "lambda")
        b = stage_boundary(history)
        if b is not None:
            boundaries.add(b)
    for b in sorted(boundaries):
        fig.add_vline(x=b, line=dict(color="#444", dash="dot", width=1), annotation_text="stage 2",
                      annotation_position="top right")
    for r, m in enumerate(metrics, start=1):
        fig.update_yaxes(title_text=ylabels[m], row=r, col=1)
    fig.update_yaxes(title_text="λ (weight of the text teacher)", row=nrows, col=1, secondary_y=False)
    fig.update_yaxes(title_text="τ, τ2", type="log", row=nrows, col=1, secondary_y=True)
    fig.update_xaxes(title_text="epoch", row=nrows, col=1)
    fig.update_layout(title=title or "Relation drift per epoch: student vs teacher relations (probe subset)",
                      template="plotly_white", height=260 * nrows + 80, legend=dict(groupclick="toggleitem"))
    return fig


def loss_curves(history, log_y: bool = False, title: str | None = None) -> go.Figure:
    """Loss terms per epoch: raw terms (top) and weighted terms with their sum (bottom); stage boundary marked.

    Colours are fixed per term name, so ``kd_loss`` looks the same in every figure.
    """
    frame = history_frame(history)
    raw, weighted = loss_columns(frame)
    if not raw and not weighted:
        raise ValueError(f"history has no loss-term columns (*_loss, w_*_loss); it has {', '.join(frame.columns)}")
    total = TOTAL_LOSS if TOTAL_LOSS in frame.columns else None
    nrows = 2 if weighted or total else 1
    fig = make_subplots(rows=nrows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["raw loss terms", "weighted terms (summed into the objective)"][:nrows])

    def term(col: str) -> str:
        return col.removeprefix(WEIGHTED_PREFIX)

    for r, cols in ((1, raw), (2, weighted)):
        for c in cols:
            name = term(c)
            fig.add_trace(go.Scatter(
                x=frame["epoch"], y=frame[c], mode="lines+markers", name=name, legendgroup=name,
                showlegend=r == 1 or name not in {term(x) for x in raw}, line=dict(color=series_color(name)),
                hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4f}}<extra>{'raw' if r == 1 else 'weighted'}</extra>",
                meta={"column": c, "weighted": r == 2}), row=r, col=1)
    if total is not None:
        fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[total], mode="lines", name="total",
                                 line=dict(color="#000000", width=2.5), meta={"column": total, "weighted": True},
                                 hovertemplate="total<br>epoch %{x}<br>%{y:.4f}<extra></extra>"), row=nrows, col=1)
    b = stage_boundary(history)
    if b is not None:
        fig.add_vline(x=b, line=dict(color="#444", dash="dot", width=1), annotation_text="stage 2")
    fig.update_yaxes(type="log" if log_y else "linear", title_text="loss")
    fig.update_xaxes(title_text="epoch", row=nrows, col=1)
    fig.update_layout(title=title or "Loss terms per epoch", template="plotly_white", height=300 * nrows + 80)
    return fig


def snapshot_heatmaps(history, epoch: int | None = None, label_names=None, **kwargs) -> go.Figure:
    """`vlr_viz.viz.relation_heatmaps` of one relation snapshot of a history (default: the last), ordered by the
    probe items' categories; ``kwargs`` go to `relation_heatmaps`."""
    from vlr_viz.viz.relations import relation_heatmaps

    snaps = history_snapshots(history)
    if not snaps:
        raise ValueError("history has no relation snapshots")
    epoch = max(snaps) if epoch is None else int(epoch)
    if epoch not in snaps:
        raise ValueError(f"no snapshot at epoch {epoch}; snapshots exist at epochs {sorted(snaps)}")
    mats = {k: v for k, v in snaps[epoch].items() if np.ndim(v) == 2}
    n = next(iter(mats.values())).shape[0]
    labels = history_probe_labels(history)
    labels = np.full(n, -1, dtype=np.int64) if labels is None or labels.size != n else labels
    kwargs.setdefault("title", f"Relation matrices of the probe subset at epoch {epoch} (over τ2)")
    return relation_heatmaps(mats, labels, label_names, **kwargs)
