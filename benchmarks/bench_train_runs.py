"""Seconds per training run of the default schedule on Twemoji: one at a time, S seeds batched, S seeds on W processes.

Real data: the cached Twemoji teacher features (extracted on first use). Every run trains (the run store is not
asked, or a fresh temporary one). Prints, per recipe, the median seconds of one run trained alone, then the seconds
of ``--seeds`` runs trained one by one, the same runs trained as one batched model
(`vlr_viz.runner.multi_seed.fit_seeds` with ``together=True``) and the same runs trained by ``--workers``
processes (`vlr_viz.runner.parallel`, what notebooks and the report use on a CPU), its wall time per run and its
speed-up over the runs one by one, and whether all three gave the same selected epochs. Goal: one run <= 3 s.

    python benchmarks/bench_train_runs.py [--threads 1] [--recipes baseline sad sad-kl covlr] [--seeds 5]
        [--workers N] [--precision fp32|bf16] [--floor-only]

The last column is the mean validation RSUM of the selected epochs: with ``--precision bf16`` it shows what
mixed precision costs in accuracy next to what it saves in time.

A second table gives the arithmetic floor of one run: its floating-point operations (one run counted whole by
`torch.utils.flop_counter.FlopCounterMode`: the matrix products of training, validation and snapshots; element-wise
work is not counted, so the floor is a lower bound) over the rate this CPU reaches on one large float32 matrix
product (512 × 1280 by 1280 × 1024, which the training's smaller products do not reach), on one thread and on
every core; and the rate a run of 3 s would need.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from vlr_viz.experiments.study import prepare_splits
from vlr_viz.train import fit, recipe_config
from vlr_viz.runner.multi_seed import fit_seeds
from vlr_viz.runner.parallel import default_workers
from vlr_viz.store.runs import RunStore
from vlr_viz.runner.stored_fit import fit_batched_stored
from vlr_viz.train.threads import torch_threads


def run_gflop(config, train, val) -> float:
    """GFLOP of one run of ``config`` (matrix products; module docstring)."""
    with FlopCounterMode(display=False) as counter:
        fit(config, train, val, progress=False)
    return counter.get_total_flops() / 1e9


def matmul_gflops(threads: int, repeats: int = 50) -> float:
    """GFLOP/s of a 512 × 1280 by 1280 × 1024 float32 product on ``threads`` threads (best of three rounds)."""
    a, b = torch.randn(512, 1280), torch.randn(1280, 1024)
    best = 0.0
    with torch_threads(threads):
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(repeats):
                a @ b
            best = max(best, 2 * 512 * 1280 * 1024 * repeats / (time.perf_counter() - t0) / 1e9)
    return best


def print_floor(recipes, precision: str, train, val, threads: int) -> None:
    cores = len(os.sched_getaffinity(0))
    rate = {1: matmul_gflops(1), cores: matmul_gflops(cores)}
    print(f"\narithmetic floor of one run: float32 matrix products at best {rate[1]:.0f} GFLOP/s on one thread, "
          f"{rate[cores]:.0f} GFLOP/s on {cores} threads")
    print(f"{'recipe':<10} {'GFLOP':>8} {'floor 1 thread s':>17} {f'floor {cores} threads s':>18} "
          f"{'GFLOP/s for 3 s':>16}")
    for recipe in recipes:
        with torch_threads(threads):
            gflop = run_gflop(recipe_config(recipe, precision=precision), train, val)
        print(f"{recipe:<10} {gflop:>8.0f} {gflop / rate[1]:>17.1f} {gflop / rate[cores]:>18.1f} {gflop / 3:>16.0f}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--recipes", nargs="+", default=["baseline", "sad", "sad-kl", "covlr"])
    ap.add_argument("--seeds", type=int, default=5, help="runs per recipe (seeds 0..S-1)")
    ap.add_argument("--workers", type=int, default=default_workers(), help="processes (default: one per core)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="TrainConfig.precision")
    ap.add_argument("--floor-only", action="store_true", help="print only the arithmetic floor of one run")
    args = ap.parse_args()
    splits = prepare_splits("twemoji")
    train, val = splits.features["train"], splits.features["val"]
    if args.floor_only:
        return print_floor(args.recipes, args.precision, train, val, args.threads)
    seeds = list(range(args.seeds))
    print(f"Twemoji, default schedule, {train.n_captions} training captions, threads {args.threads}")
    print(f"S = {args.seeds} runs per recipe; W = {args.workers} processes; precision {args.precision}")
    print(f"{'recipe':<10} {'one run s':>10} {'S alone s':>10} {'S batched s':>12} {'S on W s':>9} "
          f"{'per run s':>10} {'speed-up':>9} {'same epochs':>12} {'val RSUM':>9}")
    with torch_threads(args.threads):
        for recipe in args.recipes:
            config = recipe_config(recipe, precision=args.precision)
            alone, results = [], []
            for s in seeds:
                t0 = time.perf_counter()
                results.append(fit(replace(config, seed=s), train, val, progress=False))
                alone.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            together = fit_seeds(config, seeds, train, val, together=True)
            batched = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as folder:
                t0 = time.perf_counter()
                pooled = fit_batched_stored([replace(config, seed=s) for s in seeds], train, val,
                                            store=RunStore(folder), workers=args.workers)
                parallel = time.perf_counter() - t0
            epochs = [a.best_epoch for a in results]
            same = epochs == [b.best_epoch for b in together] == [r.best_epoch for r, _, _ in pooled]
            print(f"{recipe:<10} {statistics.median(alone):>10.2f} {sum(alone):>10.2f} {batched:>12.2f} "
                  f"{parallel:>9.2f} {parallel / len(seeds):>10.2f} {sum(alone) / parallel:>8.2f}x {str(same):>12} "
                  f"{statistics.mean(r.best_metrics['rsum'] for r in results):>9.2f}", flush=True)
    print_floor(args.recipes, args.precision, train, val, args.threads)


if __name__ == "__main__":
    main()
