"""Image, caption, feature and pair-set degradations: identity at 0, determinism, per-item consistency, effect."""
import numpy as np
import pytest
from scipy import ndimage
from scipy.stats import norm

from vlr_viz.data.pairs import PairSet
from vlr_viz.imbalance import (IMAGE_KINDS, TEXT_KINDS, PRESETS, degrade_captions, degrade_images, degrade_pairs,
                               feature_noise)
from vlr_viz.imbalance.degrade_text import mismatch_captions, truncate_captions, word_dropout

RNG = np.random.default_rng(123)
IMAGES = RNG.integers(0, 256, size=(8, 24, 24, 3), dtype=np.uint8)
IDS = [f"img{i}" for i in range(8)]
WORDS = "red green blue cyan magenta yellow black white grey pink".split()
CAPTIONS = [" ".join(RNG.choice(WORDS, size=1 + i % 6)) for i in range(40)]


def tiny_pairs(n=6, caps_per_image=2):
    rng = np.random.default_rng(0)
    m = n * caps_per_image
    return PairSet(
        images=rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8),
        captions=[f"a {WORDS[j % 10]} thing number {j}" for j in range(m)],
        txt_to_img=np.repeat(np.arange(n), caps_per_image),
        labels=np.arange(n) % 3,
        label_names=["animal", "food", "flag"],
        family=np.arange(n),
        image_ids=[f"i{k}" for k in range(n)],
        caption_ids=[f"c{j}" for j in range(m)],
        name="tiny",
    )


def laplacian_energy(images):
    return float(np.mean(np.abs(ndimage.laplace(images.astype(float), mode="nearest")[:, 1:-1, 1:-1])))


# ---------------------------------------------------------------- images
@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_image_identity_at_zero_and_shape(kind):
    out = degrade_images(IMAGES, kind, 0.0, seed=3)
    assert out is not IMAGES and np.array_equal(out, IMAGES)
    half = degrade_images(IMAGES, kind, 0.5, seed=3)
    assert half.shape == IMAGES.shape and half.dtype == np.uint8
    assert not np.array_equal(half, IMAGES)


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_image_determinism_and_subset_consistency(kind):
    a = degrade_images(IMAGES, kind, 0.6, seed=5, item_keys=IDS)
    assert np.array_equal(a, degrade_images(IMAGES, kind, 0.6, seed=5, item_keys=IDS))
    idx = [6, 1, 3]
    sub = degrade_images(IMAGES[idx], kind, 0.6, seed=5, item_keys=[IDS[i] for i in idx])
    assert np.array_equal(sub, a[idx])
    if kind in ("noise", "occlusion"):
        assert not np.array_equal(a, degrade_images(IMAGES, kind, 0.6, seed=6, item_keys=IDS))


