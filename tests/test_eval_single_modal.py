"""ROUGE-L relevance, single-modal (i2i, t2t) and mixed retrieval against plain loops."""
import numpy as np
import pytest
from rouge_score import rouge_scorer

from vlr_viz.data.pairs import PairSet
from vlr_viz.eval import (
    caption_image_relevance,
    category_relevance,
    image_to_image,
    mixed_retrieval,
    rouge_relevance,
    text_to_text,
)
from vlr_viz.eval.relevance import rouge_l_matrix
from vlr_viz.store.arrays import array_cache

SCORER = rouge_scorer.RougeScorer(["rougeL"])
CAPTIONS = [
    "a man riding a horse", "a horse riding a man", "the horse", "!!!", "man: medium skin tone",
    "woman: medium-dark skin tone", "flag: France", "red apple", "apple red apple", "a b a b a",
]


def rouge(a, b):
    return SCORER.score(a, b)["rougeL"].fmeasure


def make_pairs(captions, txt_to_img, labels, family):
    n = max(txt_to_img) + 1
    return PairSet(
        images=np.zeros((n, 2, 2, 3), np.uint8), captions=captions, txt_to_img=np.array(txt_to_img),
        labels=np.array(labels), label_names=["x", "y", "z"], family=np.array(family),
        image_ids=[f"i{i}" for i in range(n)], caption_ids=[f"c{i}" for i in range(len(captions))], name="tiny",
    )


@pytest.fixture
def tiny():
    captions = ["red apple", "a red apple on a table", "green apple", "man with a hat", "a man",
                "woman with a hat", "blue car", "a fast blue car", "red car", "apple tree"]
    pairs = make_pairs(captions, [0, 0, 1, 2, 2, 3, 4, 4, 5, 6], [0, 0, 1, 1, 2, 2, -1], [0, 0, 1, 1, 2, 3, 4])
    rng = np.random.default_rng(1)
    return pairs, rng.normal(size=(7, 5)), rng.normal(size=(10, 5))


def test_rouge_matrix_matches_scorer_on_every_pair():
    got = rouge_l_matrix(CAPTIONS)
    expected = np.array([[rouge(a, b) for b in CAPTIONS] for a in CAPTIONS])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    other = ["apple", "a man", "horse riding"]
    expected = np.array([[rouge(a, b) for b in other] for a in CAPTIONS])
    np.testing.assert_allclose(rouge_l_matrix(CAPTIONS, other), expected, atol=1e-6)


def test_rouge_matches_scorer_on_a_twemoji_sample(twemoji_splits):
    pairs = twemoji_splits["test"]
    rel = caption_image_relevance(pairs)
    rng = np.random.default_rng(0)
    c, j = rng.integers(0, pairs.n_captions, 2000), rng.integers(0, pairs.n_images, 2000)
    nonzero = np.argwhere(rel > 0)
    nonzero = nonzero[rng.choice(len(nonzero), 500, replace=False)]  # plus pairs that share a token
    c, j = np.concatenate([c, nonzero[:, 0]]), np.concatenate([j, nonzero[:, 1]])
    first = pairs.first_caption_of_image()
    assert (np.bincount(pairs.txt_to_img) == 1).all()  # one caption per Twemoji image
    expected = [rouge(pairs.captions[a], pairs.captions[first[b]]) for a, b in zip(c, j)]
    np.testing.assert_allclose(rel[c, j], expected, atol=1e-6)
    assert np.count_nonzero(expected) >= 500


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_caption_image_relevance_reduces_over_captions(tiny, reduce, tmp_path):
    pairs = tiny[0]
    got = caption_image_relevance(pairs, reduce=reduce, cache=array_cache(tmp_path))
    fn = max if reduce == "max" else np.mean
    for c, cap in enumerate(pairs.captions):
        for j in range(pairs.n_images):
            own = [pairs.captions[k] for k in np.flatnonzero(pairs.txt_to_img == j)]
            assert got[c, j] == pytest.approx(fn([rouge(cap, o) for o in own]), abs=1e-6)
    assert len(list(tmp_path.glob("rougeL-relevance-*.npy"))) == 1
    np.testing.assert_array_equal(caption_image_relevance(pairs, reduce=reduce, cache=array_cache(tmp_path)), got)


def test_rouge_relevance_bad_input():
    with pytest.raises(ValueError, match="reduce"):
        rouge_relevance(["a"], ["a"], [0], reduce="median")
    with pytest.raises(ValueError, match="gallery_captions"):
        rouge_relevance(["a"], [])


