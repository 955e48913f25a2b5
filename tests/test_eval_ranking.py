"""NDCG@K, mAP@K and kNN accuracy on hand-worked examples and against per-query loops."""
import numpy as np
import pytest

from vlr_viz.eval import average_precision_at_k, knn_accuracy, ndcg_at_k

L2, L3, L4, L5 = np.log2([2, 3, 4, 5])
SCORES = np.array([[0.9, 0.8, 0.7, 0.6]])
REL = np.array([[1.0, 0.0, 2.0, 0.5]])


def test_ndcg_linear_hand_worked():
    got = ndcg_at_k(SCORES, REL, ks=(2, 4), gain="linear")
    assert got["ndcg@2"] == pytest.approx(100 * (1 / L2) / (2 / L2 + 1 / L3))
    assert got["ndcg@4"] == pytest.approx(100 * (1 / L2 + 2 / L4 + 0.5 / L5) / (2 / L2 + 1 / L3 + 0.5 / L4))
    assert got["ndcg_skipped"] == 0


def test_ndcg_exponential_hand_worked():
    g = np.sqrt(2) - 1  # 2^0.5 - 1
    got = ndcg_at_k(SCORES, REL, ks=(2, 4), gain="exponential")
    assert got["ndcg@2"] == pytest.approx(100 * (1 / L2) / (3 / L2 + 1 / L3))
    assert got["ndcg@4"] == pytest.approx(100 * (1 / L2 + 3 / L4 + g / L5) / (3 / L2 + 1 / L3 + g / L4))


def test_ndcg_exclusion_by_nan_and_mask():
    nan_scores = SCORES.copy()
    nan_scores[0, 2] = np.nan
    expected = 100 * (1 / L2) / (1 / L2 + 0.5 / L3)  # gallery {0, 1, 3}: the relevance-2 item is gone
    assert ndcg_at_k(nan_scores, REL, ks=(2,))["ndcg@2"] == pytest.approx(expected)
    mask = np.array([[True, True, False, True]])
    assert ndcg_at_k(SCORES, REL, ks=(2,), mask=mask)["ndcg@2"] == pytest.approx(expected)


def test_ndcg_ties_lower_index_first_and_skipped_queries():
    scores = np.array([[0.5, 0.5, 0.1], [0.3, 0.2, 0.1]])
    rel = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    got = ndcg_at_k(scores, rel, ks=(1, 2))
    assert got["ndcg@1"] == 0.0  # item 0 ranks first on the tie
    assert got["ndcg@2"] == pytest.approx(100 * (1 / L3) / (1 / L2))
    assert got["ndcg_skipped"] == 1  # the all-zero query has no IDCG


def naive_ndcg(scores, rel, k, gain):
    vals = []
    for s, r in zip(scores, rel):
        ok = ~np.isnan(s)
        s, r = s[ok], r[ok]
        g = r if gain == "linear" else 2.0**r - 1
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))
        dcg = sum(g[j] / np.log2(i + 2) for i, j in enumerate(order[:k]))
        idcg = sum(v / np.log2(i + 2) for i, v in enumerate(sorted(g, reverse=True)[:k]))
        if idcg > 0:
            vals.append(dcg / idcg)
    return 100 * np.mean(vals)


@pytest.mark.parametrize("gain", ["linear", "exponential"])
def test_ndcg_matches_loop_on_random_data(gain):
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(40, 30)), 1)  # rounding creates ties
    scores[rng.random(scores.shape) < 0.1] = np.nan
    rel = rng.random((40, 30)) * (rng.random((40, 30)) < 0.3)
    got = ndcg_at_k(scores, rel, ks=(5, 50), gain=gain)
    for k in (5, 50):
        assert got[f"ndcg@{k}"] == pytest.approx(naive_ndcg(scores, rel, k, gain))


def test_average_precision_hand_worked():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])
    relevant = np.array([[True, False, True, False, True]])
    got = average_precision_at_k(scores, relevant, ks=(2, 5, 10))
    assert got["map@2"] == pytest.approx(100 * 1 / 2)  # P@1 / min(2, 3)
    assert got["map@5"] == pytest.approx(100 * (1 + 2 / 3 + 3 / 5) / 3)
    assert got["map@10"] == pytest.approx(got["map@5"])
    assert got["map"] == pytest.approx(got["map@5"])


