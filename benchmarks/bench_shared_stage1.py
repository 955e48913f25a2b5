"""Seconds to train the recipes of notebook 04 on one seed: each run whole, against stage 1 trained once for all.

Real data: the cached Twemoji teacher features (extracted on first use), notebook 04's schedule (5 + 10 epochs) and
recipes (baseline, sad, sad-kl, sad-kl-reliability, covlr). Every run trains (no run store is asked). Prints the
seconds of the runs trained whole one after the other, the same runs sharing their stage 1
(`vlr_viz.runner.stage1_sharing.fit_sharing_stage1`), the same on ``--workers`` processes (`vlr_viz.runner.parallel`, a
fresh temporary store), and whether all three gave bit-identical weights. Then a stage-2 setting changed after a run
(`sad-kl` with twice its structure weight): the run trained whole, against the run continued from the stage 1 the
first run left in the store (`vlr_viz.store.stage1`), and whether they are bit-identical.

    python benchmarks/bench_shared_stage1.py [--threads 1] [--seeds 1] [--workers N]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch

from vlr_viz.experiments.study import prepare_splits
from vlr_viz.train import fit, recipe_config
from vlr_viz.runner.parallel import default_workers
from vlr_viz.runner.stage1_sharing import fit_sharing_stage1
from vlr_viz.store.runs import RunStore
from vlr_viz.runner.stored_fit import fit_batched_stored, fit_stored
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
    stage2_change(train, val, args.threads)


def stage2_change(train, val, threads: int) -> None:
    """A run, then the same run with another structure weight: trained whole against continued from the stored
    stage 1."""
    first = recipe_config("sad-kl", seed=0, epochs_stage1=5, epochs_stage2=10)
    changed = replace(first, weights={**first.weights, "kd_loss": 2 * first.weights["kd_loss"]})
    with torch_threads(threads), tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        fit_stored(first, train, val, store=store)
        t0 = time.perf_counter()
        whole = fit(changed, train, val, progress=False)
        t_whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        continued, _, hit = fit_stored(changed, train, val, store=store)
        t_continued = time.perf_counter() - t0
    assert not hit
    print(f"sad-kl, structure weight {first.weights['kd_loss']} → {changed.weights['kd_loss']} after a run: "
          f"trained whole {t_whole:.1f} s, from the stored stage 1 {t_continued:.1f} s "
          f"({1 - t_continued / t_whole:.0%} less), identical {same_weights(whole, continued)}")


if __name__ == "__main__":
    main()
