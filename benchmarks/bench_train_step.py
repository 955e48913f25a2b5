"""Cost of one structure-aware training step (stage 2 of the `sad` and `sad-kl` recipes) relative to a baseline step.

MLP towers on random features of the Twemoji teachers' sizes (image 1280, text 384; synthetic, timing only), one
AdamW step each, median over repeated steps, the recipes' repeats interleaved. Goal: structure-aware / baseline
<= 1.3 at batch 128 and 512.

A second table counts the floating-point operations of one step (forward and backward, as
`torch.utils.flop_counter.FlopCounterMode` counts them: the matrix products) and their ratio to the
baseline's: a step cannot be cheaper, relative to the baseline, than its share of arithmetic. The last columns
leave out the two teacher relations ``a·aᵀ`` and ``b·bᵀ`` (products of frozen features, the only part that could
be computed once per training split): the ratio even free teacher relations would leave.

    python benchmarks/bench_train_step.py [--threads 1] [--repeats 30] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vlr_viz.losses import teacher_relations, weighted_sum
from vlr_viz.train import PairFeatures, recipe_config
from vlr_viz.train.model import RetrievalModel, build_mlp_encoder
from vlr_viz.train.trainer import _optimizer, batch_terms, stage_weights


RECIPES = ("baseline", "sad", "sad-kl", "covlr")


def step_setup(recipe: str, batch: int, device: str = "cpu"):
    """``(data, config, model, stage-2 weights)``: the recipe's student on synthetic features of the teachers' sizes
    (``max(4 · batch, 2048)`` rows)."""
    torch.manual_seed(0)
    n = max(4 * batch, 2048)
    data = PairFeatures(torch.randn(n, 1280), torch.randn(n, 384), torch.arange(n))
    data = PairFeatures(*(x.to(device) for x in (data.image, data.text, data.txt_to_img)))
    cfg = recipe_config(recipe, batch_size=batch, device=device)
    model = RetrievalModel(build_mlp_encoder(cfg, 1280, 384), cfg.embed_dim, 1280, 384, cfg).to(device)
    return data, cfg, model, stage_weights(cfg, 2)


def step_times(recipe: str, batch: int, repeats: int, device: str) -> list[float]:
    data, cfg, model, weights = step_setup(recipe, batch, device)
    n = data.n_captions
    opt = _optimizer(model, cfg)
    gen = torch.Generator().manual_seed(1)
    times = []
    for i in range(repeats + 5):
        idx = torch.randperm(n, generator=gen)[:batch].to(device)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        total, _ = weighted_sum(batch_terms(model, data, idx, cfg, stage=2), weights)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    return times


def step_flops(recipe: str, batch: int) -> tuple[int, int]:
    """``(FLOPs of one step's forward and backward, FLOPs of its teacher relations)`` on the CPU."""
    data, cfg, model, weights = step_setup(recipe, batch)
    idx = torch.arange(batch)
    with FlopCounterMode(display=False) as step:
        total, _ = weighted_sum(batch_terms(model, data, idx, cfg, stage=2), weights)
        total.backward()
    teachers = 0
    if any(weights.get(k) for k in ("kd_loss", "kd_v_loss", "kd_t_loss", "rel_loss")):
        with FlopCounterMode(display=False) as rel:
            teacher_relations(data.teacher_image[idx], data.teacher_text[idx], 0.5, 0.1, cfg.center_teachers)
        teachers = rel.get_total_flops()
    return step.get_total_flops(), teachers


def print_flops(batches) -> None:
    print("\nGFLOP per step (forward + backward) and the ratio to the baseline's; 'w/o R' without the teacher "
          "relations")
    print(f"{'batch':>6} " + " ".join(f"{r:>9}" for r in RECIPES) + " ".join(f"{r + '/base':>12}" for r in RECIPES[1:])
          + " ".join(f"{r + ' w/o R':>12}" for r in RECIPES[1:]))
    for b in batches:
        counts = {r: step_flops(r, b) for r in RECIPES}
        base = counts["baseline"][0]
        print(f"{b:>6} " + " ".join(f"{counts[r][0] / 1e9:>9.2f}" for r in RECIPES)
              + " ".join(f"{counts[r][0] / base:>12.2f}" for r in RECIPES[1:])
              + " ".join(f"{(counts[r][0] - counts[r][1]) / base:>12.2f}" for r in RECIPES[1:]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batches", type=int, nargs="+", default=[128, 512])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device {args.device}, threads {torch.get_num_threads()}, median of {args.repeats} steps")
    print(f"{'batch':>6} " + " ".join(f"{r + ' ms':>12}" for r in RECIPES)
          + " ".join(f"{r + '/base':>12}" for r in RECIPES[1:]))
    for b in args.batches:
        times = {r: [] for r in RECIPES}
        for _ in range(3):  # interleave the recipes' repeats so a change of machine load hits them alike
            for r in RECIPES:
                times[r] += step_times(r, b, args.repeats // 3, args.device)
        ms = {r: 1e3 * statistics.median(t) for r, t in times.items()}
        print(f"{b:>6} " + " ".join(f"{ms[r]:>12.2f}" for r in RECIPES)
              + " ".join(f"{ms[r] / ms['baseline']:>12.2f}" for r in RECIPES[1:]), flush=True)
    print_flops(args.batches)

if __name__ == "__main__":
    main()