def test_category_relevance():
    got = category_relevance([0, 1, -1], [0, 1, 1, -1])
    expected = [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(got, np.array(expected, bool))


def naive_ndcg(scores, rel, allowed, k):
    """Mean NDCG@k (percent, linear gains) over queries with positive IDCG; plain loops."""
    vals = []
    for q in range(len(scores)):
        items = [j for j in range(len(scores[q])) if allowed[q][j]]
        items.sort(key=lambda j: (-scores[q][j], j))
        dcg = sum(rel[q][j] / np.log2(r + 2) for r, j in enumerate(items[:k]))
        ideal = sorted((rel[q][j] for j in items), reverse=True)
        idcg = sum(v / np.log2(r + 2) for r, v in enumerate(ideal[:k]))
        if idcg > 0:
            vals.append(dcg / idcg)
    return 100 * np.mean(vals)


def naive_map(scores, relevant, allowed, k):
    vals = []
    for q in range(len(scores)):
        items = sorted((j for j in range(len(scores[q])) if allowed[q][j]), key=lambda j: (-scores[q][j], j))
        n_rel = sum(relevant[q][j] for j in items)
        if n_rel:
            hits, ap = 0, 0.0
            for r, j in enumerate(items[:k]):
                if relevant[q][j]:
                    hits += 1
                    ap += hits / (r + 1)
            vals.append(ap / min(k, n_rel))
    return 100 * np.mean(vals)


def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def first_caption(pairs, i):
    return int(np.flatnonzero(pairs.txt_to_img == i)[0])


@pytest.mark.parametrize("exclude_family", [False, True])
def test_image_to_image_matches_loops(tiny, exclude_family):
    pairs, img, _ = tiny
    rel = caption_image_relevance(pairs)
    got = image_to_image(img, pairs, rel, ks=(1, 3), exclude_family=exclude_family, knn_k=1)
    n = pairs.n_images
    scores = [[cos(img[q], img[j]) for j in range(n)] for q in range(n)]
    graded = [[rel[first_caption(pairs, q)][j] for j in range(n)] for q in range(n)]
    allowed = [[j != q and not (exclude_family and pairs.family[j] == pairs.family[q]) for j in range(n)]
               for q in range(n)]
    same = [[pairs.labels[q] == pairs.labels[j] >= 0 for j in range(n)] for q in range(n)]
    for k in (1, 3):
        assert got[f"i2i_ndcg@{k}[rougeL]"] == pytest.approx(naive_ndcg(scores, graded, allowed, k))
        assert got[f"i2i_map@{k}[category]"] == pytest.approx(naive_map(scores, same, allowed, k))
    # 1-NN: the label of the best allowed neighbour, over queries with a known label
    hits = [pairs.labels[max((j for j in range(n) if allowed[q][j] and pairs.labels[j] >= 0),
                             key=lambda j: scores[q][j])] == pairs.labels[q]
            for q in range(n) if pairs.labels[q] >= 0]
    assert got["i2i_knn@1[category]"] == pytest.approx(100 * np.mean(hits))


@pytest.mark.parametrize("exclude_family", [False, True])
def test_text_to_text_matches_loops(tiny, exclude_family):
    pairs, _, txt = tiny
    rel = caption_image_relevance(pairs)
    got = text_to_text(txt, pairs, rel, ks=(2, 5), exclude_family=exclude_family)
    t2i, fam = pairs.txt_to_img, pairs.family
    queries = [first_caption(pairs, i) for i in range(pairs.n_images)]
    m = pairs.n_captions
    scores = [[cos(txt[q], txt[c]) for c in range(m)] for q in queries]
    graded = [[rel[q][t2i[c]] for c in range(m)] for q in queries]
    allowed = [[c != q and not (exclude_family and fam[t2i[c]] == fam[t2i[q]]) for c in range(m)] for q in queries]
    same = [[pairs.labels[t2i[q]] == pairs.labels[t2i[c]] >= 0 for c in range(m)] for q in queries]
    for k in (2, 5):
        assert got[f"t2t_ndcg@{k}[rougeL]"] == pytest.approx(naive_ndcg(scores, graded, allowed, k))
        assert got[f"t2t_map@{k}[category]"] == pytest.approx(naive_map(scores, same, allowed, k))
    # sibling captions are relevant: the second caption of image 0 gets relevance 1 (the query is its sibling)
    assert graded[0][1] == pytest.approx(1.0)


@pytest.mark.parametrize("exclude_family", [False, True])
def test_mixed_matches_loops(tiny, exclude_family):
    pairs, img, txt = tiny
    rel = caption_image_relevance(pairs)
    got = mixed_retrieval(img, txt, pairs, rel, ks=(3, 8), exclude_family=exclude_family)
    n, t2i, fam = pairs.n_images, pairs.txt_to_img, pairs.family
    gallery = [("img", j, j) for j in range(n)] + [("txt", c, t2i[c]) for c in range(pairs.n_captions)]
    vec = {"img": img, "txt": txt}
    queries = [("img", i, i) for i in range(n)] + [("txt", first_caption(pairs, i), i) for i in range(n)]
    scores = [[cos(vec[qk][qi], vec[gk][gi]) for gk, gi, _ in gallery] for qk, qi, _ in queries]
    graded = [[rel[first_caption(pairs, qim)][gim] for _, _, gim in gallery] for _, _, qim in queries]
    allowed = [[(gk, gi) != (qk, qi) and not (exclude_family and fam[gim] == fam[qim]) for gk, gi, gim in gallery]
               for qk, qi, qim in queries]
    same = [[pairs.labels[qim] == pairs.labels[gim] >= 0 for _, _, gim in gallery] for _, _, qim in queries]
    for k in (3, 8):
        assert got[f"mixed_ndcg@{k}[rougeL]"] == pytest.approx(naive_ndcg(scores, graded, allowed, k))
        assert got[f"mixed-img_ndcg@{k}[rougeL]"] == pytest.approx(
            naive_ndcg(scores[:n], graded[:n], allowed[:n], k))
        assert got[f"mixed-txt_ndcg@{k}[rougeL]"] == pytest.approx(
            naive_ndcg(scores[n:], graded[n:], allowed[n:], k))
        assert got[f"mixed_map@{k}[category]"] == pytest.approx(naive_map(scores, same, allowed, k))


def test_bad_shapes(tiny):
    pairs, img, txt = tiny
    rel = caption_image_relevance(pairs)
    with pytest.raises(ValueError, match="relevance must have shape"):
        image_to_image(img, pairs, rel.T)
    with pytest.raises(ValueError, match="img_emb must have 7 rows"):
        image_to_image(img[:3], pairs, rel)
    with pytest.raises(ValueError, match="not a common space"):
        mixed_retrieval(img, txt[:, :3], pairs, rel)


@pytest.mark.parametrize("task", ["i2i", "t2t"])
def test_single_modal_empty_queries_hand_worked(task):
    """Three pairs "red apple", "green apple", "blue car": ROUGE-L F between the apples is 0.5 and "blue car"
    shares no word with either, so its query has no relevant item (IDCG = 0)."""
    pairs = make_pairs(["red apple", "green apple", "blue car"], [0, 1, 2], [0, 0, 1], [0, 1, 2])
    rel = caption_image_relevance(pairs)
    assert rel[0, 1] == pytest.approx(0.5) and rel[2, :2].tolist() == [0.0, 0.0]
    emb = np.array([[1.0, 0.0], [0.5, 0.87], [0.9, -0.44]])
    # query 0 ranks "blue car" (cos 0.90) above "green apple" (0.50): NDCG@2 = (0.5 / log2 3) / 0.5;
    # query 1 ranks "red apple" (0.50) above "blue car" (0.07): NDCG@2 = 1; query 2 is empty
    per = [100 / np.log2(3), 100.0]
    fn = image_to_image if task == "i2i" else text_to_text
    skip = fn(emb, pairs, rel, ks=(2,))
    zero = fn(emb, pairs, rel, ks=(2,), empty_queries="zero")
    assert skip[f"{task}_ndcg@2[rougeL]"] == pytest.approx(np.mean(per))
    assert zero[f"{task}_ndcg@2[rougeL]"] == pytest.approx(sum(per) / 3)
    assert skip[f"{task}_ndcg_skipped[rougeL]"] == zero[f"{task}_ndcg_skipped[rougeL]"] == 1
    each = fn(emb, pairs, rel, ks=(2,), empty_queries="zero", per_query=True)[f"{task}_ndcg@2[rougeL]"]
    assert each.tolist() == pytest.approx(per + [0.0])