def test_blur_follows_gaussian_edge_profile_and_smooths_monotonically():
    img = np.zeros((1, 40, 40, 3), dtype=np.uint8)
    img[:, :, 20:] = 255  # edge between columns 19 and 20, i.e. at x = 19.5
    s = 0.8
    sigma = s * 0.125 * 40
    out = degrade_images(img, "blur", s)[0, 20, :, 0].astype(float)
    x = np.arange(40)
    expected = 255 * norm.cdf((x - 19.5) / sigma)
    inner = slice(8, 32)  # away from the borders
    assert np.max(np.abs(out[inner] - expected[inner])) < 2.5
    energies = [laplacian_energy(degrade_images(IMAGES, "blur", s)) for s in (0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(energies, energies[1:]))


def test_noise_std_matches_severity_and_grows():
    grey = np.full((20, 32, 32, 3), 128, dtype=np.uint8)
    for s in (0.05, 0.15):
        diff = degrade_images(grey, "noise", s, seed=1).astype(float) - 128
        assert abs(diff.std() - s * 128) < 0.03 * s * 128
        assert abs(diff.mean()) < 0.5
    dev = [np.abs(degrade_images(IMAGES, "noise", s, seed=1).astype(int) - IMAGES).mean() for s in (0, .3, .6, 1)]
    assert all(a < b for a, b in zip(dev, dev[1:]))
    saturated = degrade_images(np.full((2, 8, 8, 3), 250, np.uint8), "noise", 1.0, seed=0)
    assert saturated.max() == 255 and saturated.min() == 0  # clipped, not wrapped


def test_downscale_at_one_keeps_only_block_means():
    rng = np.random.default_rng(7)
    base = np.repeat(np.repeat(rng.integers(40, 200, size=(2, 4, 4, 3)), 8, axis=1), 8, axis=2)
    pattern = rng.integers(-30, 31, size=(2, 8, 8, 3))
    pattern -= pattern.mean(axis=(1, 2), keepdims=True).round().astype(int)  # zero-mean within each 8x8 block
    pattern = np.tile(pattern, (1, 4, 4, 1))
    a, b = base.astype(np.uint8), (base + pattern).astype(np.uint8)
    assert np.abs(a.reshape(2, 4, 8, 4, 8, 3).mean((2, 4)) - b.reshape(2, 4, 8, 4, 8, 3).mean((2, 4))).max() < 1
    da, db = degrade_images(a, "downscale", 1.0), degrade_images(b, "downscale", 1.0)
    assert np.abs(da.astype(int) - db.astype(int)).max() <= 1
    assert not np.array_equal(a, b)
    energies = [laplacian_energy(degrade_images(IMAGES, "downscale", s)) for s in (0, 0.3, 0.6, 1.0)]
    assert all(x > y for x, y in zip(energies, energies[1:]))


def test_occlusion_covers_fraction_of_area():
    white = np.full((30, 40, 40, 3), 255, dtype=np.uint8)
    for s in (0.1, 0.3, 0.6, 1.0):
        out = degrade_images(white, "occlusion", s, seed=2, fill=128)
        frac = (out[..., 0] == 128).mean(axis=(1, 2))
        assert np.all(np.abs(frac - s) < 0.03)
        assert set(np.unique(out)) <= {128, 255}
    tops = {tuple(np.argwhere(img[..., 0] == 128)[0]) for img in degrade_images(white, "occlusion", 0.1, seed=2)}
    assert len(tops) > 5  # random positions


def test_image_bad_inputs():
    with pytest.raises(ValueError, match="known kinds: blur, noise, downscale, occlusion"):
        degrade_images(IMAGES, "sharpen", 0.5)
    with pytest.raises(ValueError, match="severity"):
        degrade_images(IMAGES, "blur", 1.5)
    with pytest.raises(ValueError, match="severity"):
        degrade_images(IMAGES, "noise", -0.1)
    with pytest.raises(ValueError, match="images"):
        degrade_images(IMAGES.astype(np.float32), "blur", 0.5)
    with pytest.raises(ValueError, match="item_keys"):
        degrade_images(IMAGES, "noise", 0.5, item_keys=["a"])
    with pytest.raises(ValueError, match="seed"):
        degrade_images(IMAGES, "noise", 0.5, seed=-1)


# ---------------------------------------------------------------- captions
def caption_kwargs(captions):
    m = len(captions)
    return dict(labels=np.arange(m) % 3, label_names=["animal", "food", "flag"], txt_to_img=np.arange(m))


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_caption_identity_determinism_subset(kind):
    keys = [f"c{j}" for j in range(len(CAPTIONS))]
    kw = caption_kwargs(CAPTIONS)
    out, info = degrade_captions(CAPTIONS, kind, 0.0, seed=1, item_keys=keys, **kw)
    assert out == CAPTIONS
    a, _ = degrade_captions(CAPTIONS, kind, 0.7, seed=1, item_keys=keys, **kw)
    assert a != CAPTIONS and a == degrade_captions(CAPTIONS, kind, 0.7, seed=1, item_keys=keys, **kw)[0]
    assert all(c.strip() for c in a)
    if kind not in ("truncation", "mismatch"):  # per-item kinds: a subset degrades like the full set
        idx = [3, 17, 0, 25]
        sub_kw = {"labels": kw["labels"][idx], "label_names": kw["label_names"],
                  "vocabulary": sorted(set(" ".join(CAPTIONS).split()))}
        sub, _ = degrade_captions([CAPTIONS[i] for i in idx], kind, 0.7, seed=1, item_keys=[keys[i] for i in idx],
                                  **sub_kw)
        assert sub == [a[i] for i in idx]
        assert a != degrade_captions(CAPTIONS, kind, 0.7, seed=2, item_keys=keys, **kw)[0]


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_captions_never_empty_at_full_severity(kind):
    caps = ["one", "two words", "three little words"] * 5
    out, _ = degrade_captions(caps, kind, 1.0, seed=0, **caption_kwargs(caps))
    assert len(out) == len(caps) and all(c.strip() for c in out)


def test_word_dropout_nested_rate_and_subsequence():
    caps = [" ".join(f"w{j}" for j in range(10))] * 300
    counts = []
    for s in (0.0, 0.2, 0.5, 0.8, 1.0):
        out = word_dropout(caps, s, seed=4)
        counts.append(np.array([len(c.split()) for c in out]))
        for c in out[:20]:  # order kept: the output is a subsequence of w0..w9
            idx = [int(w[1:]) for w in c.split()]
            assert idx == sorted(idx)
    for a, b in zip(counts, counts[1:]):
        assert np.all(b <= a)  # coupled uniforms: a caption never regains words
    assert abs(1 - counts[1].mean() / 10 - 0.2) < 0.02 and abs(1 - counts[2].mean() / 10 - 0.5) < 0.02
    assert np.all(counts[-1] == 1)


def test_truncation_hand_examples():
    ten = " ".join("abcdefghij")
    assert truncate_captions([ten], 0.7) == ["a b c"]  # ceil(0.3 * 10) = 3, not 4 from float error
    assert truncate_captions([ten], 0.05) == [ten]  # ceil(9.5) = 10
    assert truncate_captions([ten], 0.5) == ["a b c d e"]
    assert truncate_captions(["x y z"], 0.5) == ["x y"]  # ceil(1.5) = 2
    assert truncate_captions(["x y z", "solo"], 1.0) == ["x", "solo"]
    lens = [len(truncate_captions([ten], s)[0].split()) for s in np.linspace(0, 1, 11)]
    assert lens == sorted(lens, reverse=True)


def test_word_replace_changes_a_fraction_with_vocabulary_words():
    caps = [" ".join(RNG.choice(WORDS, size=8)) for _ in range(200)]
    out, _ = degrade_captions(caps, "word_replace", 0.3, seed=0)
    old, new = np.array([c.split() for c in caps]), np.array([c.split() for c in out])
    assert old.shape == new.shape
    assert abs((old != new).mean() - 0.3) < 0.03
    assert set(new.ravel()) <= set(WORDS)
    lo, _ = degrade_captions(caps, "word_replace", 0.1, seed=0)
    changed_lo = np.array([c.split() for c in lo]) != old
    assert np.all((new != old)[changed_lo])  # nested: what changes at 0.1 also changes at 0.3
    with pytest.raises(ValueError, match="vocabulary"):
        degrade_captions(caps, "word_replace", 0.3, vocabulary=[])


def test_coarsen_fraction_and_unknown_labels():
    m = 600
    caps = [f"caption number {j}" for j in range(m)]
    labels = np.arange(m) % 3
    labels[:30] = -1
    out, _ = degrade_captions(caps, "coarsen", 0.4, seed=0, labels=labels, label_names=["animal", "food", "flag"])
    coarse = np.array([o != c for o, c in zip(out, caps)])
    assert not coarse[:30].any()
    assert abs(coarse[30:].mean() - 0.4) < 0.05
    assert all(out[j] == ["animal", "food", "flag"][labels[j]] for j in np.flatnonzero(coarse))
    with pytest.raises(ValueError, match="labels"):
        degrade_captions(caps, "coarsen", 0.4)
    with pytest.raises(ValueError, match="labels"):
        degrade_captions(caps, "coarsen", 0.4, labels=np.full(m, 5), label_names=["a", "b"])


def test_mismatch_fraction_and_permutation():
    m = 1000
    caps = [f"caption {j}" for j in range(m)]
    for s in (0.1, 0.5, 0.9):
        out, perm = mismatch_captions(caps, s, seed=3)
        assert sorted(perm.tolist()) == list(range(m))
        assert out == [caps[j] for j in perm]
        assert abs(np.mean(perm != np.arange(m)) - s) < 0.05
    # two captions per image: every moved caption lands on another image
    img = np.repeat(np.arange(m // 2), 2)
    out, info = degrade_captions(caps, "mismatch", 0.5, seed=3, txt_to_img=img)
    perm = info["permutation"]
    moved = perm != np.arange(m)
    assert np.all(img[perm][moved] != img[moved])
    assert info["mismatched_fraction"] == pytest.approx(moved.mean())
    assert abs(moved.mean() - 0.5) < 0.06


def test_caption_bad_inputs():
    with pytest.raises(ValueError, match="known kinds: word_dropout"):
        degrade_captions(CAPTIONS, "shuffle", 0.5)
    with pytest.raises(ValueError, match="severity"):
        degrade_captions(CAPTIONS, "truncation", 2)
    with pytest.raises(ValueError, match=r"captions\[1\] is empty"):
        degrade_captions(["ok", "  "], "word_dropout", 0.5)
    with pytest.raises(TypeError, match="captions"):
        degrade_captions("just one string", "word_dropout", 0.5)


# ---------------------------------------------------------------- features
def test_feature_noise_scale_identity_and_consistency():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 5)) * np.array([0.1, 1, 2, 5, 10]) + 3
    assert np.array_equal(feature_noise(x, 0.0), x.astype(np.float32))
    y = feature_noise(x, 0.5, seed=1)
    assert y.dtype == np.float32 and y.shape == x.shape
    ratio = (y - x).std(axis=0) / (0.5 * x.std(axis=0))
    assert np.allclose(ratio, 1, atol=0.05)
    assert np.array_equal(y, feature_noise(x, 0.5, seed=1)) and not np.array_equal(y, feature_noise(x, 0.5, seed=2))
    unit = feature_noise(x, 0.3, seed=1, renormalize=True)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-5)
    keys, ref = np.arange(4000), x.std(axis=0)
    full = feature_noise(x, 0.4, seed=1, item_keys=keys, reference_std=ref)
    idx = [10, 3, 3999]
    assert np.array_equal(feature_noise(x[idx], 0.4, seed=1, item_keys=keys[idx], reference_std=ref), full[idx])
    with pytest.raises(ValueError, match="severity"):
        feature_noise(x, 1.2)
    with pytest.raises(ValueError, match="features"):
        feature_noise(x[0], 0.2)
    with pytest.raises(ValueError, match="reference_std"):
        feature_noise(x, 0.2, reference_std=np.ones(3))


