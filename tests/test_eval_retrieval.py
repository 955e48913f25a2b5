"""recall_at_k against a plain per-query stable-argsort oracle."""
import numpy as np
import pytest
import torch

from vlr_viz.eval import recall_at_k
from vlr_viz.eval import retrieval


def oracle_ranks(img, txt, t2i):
    """1-based ranks by a stable argsort of -cosine per query (float64)."""
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    s = img.astype(np.float64) @ txt.astype(np.float64).T
    i2t = []
    for i in range(len(img)):
        order = np.argsort(-s[i], kind="stable")
        i2t.append(1 + min(np.flatnonzero(t2i[order] == i)))
    t2i_r = []
    for c in range(len(txt)):
        order = np.argsort(-s[:, c], kind="stable")
        t2i_r.append(1 + int(np.flatnonzero(order == t2i[c])[0]))
    return np.array(i2t), np.array(t2i_r)


def oracle_metrics(i2t, t2i, ks):
    out = {f"{d}_R@{k}": 100.0 * np.mean(r <= k) for d, r in (("i2t", i2t), ("t2i", t2i)) for k in ks}
    out["rsum"] = sum(out.values())
    for d, r in (("i2t", i2t), ("t2i", t2i)):
        out[f"{d}_medr"] = np.floor(np.median(r))
        out[f"{d}_meanr"] = r.mean()
    return out


def caption_map(rng, n_images, max_caps, shuffle):
    t2i = np.repeat(np.arange(n_images), rng.integers(1, max_caps + 1, n_images))
    return rng.permutation(t2i) if shuffle else t2i


def exact_tie_vectors(rng, n, pool):
    """Rows drawn from a small pool of vectors with four entries of ±0.5: unit norm, exact dot products."""
    base = np.zeros((pool, 8), dtype=np.float32)
    for p in range(pool):
        base[p, rng.choice(8, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return base[rng.integers(0, pool, n)]


def check(img, txt, t2i, ks=(1, 5, 10), **kw):
    got = recall_at_k(img, txt, t2i, ks, **kw)
    i2t, t2i_r = oracle_ranks(img, txt, t2i)
    np.testing.assert_array_equal(got["i2t_ranks"], i2t)
    np.testing.assert_array_equal(got["t2i_ranks"], t2i_r)
    for key, value in oracle_metrics(i2t, t2i_r, ks).items():
        assert got[key] == pytest.approx(value), key


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_random_several_captions(shuffle, chunk_size):
    rng = np.random.default_rng(chunk_size + shuffle)
    t2i = caption_map(rng, 60, 4, shuffle)
    img = rng.normal(size=(60, 16)).astype(np.float32)
    txt = (img[t2i] + rng.normal(size=(len(t2i), 16))).astype(np.float32)
    check(img, txt, t2i, chunk_size=chunk_size)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 5, 300])
@pytest.mark.parametrize("pool", [1, 3, 12])
def test_adversarial_ties(shuffle, chunk_size, pool):
    rng = np.random.default_rng(pool * 10 + chunk_size)
    t2i = caption_map(rng, 200 if chunk_size > 1 else 40, 3, shuffle)
    n = t2i.max() + 1
    img = exact_tie_vectors(rng, n, pool)
    txt = exact_tie_vectors(rng, len(t2i), pool)
    if pool == 3:  # some captions duplicate their own image exactly
        txt[::2] = img[t2i[::2]]
    check(img, txt, t2i, ks=(1, 5), chunk_size=chunk_size)


def test_constant_embeddings_rank_by_index():
    img = np.ones((6, 4), np.float32)
    txt = np.ones((9, 4), np.float32)
    t2i = np.array([0, 0, 1, 2, 3, 3, 4, 5, 5])
    got = recall_at_k(img, txt, t2i, ks=(1,))
    # all scores tie: a caption's rank is its image index + 1; an image's is its first caption's index + 1
    np.testing.assert_array_equal(got["t2i_ranks"], t2i + 1)
    np.testing.assert_array_equal(got["i2t_ranks"], [1, 3, 4, 5, 7, 8])


