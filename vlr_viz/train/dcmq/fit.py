"""The DCMQ training loop: several runs (seeds, supervisions) of one code length in one batched pass.

Each run keeps its own initialisation (k-means seeded by its seed), its own batch order, its own Gumbel noise and
its own selected epoch, so a run trained in a stack gives the numbers it gives alone (up to float rounding of
the batched matrix products). The objective is :func:`vlr_viz.losses.dcmq.dcmq_loss`; docs/codes.md describes
the method and the choices.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ...losses.dcmq import dcmq_loss
from ...losses.npc import label_similarity_target, npc_target
from ...models.code_student import CodeStudents
from ...models.quantizer import tau_at_step
from ..data import PairFeatures
from ..device import resolve_device
from ..threads import flush_denormals, torch_threads
from .config import DCMQConfig, check_shared
from .result import DCMQResult, codeword_counts, split_codes, split_metrics


def _check_inputs(configs: list[DCMQConfig], train: PairFeatures, val: PairFeatures | None) -> None:
    for split in (train, val):
        if split is None:
            continue
        if split.image.ndim != 2 or split.text.ndim != 2 or split.image.shape[1] != split.text.shape[1]:
            raise ValueError(f"{split.name}: DCMQ's student starts from a common space, so image "
                             f"{tuple(split.image.shape)} and text {tuple(split.text.shape)} inputs must be float "
                             "(N, D) with one D")
    if any(c.supervision == "labels" for c in configs) and train.labels is None:
        raise ValueError(f"supervision='labels' needs {train.name}.labels")
    if train.teacher_image.shape[1] != train.teacher_text.shape[1]:
        raise ValueError(f"{train.name}: the NPC target compares teacher images and texts directly; their dimensions "
                         f"{train.teacher_image.shape[1]} and {train.teacher_text.shape[1]} differ")


def _score(metrics: dict, select_metric: str) -> float:
    return {"rsum": metrics["rsum"], "map": metrics["map_mean"],
            "rsum+map": metrics["rsum"] + metrics["map_mean"]}[select_metric]


def _targets(configs, train: PairFeatures, images: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
    """``(G, B, B)`` target of each run's batch: NPC of the teacher or the label similarity."""
    teacher = torch.tensor([c.supervision == "teacher" for c in configs])
    out = []
    if teacher.any():
        out.append(npc_target(train.teacher_image[images], train.teacher_text[captions],
                              temperature=configs[0].npc_temperature))
    if not teacher.all():
        lab = label_similarity_target(torch.from_numpy(train.labels).to(images.device)[images])
        out = [torch.where(teacher[:, None, None], out[0], lab)] if out else [lab]
    return out[0]


def _run_epoch(student, opt, configs, train, rngs, gens, step: int, steps_total: int) -> tuple[dict, int]:
    """One epoch of every run; returns the per-run mean of each logged term ``{name: (G,)}`` and the new step."""
    c0 = configs[0]
    n = train.n_captions
    n_batches = math.ceil(n / c0.batch_size)
    orders = [np.array_split(rng.permutation(n), n_batches) for rng in rngs]
    sums, seen = {}, 0
    for b in range(n_batches):
        captions = torch.from_numpy(np.stack([o[b] for o in orders]))  # (G, B)
        if captions.shape[1] < 2:
            continue
        images = train.txt_to_img[captions]
        tau = tau_at_step(step, c0.tau_start, c0.tau_end, steps_total)
        v, t = student.embed(train.image[images], "image"), student.embed(train.text[captions], "text")
        qv, _, pv = student.quantize(v, tau, gens if c0.gumbel_noise else None)
        qt, _, pt = student.quantize(t, tau, gens if c0.gumbel_noise else None)
        terms = dcmq_loss(v, t, qv, qt, _targets(configs, train, images, captions), images, (pv, pt),
                          target_temperature=c0.target_temperature, student_temperature=c0.student_temperature,
                          weights=c0.loss_weights)
        opt.zero_grad(set_to_none=True)
        terms["loss"].sum().backward()
        opt.step()
        step += 1
        seen += captions.shape[1]
        for k, value in terms.items():
            sums[k] = sums.get(k, 0.0) + value.detach() * captions.shape[1]
    return {k: (v / max(seen, 1)).tolist() for k, v in sums.items()}, step