# ---------------------------------------------------------------- pair sets
def test_degrade_pairs_name_meta_and_clean_side():
    p = tiny_pairs()
    q = degrade_pairs(p, image=("noise", 0.5), text=("word_dropout", 0.5), seed=2)
    assert q.name == "tiny|img:noise@0.50|txt:word_dropout@0.50"
    d = q.meta["degradation"]
    assert d["image"] == {"kind": "noise", "severity": 0.5, "options": {}} and d["text"]["kind"] == "word_dropout"
    assert d["seed"] == 2 and d["source"] == "tiny"
    assert not np.array_equal(q.images, p.images) and q.captions != p.captions
    assert np.array_equal(q.txt_to_img, p.txt_to_img) and q.image_ids == p.image_ids
    clean_txt = degrade_pairs(p, image=("blur", 0.5))
    assert clean_txt.captions == p.captions and clean_txt.name == "tiny|img:blur@0.50|txt:none"
    zero = degrade_pairs(p, image=("occlusion", 0.0), text=("coarsen", 0.0))
    assert np.array_equal(zero.images, p.images) and zero.captions == p.captions
    assert "degradation" not in p.meta  # the source is untouched


def test_degrade_pairs_subset_consistency_and_presets():
    p = tiny_pairs()
    full = degrade_pairs(p, image=("occlusion", 0.4), text=("coarsen", 0.6), seed=1)
    idx = [4, 0, 2]
    sub = degrade_pairs(p.subset(idx), image=("occlusion", 0.4), text=("coarsen", 0.6), seed=1)
    ref = full.subset(idx)
    assert np.array_equal(sub.images, ref.images) and sub.captions == ref.captions
    kind, s = PRESETS["image"]["moderate"]
    named = degrade_pairs(p, image="moderate")
    assert np.array_equal(named.images, degrade_pairs(p, image=(kind, s)).images)