def test_read_ahead_mismatch_falls_back(monkeypatch):
    rng = np.random.default_rng(3)
    t2i = caption_map(rng, 90, 3, False)
    img = exact_tie_vectors(rng, 90, 4)
    txt = exact_tie_vectors(rng, len(t2i), 4)
    real = retrieval._read_ahead
    monkeypatch.setattr(retrieval, "_read_ahead", lambda *a: real(*a) + np.float32(0.25))
    check(img, txt, t2i, ks=(1, 5), chunk_size=16)


def test_torch_inputs_match_numpy():
    rng = np.random.default_rng(0)
    t2i = caption_map(rng, 30, 2, True)
    img, txt = rng.normal(size=(30, 8)), rng.normal(size=(len(t2i), 8))
    a = recall_at_k(img, txt, t2i)
    b = recall_at_k(torch.tensor(img), torch.tensor(txt), torch.tensor(t2i))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_fold5_is_mean_of_folds():
    rng = np.random.default_rng(5)
    t2i = caption_map(rng, 50, 3, True)
    img = rng.normal(size=(50, 6)).astype(np.float32)
    txt = (img[t2i] + 1.5 * rng.normal(size=(len(t2i), 6))).astype(np.float32)
    got = recall_at_k(img, txt, t2i, ks=(1, 5), protocol="fold5", fold_size=10)
    per_fold, t2i_ranks = [], np.zeros(len(t2i), np.int64)
    for f in range(5):
        caps = np.flatnonzero(t2i // 10 == f)
        i2t, t2i_r = oracle_ranks(img[f * 10 : (f + 1) * 10], txt[caps], t2i[caps] - f * 10)
        per_fold.append(oracle_metrics(i2t, t2i_r, (1, 5)))
        t2i_ranks[caps] = t2i_r
        np.testing.assert_array_equal(got["i2t_ranks"][f * 10 : (f + 1) * 10], i2t)
    np.testing.assert_array_equal(got["t2i_ranks"], t2i_ranks)
    for key in per_fold[0]:
        assert got[key] == pytest.approx(np.mean([m[key] for m in per_fold])), key


def test_first_k_images_keeps_first_images_and_their_captions():
    rng = np.random.default_rng(6)
    t2i = caption_map(rng, 40, 3, True)
    img = rng.normal(size=(40, 6)).astype(np.float32)
    txt = (img[t2i] + rng.normal(size=(len(t2i), 6))).astype(np.float32)
    got = recall_at_k(img, txt, t2i, ks=(1, 5), protocol="first_k_images", fold_size=15)
    caps = np.flatnonzero(t2i < 15)
    i2t, t2i_r = oracle_ranks(img[:15], txt[caps], t2i[caps])
    np.testing.assert_array_equal(got["i2t_ranks"], i2t)
    np.testing.assert_array_equal(got["t2i_ranks"], t2i_r)
    assert got["rsum"] == pytest.approx(oracle_metrics(i2t, t2i_r, (1, 5))["rsum"])


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(txt_emb=np.ones((4, 5))), "dim"),
        (dict(txt_to_img=[0, 1, 2]), "txt_to_img"),
        (dict(txt_to_img=[0, 1, 2, 3]), r"txt_to_img\[3\]"),
        (dict(txt_to_img=[0, 1, -1, 2]), r"txt_to_img\[2\]"),
        (dict(txt_to_img=[0, 0, 1, 1]), "image 2 has no caption"),
        (dict(img_emb=np.full((3, 4), np.nan)), "img_emb row 0"),
        (dict(txt_emb=np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, np.inf, 0], [1, 1, 1, 1.0]])), "txt_emb row 2"),
        (dict(img_emb=np.zeros((3, 4))), "zero norm"),
        (dict(img_emb=np.ones((0, 4))), "img_emb is empty"),
        (dict(img_emb=np.ones(4)), "img_emb must be a 2-D"),
        (dict(ks=(1, 4)), "ks contains 4"),
        (dict(ks=(0,)), "ks must be positive"),
        (dict(protocol="coco1k"), "protocol"),
        (dict(protocol="fold5", fold_size=1), "fold5 needs exactly 5"),
        (dict(protocol="first_k_images", fold_size=4), "first_k_images"),
    ],
)
def test_bad_input_names_the_argument(change, match):
    args = dict(img_emb=np.eye(3, 4), txt_emb=np.eye(4), txt_to_img=[0, 1, 2, 2], ks=(1,))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        recall_at_k(**args)