def test_average_precision_exclusion_and_skip():
    scores = np.array([[0.9, 0.8, 0.7], [0.1, 0.2, 0.3]])
    relevant = np.array([[False, True, True], [False, False, False]])
    mask = np.array([[False, True, True], [True, True, True]])
    got = average_precision_at_k(scores, relevant, ks=(2,), mask=mask)
    assert got["map@2"] == 100.0 and got["map_skipped"] == 1
    nan_scores = scores.copy()
    nan_scores[0, 0] = np.nan
    assert average_precision_at_k(nan_scores, relevant, ks=(2,))["map@2"] == 100.0


def test_knn_accuracy_hand_worked():
    gallery = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0]], dtype=float)
    gallery_labels = np.array([0, 1, 1, 2, 1])
    query = np.array([[1, 0.0], [0.05, 1], [1, 0.02]])
    # q0: nearest 0 (label 0), 1 (label 1): tie -> smallest label 0 (correct)
    # q1: nearest 3 (label 2), 2 (label 1): tie -> label 1 (correct)
    # q2: label 5 unknown in the gallery -> wrong
    assert knn_accuracy(query, gallery, [0, 1, 5], gallery_labels, k=2) == pytest.approx(200 / 3)
    # k=1 without item 0 for q0: item 1 (label 1) wrong; q1: item 3 (label 2) wrong
    mask = np.ones((3, 5), bool)
    mask[0, 0] = False
    assert knn_accuracy(query, gallery, [0, 1, 5], gallery_labels, k=1, mask=mask) == pytest.approx(0.0)
    # unknown query labels are skipped
    assert knn_accuracy(query, gallery, [0, -1, -1], gallery_labels, k=1) == 100.0


@pytest.mark.parametrize(
    "fn, args, match",
    [
        (ndcg_at_k, (np.ones((2, 3)), np.ones((2, 2))), "relevance has shape"),
        (ndcg_at_k, (np.ones((2, 3)), -np.ones((2, 3))), "non-negative"),
        (ndcg_at_k, (np.ones(3), np.ones(3)), "2-D"),
        (average_precision_at_k, (np.ones((2, 3)), np.ones((2, 3), bool), (0,)), "ks"),
        (knn_accuracy, (np.ones((2, 3)), np.ones((4, 2)), [0, 0], [0] * 4), "dim"),
    ],
)
def test_bad_input(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_bad_gain_and_relevant_dtype():
    with pytest.raises(ValueError, match="gain"):
        ndcg_at_k(np.ones((1, 2)), np.ones((1, 2)), gain="log")
    with pytest.raises(TypeError, match="relevant"):
        average_precision_at_k(np.ones((1, 2)), np.ones((1, 2)))


def test_ndcg_empty_queries_skip_or_zero_hand_worked():
    scores = np.array([[0.9, 0.8, 0.7], [0.1, 0.2, 0.3], [0.5, 0.4, 0.3]])
    rel = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # query 1 has nothing relevant
    per = [100 * (1 / L3) / 1.0, 100.0]  # query 0: the relevant item at rank 2; query 2: at rank 1
    skip = ndcg_at_k(scores, rel, ks=(2,))
    zero = ndcg_at_k(scores, rel, ks=(2,), empty_queries="zero")
    assert skip["ndcg@2"] == pytest.approx(np.mean(per))  # trec_eval: the empty query is left out
    assert zero["ndcg@2"] == pytest.approx(sum(per) / 3)  # TIP24 code: it scores 0 and stays in the mean
    assert skip["ndcg_skipped"] == zero["ndcg_skipped"] == 1
    with pytest.raises(ValueError, match="empty_queries must be one of"):
        ndcg_at_k(scores, rel, empty_queries="drop")


def test_describe_empty_queries_names_the_convention():
    from vlr_viz.eval import describe_empty_queries

    assert "left out of the mean" in describe_empty_queries("skip")
    assert "TIP24" in describe_empty_queries("zero") and "score 0" in describe_empty_queries("zero")
    with pytest.raises(ValueError, match="empty_queries"):
        describe_empty_queries("both")