def test_degrade_pairs_mismatch_records_permutation():
    p = tiny_pairs(n=20, caps_per_image=1)
    q = degrade_pairs(p, image=None, text=("mismatch", 0.5), seed=0)
    perm = q.meta["degradation"]["text"]["permutation"]
    assert q.captions == [p.captions[j] for j in perm]
    assert q.meta["degradation"]["text"]["mismatched_fraction"] == pytest.approx(np.mean(perm != np.arange(20)))
    assert np.array_equal(q.txt_to_img, p.txt_to_img)


def test_degrade_pairs_bad_inputs():
    p = tiny_pairs()
    with pytest.raises(ValueError, match="image severity"):
        degrade_pairs(p, image=("blur", 1.5))
    with pytest.raises(ValueError, match="text severity"):
        degrade_pairs(p, image=None, text=("truncation", -0.2))
    with pytest.raises(ValueError, match="known kinds: blur"):
        degrade_pairs(p, image=("word_dropout", 0.5))
    with pytest.raises(ValueError, match="known kinds: word_dropout"):
        degrade_pairs(p, image=None, text=("blur", 0.5))
    with pytest.raises(ValueError, match="known presets"):
        degrade_pairs(p, image="extreme")
    with pytest.raises(TypeError, match="PairSet"):
        degrade_pairs(p.images)
