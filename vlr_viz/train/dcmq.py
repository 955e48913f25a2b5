"""DCMQ: distilling a vision-language teacher into product-quantised cross-modal codes.

DCMQ (Distilling vision-language pretraining for efficient cross-modal retrieval, arXiv 2405.14726): a student
hashing model with codebooks learns from a teacher's similarities instead of multi-hot label similarity.

vlr_viz student (our reading; the paper gives the parts by name only):
- one ``MLPTower`` per modality (backbone features → L2-normalised ``embed_dim`` vector);
- ONE product quantizer shared by both modalities (:class:`~vlr_viz.models.quantizer.ProductQuantizer`, Gumbel
  straight-through, PQG). Decision: shared codebooks, so image and text codes index the same codewords and a
  float query of either modality searches the other's codes with one set of lookup tables;
- target: the NPC target of the teacher's embeddings (:func:`~vlr_viz.losses.npc.npc_target`), or, for the
  baseline, :func:`~vlr_viz.losses.npc.label_similarity_target` of the categories;
- loss per batch of pairs::

      L = mean_blocks MSE(S_block, T) + w_bal (1 - H̄) + w_q (||v - q(v)||² + ||t - q(t)||²) / 2

  blocks: cosines of quantised vectors (ii, tt, it, ti) and the asymmetric search scores v·q(t), t·q(v);
  ``H̄`` = normalised entropy of the mean codeword assignment (both modalities), in [0, 1].
- Gumbel temperature decays exponentially over all training steps; the epoch with the best validation mAP
  (mean of i2t and t2i, ADC, category relevance) is kept.

The teacher is any pair of aligned arrays: by default a trained vlr_viz common space (image and text embeddings
of a dual encoder), or CLIP embeddings computed by the caller.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
import torch

from vlr_viz.arrays import l2_normalize
from vlr_viz.checks import Choice, Integer, Number, Optional, Rule, check_values
from vlr_viz.errors import ConfigError
from vlr_viz.eval.cutoffs import check_cutoffs
from vlr_viz.eval.codes import code_recall_at_k, cross_modal_map, memory_per_item
from vlr_viz.losses.npc import code_similarities, label_similarity_target, npc_distillation_loss, npc_target
from vlr_viz.models.quantizer import ProductQuantizer, balance_entropy, pq_shape_for_bits
from vlr_viz.models.towers import MLPTower
from vlr_viz.train.device import resolve_device
from vlr_viz.train.threads import torch_threads

TEACHERS = ("common_space", "clip", "labels")

DCMQ_FIELD_CHECKS = {
    "bits": Integer(min=1), "num_codewords": Integer(min=2), "teacher": Choice(TEACHERS),
    "epochs": Integer(min=1), "lr": Number(min=0, min_open=True), "batch_size": Integer(min=2),
    "weight_decay": Number(min=0), "seed": Integer(min=0), "embed_dim": Integer(min=1), "hidden": Integer(min=1),
    "depth": Integer(min=1), "dropout": Number(0, 1, max_open=True), "npc_temperature": Number(min=0, min_open=True),
    "balance_weight": Number(min=0), "quantization_weight": Number(min=0),
    "tau_start": Number(min=0, min_open=True), "tau_end": Number(min=0, min_open=True),
    "init": Choice(("kmeans++", "sample")), "eval_ks": Rule(check_cutoffs, "distinct positive integer cut-offs"),
    "device": Choice(("cpu", "cuda")), "num_threads": Optional(Integer(min=1)),
}
"""The type, range or choices of every `DCMQConfig` field (`vlr_viz.checks`)."""


@dataclass
class DCMQConfig:
    """Hyper-parameters of :func:`fit_dcmq`.

    Attributes:
        bits: code length ``M · log2 K``.
        num_codewords: ``K`` per sub-codebook.
        teacher: ``"common_space"`` or ``"clip"`` (NPC target of the given teacher embeddings) or ``"labels"``
            (label-similarity baseline).
        epochs, lr, batch_size, weight_decay, seed: optimisation (Adam).
        embed_dim, hidden, depth, dropout: the two ``MLPTower`` s.
        npc_temperature: ``T`` of the NPC target ``tanh(z / T)``.
        balance_weight: weight of ``1 - H̄`` (codeword balance).
        quantization_weight: weight of the squared quantisation error.
        tau_start, tau_end: Gumbel-softmax temperature, decayed exponentially over all steps.
        init: codebook initialisation from the initial tower outputs: ``"kmeans++"`` or ``"sample"``.
        eval_ks: mAP cut-offs recorded on the validation split.
        device: torch device.
        num_threads: torch CPU threads while fitting (default 1: with two threads some CPU kernels of this loop
            are not reproducible run to run; ``None`` keeps torch's setting).
    """

    bits: int = 64
    num_codewords: int = 256
    teacher: str = "common_space"
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 1e-4
    seed: int = 0
    embed_dim: int = 256
    hidden: int = 1024
    depth: int = 2
    dropout: float = 0.1
    npc_temperature: float = 1.0
    balance_weight: float = 0.1
    quantization_weight: float = 0.0
    tau_start: float = 1.0
    tau_end: float = 0.2
    init: str = "kmeans++"
    eval_ks: tuple[int, ...] = (50, 100)
    device: str = "cpu"
    num_threads: int | None = 1

    def __post_init__(self):
        checked = check_values(DCMQ_FIELD_CHECKS, {f.name: getattr(self, f.name) for f in fields(self)})
        for name, value in checked.items():
            setattr(self, name, value)
        books, _ = pq_shape_for_bits(self.bits, self.num_codewords)
        if self.embed_dim % books:
            raise ConfigError(f"embed_dim = {self.embed_dim} is not divisible by the {books} sub-codebooks of "
                              f"bits = {self.bits}")


@dataclass
class DCMQSplit:
    """Plain arrays of one split.

    Attributes:
        image_features: backbone features ``(N, Di)`` (student input).
        text_features: backbone features ``(M, Dt)``.
        txt_to_img: ``(M,)`` image of each caption.
        labels: ``(N,)`` image categories (-1 unknown), for the baseline and the metric.
        teacher_image, teacher_text: teacher embeddings ``(N, De)`` and ``(M, De)`` in one space (only needed on
            the training split for a teacher other than ``"labels"``).
    """

    image_features: np.ndarray
    text_features: np.ndarray
    txt_to_img: np.ndarray
    labels: np.ndarray
    teacher_image: np.ndarray | None = None
    teacher_text: np.ndarray | None = None

    def __post_init__(self):
        self.image_features = np.asarray(self.image_features, dtype=np.float32)
        self.text_features = np.asarray(self.text_features, dtype=np.float32)
        self.txt_to_img = np.asarray(self.txt_to_img, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n, m = len(self.image_features), len(self.text_features)
        if self.image_features.ndim != 2 or self.text_features.ndim != 2 or n == 0 or m == 0:
            raise ValueError("image_features and text_features must be non-empty 2-D arrays")
        if self.txt_to_img.shape != (m,) or self.txt_to_img.min() < 0 or self.txt_to_img.max() >= n:
            raise ValueError(f"txt_to_img must have {m} entries in [0, {n})")
        if self.labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {self.labels.shape}")
        for name, rows in (("teacher_image", n), ("teacher_text", m)):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float32)
                if arr.ndim != 2 or len(arr) != rows:
                    raise ValueError(f"{name} must have shape ({rows}, D), got {arr.shape}")
                setattr(self, name, arr)
        if (self.teacher_image is None) != (self.teacher_text is None):
            raise ValueError("teacher_image and teacher_text go together")
        if self.teacher_image is not None and self.teacher_image.shape[1] != self.teacher_text.shape[1]:
            raise ValueError("teacher_image and teacher_text must share one embedding dimension")

    @property
    def text_labels(self) -> np.ndarray:
        return self.labels[self.txt_to_img]

    @classmethod
    def from_pairs(cls, pairs, features, teacher=None) -> "DCMQSplit":
        """From a ``PairSet``, its ``Features`` (``.image``, ``.text``) and optional ``(image, text)`` teacher
        embeddings."""
        ti, tt = teacher if teacher is not None else (None, None)
        return cls(features.image, features.text, pairs.txt_to_img, pairs.labels, ti, tt)


@dataclass
class DCMQResult:
    """What :func:`fit_dcmq` returns (the towers and quantizer are in eval mode, at the selected epoch)."""

    config: DCMQConfig
    image_tower: MLPTower
    text_tower: MLPTower
    quantizer: ProductQuantizer
    history: pd.DataFrame
    best_epoch: int
    image_codes: np.ndarray
    text_codes: np.ndarray
    codeword_usage: np.ndarray
    val_metrics: dict = field(default_factory=dict)

    @torch.no_grad()
    def embed(self, split: DCMQSplit) -> tuple[np.ndarray, np.ndarray]:
        """Float tower embeddings ``(image (N, D), text (M, D))`` of a split."""
        return _embed(self.image_tower, self.text_tower, split, self.config.device)

    @torch.no_grad()
    def encode(self, split: DCMQSplit) -> tuple[np.ndarray, np.ndarray]:
        """Codes ``(image (N, M), text (M', M))`` (uint8 for K <= 256)."""
        v, t = self.embed(split)
        return (self.quantizer.encode(torch.from_numpy(v)).cpu().numpy(),
                self.quantizer.encode(torch.from_numpy(t)).cpu().numpy())

    def evaluate(self, split: DCMQSplit, ks=(50, 100), codes: bool = True) -> dict[str, float]:
        """i2t / t2i mAP@K and mAP (percent, category relevance): float queries against coded galleries
        (``codes=True``) or the student's float embeddings on both sides."""
        return _code_metrics(self.image_tower, self.text_tower, self.quantizer, split, ks, codes)

    def recall(self, split: DCMQSplit, ks=(1, 5, 10)) -> dict[str, float]:
        """Cross-modal R@K (%) of float queries against the coded other modality (:func:`code_recall_at_k`)."""
        (v, t), (ci, ct) = self.embed(split), self.encode(split)
        return code_recall_at_k(v, t, ci, ct, self.quantizer.codebooks.detach().cpu(), split.txt_to_img, ks)


def _embed(image_tower, text_tower, split: DCMQSplit, device) -> tuple[np.ndarray, np.ndarray]:
    was = image_tower.training, text_tower.training
    image_tower.eval(), text_tower.eval()
    with torch.no_grad():
        v = image_tower(torch.from_numpy(split.image_features).to(device)).cpu().numpy()
        t = text_tower(torch.from_numpy(split.text_features).to(device)).cpu().numpy()
    image_tower.train(was[0]), text_tower.train(was[1])
    return v, t


def _batch_target(config: DCMQConfig, split: DCMQSplit, captions: np.ndarray, device) -> torch.Tensor:
    images = split.txt_to_img[captions]
    if config.teacher == "labels":
        return label_similarity_target(split.labels[images]).to(device)
    return npc_target(torch.from_numpy(split.teacher_image[images]), torch.from_numpy(split.teacher_text[captions]),
                      temperature=config.npc_temperature).to(device)


def _build_student(config: DCMQConfig, train: DCMQSplit, gen: torch.Generator):
    """Two towers and the shared quantizer, codebooks initialised from the initial tower outputs."""
    image_tower = MLPTower(train.image_features.shape[1], config.embed_dim, config.hidden, config.depth,
                           config.dropout, normalize=True)
    text_tower = MLPTower(train.text_features.shape[1], config.embed_dim, config.hidden, config.depth,
                          config.dropout, normalize=True)
    steps = config.epochs * math.ceil(len(train.text_features) / config.batch_size)
    pq = ProductQuantizer.from_bits(config.embed_dim, config.bits, config.num_codewords, tau_start=config.tau_start,
                                    tau_end=config.tau_end, tau_decay_steps=steps, generator=gen)
    v0, t0 = _embed(image_tower, text_tower, train, "cpu")
    pq.init_from_data(torch.from_numpy(np.concatenate([v0, t0])), method=config.init, generator=gen)
    device = resolve_device(config.device)
    return image_tower.to(device), text_tower.to(device), pq.to(device)


def _batch_loss(config, train, captions, image_tower, text_tower, pq, xi, xt) -> dict[str, torch.Tensor]:
    """Named loss terms of one batch of pairs (``loss`` is the weighted sum that is minimised)."""
    device = xi.device
    v = image_tower(xi[train.txt_to_img[captions]])
    t = text_tower(xt[captions])
    qv, qt = pq(v), pq(t)
    terms = npc_distillation_loss(code_similarities(qv.quantized, qt.quantized, v, t),
                                  _batch_target(config, train, captions, device))
    terms["balance_entropy"] = balance_entropy(torch.cat([qv.probabilities, qt.probabilities])).mean()
    terms["quantization_error"] = ((qv.quantized - v) ** 2).sum(1).mean() / 2 + ((qt.quantized - t) ** 2).sum(
        1).mean() / 2
    terms["loss"] = (terms["npc_loss"] + config.balance_weight * (1 - terms["balance_entropy"])
                     + config.quantization_weight * terms["quantization_error"])
    return terms


def fit_dcmq(config: DCMQConfig, train: DCMQSplit, val: DCMQSplit | None = None) -> DCMQResult:
    """Train the two towers and the shared product quantizer (module docstring) and select the epoch on ``val``
    (without ``val``: the last epoch).

    Returns a :class:`DCMQResult` with the train-split codes, per-epoch ``history`` (loss terms, balance entropy,
    τ, logit scale, validation mAP) and the ``(M, K)`` codeword usage counts on the training split.
    """
    if config.teacher != "labels" and train.teacher_image is None:
        raise ValueError(f"teacher={config.teacher!r} needs train.teacher_image / train.teacher_text")
    with torch.random.fork_rng(devices=[]), torch_threads(config.num_threads):
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        image_tower, text_tower, pq = _build_student(config, train, gen)
        modules = {"image": image_tower, "text": text_tower, "pq": pq}
        params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        xi = torch.from_numpy(train.image_features).to(config.device)
        xt = torch.from_numpy(train.text_features).to(config.device)
        rows, best_score, best_state, best_epoch = [], -math.inf, None, 0
        for epoch in range(1, config.epochs + 1):
            for m in modules.values():
                m.train()
            sums, seen, tau = {}, 0, pq.tau
            for captions in np.array_split(rng.permutation(len(xt)), math.ceil(len(xt) / config.batch_size)):
                if len(captions) < 2:
                    continue
                terms = _batch_loss(config, train, captions, image_tower, text_tower, pq, xi, xt)
                opt.zero_grad(set_to_none=True)
                terms["loss"].backward()
                opt.step()
                pq.step_tau()
                seen += len(captions)
                for k, value in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(value.detach()) * len(captions)
            row = {"epoch": epoch, **{k: v / max(seen, 1) for k, v in sums.items()}, "tau": tau,
                   "logit_scale": float(pq.log_logit_scale.detach().exp())}
            score = float(epoch)
            if val is not None:
                metrics = _code_metrics(image_tower, text_tower, pq, val, config.eval_ks)
                row.update({f"val_{k}": v for k, v in metrics.items()})
                score = metrics["map_mean"]
            rows.append(row)
            if score > best_score:
                best_score, best_epoch = score, epoch
                best_state = {k: {n: t.detach().clone() for n, t in m.state_dict().items()}
                              for k, m in modules.items()}
        for k, m in modules.items():
            m.load_state_dict(best_state[k])
            m.eval()
    history = pd.DataFrame(rows)
    result = DCMQResult(config, image_tower, text_tower, pq, history, best_epoch, *(np.empty(0),) * 3)
    result.image_codes, result.text_codes = result.encode(train)
    result.codeword_usage = _codeword_counts(np.concatenate([result.image_codes, result.text_codes]),
                                             pq.num_codewords)
    if val is not None:
        result.val_metrics = {k[4:]: v for k, v in rows[best_epoch - 1].items() if k.startswith("val_")}
    return result


def _codeword_counts(codes: np.ndarray, num_codewords: int) -> np.ndarray:
    """``(M, K)`` how often each codeword of each sub-codebook occurs in ``codes`` ``(N, M)``."""
    m = codes.shape[1]
    flat = codes.astype(np.int64) + np.arange(m) * num_codewords
    return np.bincount(flat.ravel(), minlength=m * num_codewords).reshape(m, num_codewords)


def _code_metrics(image_tower, text_tower, pq: ProductQuantizer, split: DCMQSplit, ks, codes: bool = True) -> dict:
    """i2t / t2i mAP (percent, category relevance) of float queries against the coded other modality, or float
    against float (``codes=False``)."""
    v, t = _embed(image_tower, text_tower, split, pq.codebooks.device)
    if not codes:
        return cross_modal_map(v, t, split.labels, split.text_labels, ks=ks)
    with torch.no_grad():
        ci, ct = pq.encode(torch.from_numpy(v)), pq.encode(torch.from_numpy(t))
    return cross_modal_map(v, t, split.labels, split.text_labels, image_codes=ci, text_codes=ct,
                           codebooks=pq.codebooks.detach().cpu(), ks=ks)


def run_dcmq_experiment(bits_list, teacher_embeddings, pairs_train, pairs_test, *, features_train, features_test,
                        pairs_val=None, features_val=None, config: DCMQConfig | None = None,
                        supervisions=("teacher", "labels"), seeds=(0,), teacher_name: str = "common_space",
                        ks=(50, 100), return_results: bool = False):
    """mAP vs bits on the test split: teacher-distilled codes, label-supervised codes and float embeddings.

    Args:
        bits_list: code lengths, e.g. ``[16, 32, 64, 128]``.
        teacher_embeddings: ``{"train": (image, text), "test": (image, text)[, "val": ...]}`` teacher embeddings
            of each split in one space (train: distillation target; test: the float reference row).
        pairs_train, pairs_test, pairs_val: ``PairSet`` s (``txt_to_img``, ``labels``).
        features_train, features_test, features_val: backbone ``Features`` (``.image``, ``.text``) of each split.
        config: base :class:`DCMQConfig` (``bits`` and ``teacher`` are set per row).
        supervisions: ``"teacher"`` (NPC of the teacher) and/or ``"labels"`` (label-similarity baseline).
        seeds: one run per seed.
        teacher_name: ``"common_space"`` or ``"clip"``, recorded in the config.
        return_results: also return the fitted :class:`DCMQResult` s keyed by ``(supervision, bits, seed)``
            (codeword usage, histories).
    Returns: one row per (supervision, bits, seed) with ``i2t_map@K``, ``i2t_map``, ``t2i_...``, ``map_mean``,
    cross-modal ``i2t_R@K`` / ``t2i_R@K`` / ``rsum`` with codes (:func:`code_recall_at_k`), ``bytes_per_item``
    and ``best_epoch``, plus one ``"float teacher"`` row (teacher embeddings, float32, cosine R@K); with
    ``return_results``, ``(frame, results)``.
    """
    from ..eval import recall_at_k

    config = config or DCMQConfig()
    train = DCMQSplit.from_pairs(pairs_train, features_train, teacher_embeddings["train"])
    test = DCMQSplit.from_pairs(pairs_test, features_test, teacher_embeddings.get("test"))
    val = None
    if pairs_val is not None:
        if features_val is None:
            raise ValueError("features_val is required with pairs_val")
        val = DCMQSplit.from_pairs(pairs_val, features_val, teacher_embeddings.get("val"))
    rows, results = [], {}
    for sup in supervisions:
        if sup not in ("teacher", "labels"):
            raise ValueError(f"supervisions: unknown {sup!r} (use 'teacher' or 'labels')")
        for bits in bits_list:
            for seed in seeds:
                cfg = replace(config, bits=int(bits), seed=int(seed),
                              teacher=teacher_name if sup == "teacher" else "labels")
                res = fit_dcmq(cfg, train, val)
                results[(sup, int(bits), int(seed))] = res
                rows.append({"supervision": sup, "bits": int(bits), "seed": int(seed),
                             "bytes_per_item": memory_per_item(int(bits), cfg.num_codewords)["stored_bytes"],
                             "best_epoch": res.best_epoch, **res.evaluate(test, ks=ks), **res.recall(test)})
    if test.teacher_image is not None:
        metrics = cross_modal_map(l2_normalize(test.teacher_image), l2_normalize(test.teacher_text), test.labels,
                                  test.text_labels, ks=ks)
        recall = recall_at_k(test.teacher_image, test.teacher_text, test.txt_to_img, return_ranks=False)
        rows.append({"supervision": "float teacher", "bits": 32 * test.teacher_image.shape[1], "seed": -1,
                     "bytes_per_item": 4 * test.teacher_image.shape[1], "best_epoch": -1, **metrics,
                     **{k: recall[k] for k in recall if "R@" in k or k == "rsum"}})
    frame = pd.DataFrame(rows)
    return (frame, results) if return_results else frame


__all__ = ["DCMQConfig", "DCMQResult", "DCMQSplit", "fit_dcmq", "run_dcmq_experiment"]
