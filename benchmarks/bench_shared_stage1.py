"""Seconds to train the recipes of notebook 04 on one seed: each run whole, against stage 1 trained once for all.

Real data: the cached Twemoji teacher features (extracted on first use), notebook 04's schedule (5 + 10 epochs) and
recipes (baseline, sad, sad-kl, sad-kl-reliability, covlr). Every run trains (no run store is asked). Prints the
seconds of the runs trained whole one after the other, the same runs sharing their stage 1
(`vlr_viz.train.stage1.fit_sharing_stage1`), the same on ``--workers`` processes (`vlr_viz.train.parallel`, a fresh
temporary store), and whether all three gave bit-identical weights.

    python benchmarks/bench_shared_stage1.py [--threads 1] [--seeds 1] [--workers N]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from vlr_viz.experiments.study import prepare_splits
from vlr_viz.train import fit, recipe_config
from vlr_viz.train.parallel import default_workers
from vlr_viz.train.stage1 import fit_sharing_stage1
from vlr_viz.train.store import RunStore, fit_batched_stored
from vlr_viz.train.threads import torch_threads

RECIPES = ("baseline", "sad", "sad-kl", "sad-kl-reliability", "covlr")


def same_weights(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    splits = prepare_splits("twemoji")
    train, val = splits.features["train"], splits.features["val"]
    configs = [recipe_config(r, seed=s, epochs_stage1=5, epochs_stage2=10) for s in range(args.seeds)
               for r in RECIPES]
    print(f"Twemoji, {len(configs)} runs ({', '.join(RECIPES)} × {args.seeds} seed(s)), 5 + 10 epochs, "
          f"threads {args.threads}, workers {args.workers}")
    with torch_threads(args.threads):
        t0 = time.perf_counter()
        whole = [fit(c, train, val, progress=False) for c in configs]
        t_whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        shared = fit_sharing_stage1(configs, train, val)
        t_shared = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            pooled = [r for r, _, _ in fit_batched_stored(configs, train, val, store=RunStore(folder),
                                                          workers=args.workers)]
            t_pooled = time.perf_counter() - t0
    same = all(same_weights(a, b) and same_weights(a, c) for a, b, c in zip(whole, shared, pooled))
    print(f"{'whole, one by one s':>20} {'shared stage 1 s':>17} {'shared, on W s':>15} {'saved':>7} "
          f"{'identical':>10}")
    print(f"{t_whole:>20.1f} {t_shared:>17.1f} {t_pooled:>15.1f} {1 - t_shared / t_whole:>6.0%} {str(same):>10}")


if __name__ == "__main__":
    main()
