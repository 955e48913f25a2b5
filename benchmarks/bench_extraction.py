"""Seconds, system time and page faults of image feature extraction, with freed blocks reused and with glibc's own
malloc settings (`vlr_viz.allocator`).

Real data: the Twemoji validation images (72 × 72 PNGs, decoded once before timing) through efficientnet-lite0 at
batch 64, no feature cache. The two settings alternate ``--repeats`` times; prints the median of each and whether the
features are bit-identical.

    python benchmarks/bench_extraction.py [--images 500] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
import torch

from vlr_viz.allocator import OPT_OUT
from vlr_viz.data.twemoji import load_twemoji
from vlr_viz.encoders import get_encoder
from vlr_viz.store.arrays import array_cache

SETTINGS = {"reused": "", "system": "system"}


def extract(enc, images) -> tuple[np.ndarray, dict]:
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    feats = enc.encode_images(images, batch_size=64, progress=False)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return feats, {"seconds": time.perf_counter() - t0, "system s": r1.ru_stime - r0.ru_stime,
                   "page faults": r1.ru_minflt - r0.ru_minflt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images = np.ascontiguousarray(load_twemoji("val", cache=array_cache()).images[:args.images])
    enc = get_encoder("efficientnet-lite0")
    enc.encode_images(images[:64], progress=False)  # weights loaded, kernels warm
    rows, feats = {name: [] for name in SETTINGS}, {}
    for _ in range(args.repeats):
        for name, value in SETTINGS.items():
            os.environ[OPT_OUT] = value
            feats[name], row = extract(enc, images)
            rows[name].append(row)
    os.environ.pop(OPT_OUT)
    print(f"efficientnet-lite0, {len(images)} Twemoji images, batch 64, {args.threads} threads, "
          f"median of {args.repeats}")
    for name, runs in rows.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"  {name:7s} {med['seconds']:6.2f} s   system {med['system s']:5.2f} s   "
              f"page faults {med['page faults']:>10,.0f}   {len(images) / med['seconds']:6.1f} img/s")
    print("  bit-identical features:", np.array_equal(feats["reused"], feats["system"]))


if __name__ == "__main__":
    main()
