"""Seconds per training run of the default schedule on Twemoji: one at a time, S seeds batched, S seeds on W processes.

Real data: the cached Twemoji teacher features (extracted on first use). Every run trains (the run store is not
asked, or a fresh temporary one). Prints, per recipe, the median seconds of one run trained alone, then the seconds
of ``--seeds`` runs trained one by one, the same runs trained as one batched model
(`vlr_viz.train.multi_seed.fit_seeds` with ``together=True``) and the same runs trained by ``--workers``
processes (`vlr_viz.train.parallel`, what notebooks and the report use on a CPU), its wall time per run and its
speed-up over the runs one by one, and whether all three gave the same selected epochs. Goal: one run <= 3 s.

    python benchmarks/bench_train_runs.py [--threads 1] [--recipes baseline sad sad-kl covlr] [--seeds 5]
        [--workers N] [--precision fp32|bf16]

The last column is the mean validation RSUM of the selected epochs: with ``--precision bf16`` it shows what
mixed precision costs in accuracy next to what it saves in time.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace

from vlr_viz.experiments.study import prepare_splits
from vlr_viz.train import fit, recipe_config
from vlr_viz.train.multi_seed import fit_seeds
from vlr_viz.train.parallel import default_workers
from vlr_viz.train.store import RunStore, fit_batched_stored
from vlr_viz.train.threads import torch_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--recipes", nargs="+", default=["baseline", "sad", "sad-kl", "covlr"])
    ap.add_argument("--seeds", type=int, default=5, help="runs per recipe (seeds 0..S-1)")
    ap.add_argument("--workers", type=int, default=default_workers(), help="processes (default: one per core)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="TrainConfig.precision")
    args = ap.parse_args()
    splits = prepare_splits("twemoji")
    train, val = splits.features["train"], splits.features["val"]
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


if __name__ == "__main__":
    main()
