import numpy as np
import pytest

from vlr_viz.eval.category import category_recall, category_retrieval


def test_category_recall_matches_a_plain_loop(rng):
    q, g = rng.normal(size=(37, 6)), rng.normal(size=(53, 6))
    ql, gl = rng.integers(-1, 4, 37), rng.integers(-1, 4, 53)
    got = category_recall(q, g, ql, gl, ks=(1, 3, 10), block=8)
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    for k in (1, 3, 10):
        hits = [any(gl[j] == ql[i] for j in np.argsort(-cos[i], kind="stable")[:k]) for i in range(37) if ql[i] >= 0]
        assert got[f"R@{k}"] == pytest.approx(100 * np.mean(hits))


def test_category_retrieval_is_perfect_for_class_prototypes():
    labels = np.repeat(np.arange(4), 5)
    protos = np.eye(4, 8)
    out = category_retrieval(protos[labels] + 0.01, protos[np.repeat(np.arange(4), 3)], labels, np.repeat(
        np.arange(4), 3))
    assert out["i2t_R@1"] == out["t2i_R@1"] == 100.0 and out["map_mean"] == pytest.approx(100.0)
