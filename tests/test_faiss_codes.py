"""FAISS: vlr_viz codes served by ``faiss.IndexPQ`` / ``IndexPQFastScan`` rank like vlr_viz's asymmetric search, and
the PQ / OPQ baselines are FAISS's own (tiny random fixtures; nothing here is data)."""
import faiss
import numpy as np
import pytest
import torch

from numpy_oracles import unit
from vlr_viz.eval.codes import code_retrieval_metrics
from vlr_viz.models.faiss_baselines import train_faiss_codes
from vlr_viz.models.faiss_export import faiss_index, faiss_search, faiss_threads
from vlr_viz.models.quantizer import ProductQuantizer, decode_codes


def _codes(n=300, m=4, k=256, sub=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k, sub)).astype(np.float32),
            rng.integers(0, k, size=(n, m)).astype(np.uint8))


def test_index_pq_ranks_like_the_asymmetric_search():
    codebooks, codes = _codes()
    queries = unit(np.random.default_rng(1).standard_normal((7, 16))).astype(np.float32)
    index = faiss_index(codebooks, codes)
    assert (index.d, index.ntotal, index.pq.M, index.pq.nbits) == (16, 300, 4, 8)
    scores, ids = faiss_search(index, queries, 20)
    # vlr_viz's asymmetric score: Σ_m <q_m, C_m[code_m]>, one sub-codebook at a time
    adc = sum(queries[:, 4 * m:4 * m + 4] @ codebooks[m][codes[:, m]].T for m in range(4))
    for q in range(7):
        order = sorted(range(300), key=lambda j: (-adc[q, j], j))[:20]
        assert ids[q].tolist() == order
        np.testing.assert_allclose(scores[q], adc[q, order], rtol=1e-5, atol=1e-5)
    # the same ranking as ProductQuantizer.search and as the score matrix the code metrics use
    pq = ProductQuantizer(16, 4, 256)
    pq.codebooks.data = torch.from_numpy(codebooks)
    assert np.array_equal(pq.search(queries, torch.from_numpy(codes), 20)[1], ids)
    full = queries @ decode_codes(torch.from_numpy(codes), torch.from_numpy(codebooks)).numpy().T
    np.testing.assert_array_equal(np.argsort(-full, axis=1, kind="stable")[:, :20], ids)


def test_fast_scan_export_for_four_bit_codewords():
    codebooks, codes = _codes(n=500, m=8, k=16, sub=2, seed=2)
    queries = unit(np.random.default_rng(3).standard_normal((10, 16))).astype(np.float32)
    index = faiss_index(codebooks, codes, fast_scan=True)
    assert isinstance(index, faiss.IndexPQFastScan) and index.ntotal == 500
    _, ids = index.search(queries, 10)
    exact = sum(queries[:, 2 * m:2 * m + 2] @ codebooks[m][codes[:, m]].T for m in range(8))
    top = np.argsort(-exact, axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, top)])
    assert overlap > 0.8  # 8-bit quantised lookup tables: approximate, not exact


def test_export_and_search_errors_name_the_problem():
    codebooks, codes = _codes()
    with pytest.raises(ValueError, match="M·8"):
        faiss_index(*_codes(k=16))  # 4-bit codewords are not IndexPQ's 8-bit layout
    with pytest.raises(ValueError, match="K = 16"):
        faiss_index(codebooks, codes, fast_scan=True)
    with pytest.raises(ValueError, match="empty"):
        faiss_index(codebooks, codes[:0])
    with pytest.raises(ValueError, match=r"shape \(G, 4\)"):
        faiss_index(codebooks, codes[:, :3])
    with pytest.raises(ValueError, match="codes must lie"):
        faiss_index(codebooks[:, :256], np.full((2, 4), 300))
    index = faiss_index(codebooks, codes)
    with pytest.raises(ValueError, match="dimension 8 but the FAISS index has d = 16"):
        faiss_search(index, np.zeros((2, 8), np.float32), 5)
    with pytest.raises(ValueError, match="k must"):
        faiss_search(index, np.zeros((2, 16), np.float32), 301)
    empty = faiss.IndexPQ(16, 4, 8, faiss.METRIC_INNER_PRODUCT)
    with pytest.raises(ValueError, match="empty"):
        faiss_search(empty, np.zeros((2, 16), np.float32), 1)


def test_faiss_threads_restores_the_setting():
    before = faiss.omp_get_max_threads()
    with faiss_threads(1):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("kind", ["faiss_pq", "faiss_opq"])
def test_baselines_are_faiss_quantisers_scored_by_the_code_metrics(kind):
    rng = np.random.default_rng(4)
    train = unit(rng.standard_normal((600, 16))).astype(np.float32)
    codes = train_faiss_codes(train, 32, kind, threads=1)
    assert codes.codebooks.shape == (4, 256, 4) and codes.bits == 32
    if kind == "faiss_opq":
        np.testing.assert_allclose(codes.rotation @ codes.rotation.T, np.eye(16), atol=1e-4)  # orthogonal
    else:
        assert codes.rotation is None
    gallery, queries = unit(rng.standard_normal((200, 16))).astype(np.float32), train[:9]
    # a FAISS index holding the gallery ranks like <R q, decode(code)>, the score of the code metrics
    codes.index.add(gallery)
    _, ids = codes.index.search(queries, 10)
    scores = codes.transform(queries) @ decode_codes(torch.from_numpy(codes.encode(gallery)),
                                                     torch.from_numpy(codes.codebooks)).numpy().T
    np.testing.assert_array_equal(np.argsort(-scores, axis=1, kind="stable")[:, :10], ids)
    labels = np.arange(200) % 3
    metrics = code_retrieval_metrics(codes.transform(gallery), codes.transform(gallery), codes.encode(gallery),
                                     codes.encode(gallery), codes.codebooks, np.arange(200), labels)
    assert 0 < metrics["rsum"] <= 600 and 0 < metrics["map_mean"] <= 100


def test_baseline_errors_name_the_parameter():
    train = unit(np.random.default_rng(5).standard_normal((300, 16))).astype(np.float32)
    with pytest.raises(ValueError, match="M·8"):
        train_faiss_codes(train, 20)
    with pytest.raises(ValueError, match="divide"):
        train_faiss_codes(train, 24)  # 3 sub-vectors do not divide 16
    with pytest.raises(ValueError, match="kind"):
        train_faiss_codes(train, 32, "lsh")
    with pytest.raises(ValueError, match="at least 256"):
        train_faiss_codes(train[:100], 32)
    with pytest.raises(ValueError, match="train_vectors"):
        train_faiss_codes(np.full((300, 16), np.nan), 32)
