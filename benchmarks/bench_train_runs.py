"""Seconds per training run of the default schedule on Twemoji, one run at a time and S seeds trained together.

Real data: the cached Twemoji teacher features (extracted on first use). Every run trains (the run store is not
asked). Prints, per recipe, the median seconds of one run trained alone, then the seconds of ``--seeds`` runs
trained one by one against the same runs trained as one batched model (`vlr_viz.train.multi_seed.fit_seeds`
with ``together=True``), and whether both gave the same selected epochs. Goal: one run <= 3 s.

    python benchmarks/bench_train_runs.py [--threads 1] [--recipes baseline sad sad-kl covlr] [--seeds 5]
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from vlr_viz.experiments.study import prepare_splits
from vlr_viz.train import fit, recipe_config
from vlr_viz.train.multi_seed import fit_seeds
from vlr_viz.train.threads import torch_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--recipes", nargs="+", default=["baseline", "sad", "sad-kl", "covlr"])
    ap.add_argument("--seeds", type=int, default=5, help="runs per recipe (seeds 0..S-1)")
    args = ap.parse_args()
    splits = prepare_splits("twemoji")
    train, val = splits.features["train"], splits.features["val"]
    seeds = list(range(args.seeds))
    print(f"Twemoji, default schedule, {train.n_captions} training captions, threads {args.threads}")
    print(f"{'recipe':<10} {'one run s':>10} {'S alone s':>10} {'S batched s':>12} {'speed-up':>9} {'same epochs':>12}")
    with torch_threads(args.threads):
        for recipe in args.recipes:
            config = recipe_config(recipe)
            alone, results = [], []
            for s in seeds:
                t0 = time.perf_counter()
                results.append(fit(replace(config, seed=s), train, val, progress=False))
                alone.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            together = fit_seeds(config, seeds, train, val, together=True)
            batched = time.perf_counter() - t0
            same = [a.best_epoch for a in results] == [b.best_epoch for b in together]
            print(f"{recipe:<10} {statistics.median(alone):>10.2f} {sum(alone):>10.2f} {batched:>12.2f} "
                  f"{sum(alone) / batched:>8.2f}x {str(same):>12}", flush=True)


if __name__ == "__main__":
    main()
