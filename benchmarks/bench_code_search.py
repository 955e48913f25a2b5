"""Search with codes: a torch ADC (vlr_viz's former search) next to FAISS IndexFlatIP, IndexPQ and IndexPQFastScan.

SYNTHETIC DATA, FOR TIMING ONLY: random unit queries, random unit float vectors for the float index, random
codebooks and random codes for the coded galleries (search time does not depend on what the codes mean).

At each gallery size (``--gallery``, default 100,000 and 1,000,000 items) and code length (``--bits``), ``--queries``
float queries ask for their top ``--k`` items:

- ``torch ADC``: vlr_viz's former search, kept here for the comparison: per-query lookup tables ``(Q, M, K)`` and
  ``Σ_m T[q, m, code_m]`` as one ``embedding_bag`` per gallery chunk with a running top-k, K = 256, M = bits / 8.
  It was no faster than FAISS ``IndexPQ`` (0.7-1.3x at one thread), so the library now searches through FAISS;
- ``faiss IndexPQ``: the same codes and codebooks exported by :func:`vlr_viz.models.faiss_export.faiss_index`
  (8-bit codewords, exact float lookup tables);
- ``faiss IndexPQFastScan``: the same number of bits as 4-bit codewords (M = bits / 4, K = 16), SIMD search with
  8-bit quantised lookup tables (approximate scores);
- ``faiss IndexFlatIP``: float32 brute force, the reference for memory.

Run: ``python benchmarks/bench_code_search.py [--gallery 100000 1000000 --queries 1000 --bits 32 64 128]``.
Prints best-of-``--repeats`` wall time, bytes per item and every time as a ratio to the torch ADC at the same bits
(``x ADC`` > 1: slower than torch ADC) and to float brute force (``x flat`` < 1: faster than float).
"""
from __future__ import annotations

import argparse
import os
import time

import faiss
import numpy as np
import torch

import torch.nn.functional as F

from vlr_viz.models.faiss_export import faiss_index


def torch_adc_topk(tables: torch.Tensor, codes: torch.Tensor, k: int, chunk_size: int = 8192):
    """Top-``k`` of ``Σ_m tables[q, m, codes[g, m]]`` for tables ``(Q, M, K)``: the transposed table ``(M·K, Q)`` is
    an embedding matrix and each code a bag of the ``M`` rows ``m·K + code_m`` (one ``embedding_bag`` per chunk)."""
    q, m, kk = tables.shape
    weight = tables.reshape(q, m * kk).T.contiguous()
    offsets = torch.arange(m) * kk
    best_val = best_idx = None
    for start in range(0, codes.shape[0], chunk_size):
        block = F.embedding_bag(codes[start:start + chunk_size].long() + offsets, weight, mode="sum").T.contiguous()
        val, idx = block.topk(min(k, block.shape[1]), dim=1)
        idx = idx + start
        if best_val is not None:
            val, pos = torch.cat([best_val, val], 1).topk(k, dim=1)
            idx = torch.cat([best_idx, idx], 1).gather(1, pos)
        best_val, best_idx = val, idx
    return best_val, best_idx


def torch_adc_search(queries: torch.Tensor, codes: torch.Tensor, codebooks: torch.Tensor, k: int,
                     query_chunk: int = 64):
    m, _, sub = codebooks.shape
    parts = []
    for s in range(0, queries.shape[0], query_chunk):
        tables = torch.einsum("qmd,mkd->qmk", queries[s:s + query_chunk].reshape(-1, m, sub), codebooks)
        parts.append(torch_adc_topk(tables, codes, k))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def synthetic_codes(rng: np.random.Generator, n: int, dim: int, bits: int, bits_per_book: int):
    """Random codebooks ``(M, K, dim/M)`` and random codes ``(n, M)`` (timing only)."""
    m, k = bits // bits_per_book, 2 ** bits_per_book
    codebooks = (rng.standard_normal((m, k, dim // m)) / np.sqrt(dim)).astype(np.float32)
    codes = rng.integers(0, k, size=(n, m), dtype=np.uint8)
    return codebooks, codes


def bench_gallery(n: int, args, rng: np.random.Generator):
    """Yield one row per method at gallery size ``n`` (float first, then each code length)."""
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(args.dim)
    for start in range(0, n, 100_000):  # add in blocks: the float gallery is the largest array here
        block = rng.standard_normal((min(100_000, n - start), args.dim)).astype(np.float32)
        flat.add(block / np.linalg.norm(block, axis=1, keepdims=True))
    t_flat = best_time(lambda: flat.search(queries, args.k), args.repeats)
    yield {"gallery": n, "bits": 32 * args.dim, "method": "faiss IndexFlatIP (float32)", "bytes/item": 4 * args.dim,
           "seconds": t_flat, "x ADC": float("nan"), "x flat": 1.0}
    del flat
    for bits in args.bits:
        codebooks, codes = synthetic_codes(rng, n, args.dim, bits, 8)
        cb_t, codes_t, q_t = torch.from_numpy(codebooks), torch.from_numpy(codes), torch.from_numpy(queries)
        t_adc = best_time(lambda: torch_adc_search(q_t, codes_t, cb_t, args.k), args.repeats)
        index_pq = faiss_index(codebooks, codes)
        t_pq = best_time(lambda: index_pq.search(queries, args.k), args.repeats)
        del index_pq
        cb4, codes4 = synthetic_codes(rng, n, args.dim, bits, 4)
        index_fs = faiss_index(cb4, codes4, fast_scan=True)
        t_fs = best_time(lambda: index_fs.search(queries, args.k), args.repeats)
        del index_fs
        m = bits // 8
        for method, seconds in ((f"torch ADC (M={m}, K=256)", t_adc), (f"faiss IndexPQ (M={m}, K=256)", t_pq),
                                (f"faiss IndexPQFastScan (M={2 * m}, K=16)", t_fs)):
            yield {"gallery": n, "bits": bits, "method": method, "bytes/item": m, "seconds": seconds,
                   "x ADC": seconds / t_adc, "x flat": seconds / t_flat}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--bits", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and FAISS threads (0: all cores; default 1: on a busy machine several threads per "
                         "method mostly measure how long they wait for each other)")
    args = ap.parse_args(argv)
    for bits in args.bits:
        if bits % 8 or args.dim % (bits // 4):
            raise SystemExit(f"--bits {bits}: needs a multiple of 8 whose bits/4 sub-vectors divide --dim {args.dim}")
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"SYNTHETIC codes and vectors (timing only); {args.queries} queries, top-{args.k}, {args.dim}-d, "
          f"{threads} threads (torch and FAISS), best of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    header = f"{'gallery':>9} {'bits':>5}  {'method':<36}{'bytes/item':>11}{'seconds':>10}{'x ADC':>8}{'x flat':>8}"
    print(header)
    print("-" * len(header))
    rows = []
    for n in args.gallery:
        for r in bench_gallery(n, args, rng):
            rows.append(r)
            x_adc = "" if np.isnan(r["x ADC"]) else f"{r['x ADC']:.2f}"
            print(f"{r['gallery']:>9,} {r['bits']:>5}  {r['method']:<36}{r['bytes/item']:>11}{r['seconds']:>10.3f}"
                  f"{x_adc:>8}{r['x flat']:>8.3f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
