"""Memory and search time of product-quantised codes (ADC lookup tables) against float brute force.

A synthetic gallery (random unit vectors and random uint8 codes: the timing does not depend on what the codes
mean) is searched by ``--queries`` float queries for the top ``--k`` items:
- float: ``gallery_chunk @ queries.T`` (float32 matmul) + running top-k;
- ADC: per-query lookup tables ``(Q, M, K)``, then ``Σ_m T[q, m, code_m]`` as one ``embedding_bag`` per gallery
  chunk (:func:`vlr_viz.models.quantizer.adc_topk`) + running top-k; the table build is included.

Run: ``python benchmarks/bench_code_search.py [--gallery 100000 --queries 1000 --dim 256 --bits 32 64 128]``.
Prints bytes per item, best-of-``--repeats`` wall time of the score computation alone ("scores") and of the
whole top-k search, and the ratios (x) against float.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from vlr_viz.eval.codes import memory_per_item
from vlr_viz.models.quantizer import adc_lookup_tables, adc_scores_from_tables, adc_topk, pq_shape_for_bits


def float_topk(queries: torch.Tensor, gallery: torch.Tensor, k: int, chunk: int = 8192):
    best_val = best_idx = None
    for start in range(0, gallery.shape[0], chunk):
        block = queries @ gallery[start:start + chunk].T  # (Q, chunk)
        val, idx = block.topk(min(k, block.shape[1]), dim=1)
        idx = idx + start
        if best_val is not None:
            val, pos = torch.cat([best_val, val], 1).topk(k, dim=1)
            idx = torch.cat([best_idx, idx], 1).gather(1, pos)
        best_val, best_idx = val, idx
    return best_val, best_idx


def adc_search(queries, codes, codebooks, k, query_chunk=64, gallery_chunk=8192):
    parts = [adc_topk(adc_lookup_tables(queries[s:s + query_chunk], codebooks), codes, k, gallery_chunk)
             for s in range(0, queries.shape[0], query_chunk)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def float_search(queries, gallery, k, query_chunk=256, gallery_chunk=8192):
    parts = [float_topk(queries[s:s + query_chunk], gallery, k, gallery_chunk)
             for s in range(0, queries.shape[0], query_chunk)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def float_scores_only(queries, gallery, query_chunk=256, gallery_chunk=8192):
    for s in range(0, queries.shape[0], query_chunk):
        for g in range(0, gallery.shape[0], gallery_chunk):
            queries[s:s + query_chunk] @ gallery[g:g + gallery_chunk].T


def adc_scores_only(queries, codes, codebooks, query_chunk=64, gallery_chunk=8192):
    for s in range(0, queries.shape[0], query_chunk):
        adc_scores_from_tables(adc_lookup_tables(queries[s:s + query_chunk], codebooks), codes, gallery_chunk)


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--bits", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--codewords", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    queries = F.normalize(torch.randn(args.queries, args.dim, generator=gen), dim=1)
    gallery = F.normalize(torch.randn(args.gallery, args.dim, generator=gen), dim=1)

    rows = []
    t_float = best_time(lambda: float_search(queries, gallery, args.k), args.repeats)
    s_float = best_time(lambda: float_scores_only(queries, gallery), args.repeats)
    rows.append({"method": f"float32 {args.dim}-d", "bytes/item": 4 * args.dim, "gallery MB": gallery.nbytes / 2 ** 20,
                 "scores s": s_float, "search s": t_float})
    for bits in args.bits:
        m, k = pq_shape_for_bits(bits, args.codewords)
        codebooks = torch.randn(m, k, args.dim // m, generator=gen) / args.dim ** 0.5
        codes = torch.randint(0, k, (args.gallery, m), generator=gen).to(torch.uint8 if k <= 256 else torch.int32)
        mem = memory_per_item(bits, k, args.dim)
        t = best_time(lambda: adc_search(queries, codes, codebooks, args.k), args.repeats)
        s_adc = best_time(lambda: adc_scores_only(queries, codes, codebooks), args.repeats)
        rows.append({"method": f"ADC {bits}-bit (M={m}, K={k})", "bytes/item": mem["stored_bytes"],
                     "gallery MB": mem["stored_bytes"] * args.gallery / 2 ** 20, "scores s": s_adc, "search s": t})

    print(f"gallery {args.gallery:,} items, {args.queries} queries, top-{args.k}, torch threads "
          f"{torch.get_num_threads()}, best of {args.repeats}")
    header = (f"{'method':<26}{'bytes/item':>11}{'memory x':>10}{'gallery MB':>12}{'scores s':>10}{'x':>7}"
              f"{'search s':>10}{'x':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        r["memory ratio"] = rows[0]["bytes/item"] / r["bytes/item"]
        r["scores speed-up"] = s_float / r["scores s"]
        r["search speed-up"] = t_float / r["search s"]
        print(f"{r['method']:<26}{r['bytes/item']:>11}{r['memory ratio']:>10.0f}{r['gallery MB']:>12.2f}"
              f"{r['scores s']:>10.3f}{r['scores speed-up']:>7.2f}{r['search s']:>10.3f}{r['search speed-up']:>7.2f}")
    return rows


if __name__ == "__main__":
    main()