def fit_dcmq_runs(configs: list[DCMQConfig], train: PairFeatures, val: PairFeatures | None = None,
                  progress: bool = False) -> list[DCMQResult]:
    """Train one DCMQ student per config in one batched pass and select each run's epoch on ``val``.

    Args:
        configs: runs that differ only in ``seed`` and ``supervision`` (:data:`~.config.SHARED` settings equal).
        train, val: `PairFeatures` whose ``image`` / ``text`` are the common-space embeddings the student starts
            from (``(N, D)``, ``(M, D)``), whose ``teacher_image`` / ``teacher_text`` give the NPC target (the same
            arrays by default) and whose ``labels`` give the label target and the validation mAP.
        progress: tqdm bar over epochs.
    Returns:
        one :class:`DCMQResult` per config, in order. Without ``val`` the last epoch is kept.
    """
    check_shared(configs)
    _check_inputs(configs, train, val)
    c0, groups = configs[0], len(configs)
    device = resolve_device(c0.device)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]), torch_threads(c0.num_threads), flush_denormals():
        student = CodeStudents(groups, train.image.shape[1], c0.bits, c0.num_codewords).to(device)
        train = PairFeatures(train.image.to(device), train.text.to(device), train.txt_to_img.to(device),
                             train.teacher_image.to(device), train.teacher_text.to(device), train.labels,
                             train.name)
        with torch.no_grad():
            start = student.embed(torch.cat([train.image, train.text]), "image")[0].cpu()  # identity: the inputs
        student.init_codebooks(start, [c.seed for c in configs], c0.kmeans_iters)
        opt = torch.optim.Adam(student.parameters(), lr=c0.lr, weight_decay=c0.weight_decay)
        rngs = [np.random.default_rng(c.seed) for c in configs]
        gens = [torch.Generator().manual_seed(c.seed) for c in configs]
        steps_total = c0.epochs * math.ceil(train.n_captions / c0.batch_size)
        rows = [[] for _ in configs]
        best = [(-math.inf, 0, None)] * groups
        step = 0
        bar = tqdm(range(c0.epochs + 1), desc=f"DCMQ {c0.bits} bits x {groups} runs", disable=not progress,
                   leave=False)
        for epoch in bar:
            logged = {}
            if epoch:
                student.train()
                logged, step = _run_epoch(student, opt, configs, train, rngs, gens, step, steps_total)
            student.eval()
            metrics = split_metrics(student, val, (1, 5, 10), c0.eval_ks) if val is not None else [{}] * groups
            scale = student.log_logit_scale.detach().exp().tolist()
            for g in range(groups):
                row = {"epoch": epoch, **{k: v[g] for k, v in logged.items()},
                       "tau": tau_at_step(step, c0.tau_start, c0.tau_end, steps_total), "logit_scale": scale[g],
                       **{f"val_{k}": v for k, v in metrics[g].items()}}
                rows[g].append(row)
                score = _score(metrics[g], c0.select_metric) if val is not None else float(epoch)
                if score > best[g][0]:
                    best[g] = (score, epoch, {k: v[g].detach().clone() for k, v in student.state_dict().items()})
        with torch.no_grad():
            for k, v in student.state_dict().items():
                v.copy_(torch.stack([b[2][k] for b in best]))
        student.eval()
        codes = split_codes(student, train)
    seconds = (time.perf_counter() - t0) / groups
    results = []
    for g, config in enumerate(configs):
        image_codes, text_codes = codes["image_codes"][g].cpu().numpy(), codes["text_codes"][g].cpu().numpy()
        history = pd.DataFrame(rows[g])
        val_metrics = {k[4:]: v for k, v in rows[g][best[g][1]].items() if k.startswith("val_")}
        results.append(DCMQResult(config, student.select(g).eval(), history, best[g][1], image_codes, text_codes,
                                  codeword_counts(np.concatenate([image_codes, text_codes]), c0.num_codewords),
                                  val_metrics, seconds))
    return results


def fit_dcmq(config: DCMQConfig, train: PairFeatures, val: PairFeatures | None = None,
             progress: bool = False) -> DCMQResult:
    """Train one DCMQ student (:func:`fit_dcmq_runs` with one config)."""
    return fit_dcmq_runs([config], train, val, progress)[0]
