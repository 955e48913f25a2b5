"""Speed of `recall_at_k` at the COCO-5K shape (5,000 images × 25,000 captions, 256-d).

Compared with (a) the floor: one bare torch product of the normalised embeddings (goal: ≤ 1.5×), and (b) the
VSE family's per-query argsort loops in both directions over the same similarity matrix (goal: ≥ 6× faster,
identical R@K). Run: ``python benchmarks/bench_retrieval.py [--chunk-sizes 256 512 1024] [--repeats 5]``.
Times are the best of the repeats, interleaved across methods.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vlr_viz.eval import recall_at_k


def per_query_argsort_loops(sims: np.ndarray, txt_to_img: np.ndarray, ks) -> dict:
    """Reference ranks: argsort every image row (best caption rank) and every caption column (its image)."""
    n, m = sims.shape
    i2t = np.empty(n, dtype=np.int64)
    for i in range(n):
        ranked = np.argsort(-sims[i])
        i2t[i] = 1 + np.flatnonzero(txt_to_img[ranked] == i)[0]
    t2i = np.empty(m, dtype=np.int64)
    cols = np.ascontiguousarray(sims.T)
    for c in range(m):
        ranked = np.argsort(-cols[c])
        t2i[c] = 1 + np.flatnonzero(ranked == txt_to_img[c])[0]
    return {f"{d}_R@{k}": 100.0 * np.mean(r <= k) for d, r in (("i2t", i2t), ("t2i", t2i)) for k in ks}


def timed(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` runs (the least disturbed by other load on a shared machine)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--skip-loops", action="store_true", help="skip the slow argsort-loop reference")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    n, m, ks = args.images, args.images * args.captions_per_image, (1, 5, 10)
    img = torch.nn.functional.normalize(torch.randn(n, args.dim, generator=g), dim=1)
    txt_to_img = np.repeat(np.arange(n), args.captions_per_image)
    txt = torch.nn.functional.normalize(img[txt_to_img] + 0.5 * torch.randn(m, args.dim, generator=g), dim=1)
    print(f"shape: {n} images x {m} captions x {args.dim}-d, torch threads: {torch.get_num_threads()}, "
          f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (best of {args.repeats} runs)")

    floor, results, times = float("inf"), {}, {c: float("inf") for c in args.chunk_sizes}
    for _ in range(args.repeats):  # interleaved, so that a burst of outside load hits every method alike
        t, sims = timed(lambda: img @ txt.T, 1)
        floor = min(floor, t)
        for c in args.chunk_sizes:
            t, results[c] = timed(lambda: recall_at_k(img, txt, txt_to_img, ks, chunk_size=c), 1)
            times[c] = min(times[c], t)
    rows = [("floor: one torch product img @ txt.T", floor)]
    rows += [(f"recall_at_k(chunk_size={c}, return_ranks=True)", times[c]) for c in args.chunk_sizes]
    best = min(rows[1:], key=lambda r: r[1])
    if not args.skip_loops:
        t_loop, reference = timed(lambda: per_query_argsort_loops(sims.numpy(), txt_to_img, ks), 1)
        rows.append(("per-query argsort loops (numpy, both directions)", t_loop))
        for c, res in results.items():
            mismatch = {k: (res[k], v) for k, v in reference.items() if res[k] != v}
            assert not mismatch, f"chunk_size={c}: R@K differ from the argsort loops: {mismatch}"
        print("R@K identical to the argsort loops:", {k: round(float(v), 2) for k, v in reference.items()})

    print(f"\n{'method':<55}{'seconds':>9}{'x floor':>9}")
    for name, t in rows:
        print(f"{name:<55}{t:>9.3f}{t / floor:>9.2f}")
    print(f"\nbest recall_at_k / floor: {best[1] / floor:.2f}x (goal <= 1.5x)")
    if not args.skip_loops:
        print(f"argsort loops / best recall_at_k: {t_loop / best[1]:.1f}x (goal >= 6x)")


if __name__ == "__main__":
    main()
