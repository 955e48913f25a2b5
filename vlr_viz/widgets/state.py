"""What a control move of the imbalance explorer computes: `ExplorerState` → `run_state` (train + evaluate) →
`ExplorerResult`, a pure function tested without a kernel; `trainer_train_fn` trains with the vlr_viz trainer."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..arrays import cosine_matrix, first_caption_of_image
from .grid import FEATURE_NOISE, MODALITIES, NONE, FeatureGrid

STUDENT_RELATIONS = ("pair", "intra", "inter", "all")


@dataclass(frozen=True)
class ExplorerState:
    """What the controls say: one degradation per modality, the structure-loss weight, the student relation."""

    image_kind: str = NONE
    image_severity: float = 0.0
    text_kind: str = NONE
    text_severity: float = 0.0
    structure_weight: float = 2.0
    student_relation: str = "all"

    def describe(self) -> str:
        """The state in a few words: ``image: occlusion @ 0.75 · text: clean · structure weight 2 · student
        relation 'all'``."""
        def part(kind, s):
            return "clean" if kind == NONE or s == 0 else f"{kind} @ {s:g}"

        return (f"image: {part(self.image_kind, self.image_severity)} · "
                f"text: {part(self.text_kind, self.text_severity)}"
                f" · structure weight {self.structure_weight:g} · student relation {self.student_relation!r}")

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



def trainer_train_fn(epochs_stage1: int = 1, epochs_stage2: int = 3, batch_size: int = 128, hidden: int = 256,
                     torch_threads: int | None = 1, **config) -> TrainFn:
    """A ``train_fn`` that trains the dual-encoder student with `vlr_viz.train.fit` on the cached features.

    The state's ``structure_weight`` is the weight of the structure term ``kd_loss`` (method ``"sad"``, the
    other weights as in `vlr_viz.losses.DEFAULT_WEIGHTS`; 0 leaves matching and representation distillation) and
    ``student_relation`` the student relation of docs/method.md, A3. ``config`` passes further `TrainConfig` fields
    (e.g. ``tau2``, ``lambda_mode``). The explorer is a quick look, so no epoch is selected on held-out data: the
    last epoch is kept (``select_best=False``) and the training split doubles as the logging split. Students go
    through the run store (`vlr_viz.store.runs`): a state trained before, in this session or an earlier one, is
    read back instead of retrained.

    Defaults aim at seconds per control move on a CPU (a short schedule, ``hidden=256``). ``torch_threads``: torch threads while training (small MLP towers
    train fastest on one thread, and several threads on a busy machine slow down by orders of magnitude);
    ``None`` keeps torch's setting.
    """
    def train(split: Mapping[str, np.ndarray], state: ExplorerState) -> TrainedStudent:
        import torch

        from vlr_viz.train import PairFeatures, TrainConfig, encode
        from vlr_viz.runner.stored_fit import fit_stored
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
            result, _, _ = fit_stored(cfg, data, data, summary={"recipe": "explorer", "condition": state.describe()})
        model = result.model

        def encode_fn(img, txt):
            return encode(model, torch.as_tensor(np.asarray(img, dtype=np.float32)),
                          torch.as_tensor(np.asarray(txt, dtype=np.float32)))

        scalars = model.scalars()
        return TrainedStudent(encode=encode_fn, lam=scalars["lam"], tau2=scalars["tau2"], history=result.history)

    return train
