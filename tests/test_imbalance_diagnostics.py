"""Imbalance diagnostics against hand-worked examples and plain-loop re-computations; preset calibration."""
import numpy as np
import pytest
from scipy.stats import ortho_group, rankdata

from vlr_viz.data.pairs import PairSet
from vlr_viz.eval import recall_at_k
from vlr_viz.imbalance import (alignment, alignment_uniformity, calibrate_presets, diagnose, gap_shift_curve,
                               imbalance_index, imbalance_summary, knn_overlap, linear_cka, modality_gap,
                               modality_gap_vector, modality_strength, pair_strengths, relation_matrix,
                               structure_distortion, uniformity)
from vlr_viz.imbalance.diagnostics import chance_ndcg, nearest_neighbours
from vlr_viz.imbalance.presets import pick_levels

RNG = np.random.default_rng(0)


def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def loop_knn(x, k):
    """Plain oracle: for each item, sort the others by cosine, nearest first."""
    out = []
    for i in range(len(x)):
        sims = [(-cos(x[i], x[j]), j) for j in range(len(x)) if j != i]
        out.append({j for _, j in sorted(sims)[:k]})
    return out


# ---------------------------------------------------------------- gap, relations, distortion
def test_modality_gap_hand_example():
    img = np.array([[2.0, 0.0], [0.0, 3.0]])  # normalised: (1,0), (0,1); centroid (.5,.5)
    txt = np.array([[-5.0, 0.0]])  # centroid (-1, 0)
    assert modality_gap(img, txt) == pytest.approx(np.sqrt(1.5**2 + 0.5**2))
    assert modality_gap(img, img * 7) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="dimension"):
        modality_gap(img, np.ones((2, 3)))


def test_relation_matrix_matches_loop_and_centring():
    x = RNG.normal(size=(5, 3))
    r = relation_matrix(x, tau=0.5)
    for i in range(5):
        for j in range(5):
            assert r[i, j] == pytest.approx(cos(x[i], x[j]) / 0.5)
    xc = x - x.mean(axis=0)
    assert relation_matrix(x, center=True)[1, 3] == pytest.approx(cos(xc[1], xc[3]))
    assert relation_matrix(x + 100, center=True) == pytest.approx(relation_matrix(x, center=True))
    with pytest.raises(ValueError, match="tau"):
        relation_matrix(x, tau=0)


def test_structure_distortion_against_loop_over_all_off_diagonal_pairs():
    s, t = RNG.normal(size=(9, 4)), RNG.normal(size=(9, 6))
    diffs, s_vals, t_vals = [], [], []
    for i in range(9):
        for j in range(9):
            if i != j:
                diffs.append(abs(cos(s[i], s[j]) - cos(t[i], t[j])) / 2.0)
                s_vals.append(cos(s[i], s[j]))
                t_vals.append(cos(t[i], t[j]))
    got = structure_distortion(s, t, tau=2.0)
    assert got["mae"] == pytest.approx(np.mean(diffs))
    # ranks over both triangles (rounded so that cos(i, j) and cos(j, i) tie exactly)
    rho = np.corrcoef(rankdata(np.round(s_vals, 12)), rankdata(np.round(t_vals, 12)))[0, 1]
    assert got["spearman"] == pytest.approx(rho)
    same = structure_distortion(t, t @ ortho_group.rvs(6, random_state=1) * 3)
    assert same["mae"] == pytest.approx(0.0, abs=1e-12) and same["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same items"):
        structure_distortion(s, t[:5])


def test_structure_distortion_centring_removes_offset():
    t = RNG.normal(size=(30, 8))
    shifted = t + 5.0  # a common offset makes every raw cosine high
    assert structure_distortion(t, shifted)["mae"] > 0.3
    assert structure_distortion(t, shifted, center=True)["mae"] == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- kNN overlap
def test_knn_overlap_hand_example_on_a_line():
    # points on the unit circle at these angles: cosine neighbours follow the angular gaps
    ang_a = np.array([0.0, 0.1, 0.25, 1.0, 1.1])
    ang_b = np.array([0.0, 0.1, 1.0, 1.1, 1.25])
    a, b = np.c_[np.cos(ang_a), np.sin(ang_a)], np.c_[np.cos(ang_b), np.sin(ang_b)]
    assert nearest_neighbours(a, 1)[:, 0].tolist() == [1, 0, 1, 4, 3]
    assert nearest_neighbours(b, 1)[:, 0].tolist() == [1, 0, 3, 2, 3]
    assert knn_overlap(a, b, k=1) == pytest.approx(3 / 5)  # items 0, 1, 4 agree
    assert nearest_neighbours(a, 2)[2].tolist() == [1, 0]


def test_knn_overlap_matches_loop_oracle_and_bounds():
    a = RNG.normal(size=(40, 6))
    b = a + 0.8 * RNG.normal(size=(40, 6))
    na, nb = loop_knn(a, 5), loop_knn(b, 5)
    expected = np.mean([len(na[i] & nb[i]) / 5 for i in range(40)])
    assert knn_overlap(a, b, k=5) == pytest.approx(expected)
    assert knn_overlap(a, 4 * a @ ortho_group.rvs(6, random_state=0), k=5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k must"):
        knn_overlap(a, b, k=40)


# ---------------------------------------------------------------- CKA
def test_linear_cka_hand_examples():
    # 1-D: CKA = squared Pearson correlation: x = (0,1,2), y = (0,1,4) -> 16 / (2 * 26/3) = 12/13
    assert linear_cka(np.array([[0.0], [1], [2]]), np.array([[0.0], [1], [4]])) == pytest.approx(12 / 13)
    x = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    y = np.array([[1.0, 0], [0, 0], [-1, 0], [0, 0]])
    # XᵀX = 2I (norm 2√2), YᵀY = diag(2, 0) (norm 2), YᵀX = diag(2, 0) (norm² 4) -> 4 / (4√2)
    assert linear_cka(x, y) == pytest.approx(1 / np.sqrt(2))


def test_linear_cka_invariances_and_hsic_oracle():
    x = RNG.normal(size=(12, 5))
    y = x @ RNG.normal(size=(5, 30)) + 0.5 * RNG.normal(size=(12, 30))  # N < D: the Gram path
    assert linear_cka(x, x) == pytest.approx(1.0)
    q = ortho_group.rvs(5, random_state=3)
    base = linear_cka(x, y)
    assert linear_cka(x @ q * 7.5 + 3.0, y) == pytest.approx(base)
    assert linear_cka(y, x) == pytest.approx(base)
    h = np.eye(12) - 1 / 12
    k_mat, l_mat = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    hsic = lambda a, b: np.trace(a @ b)  # noqa: E731
    assert base == pytest.approx(hsic(k_mat, l_mat) / np.sqrt(hsic(k_mat, k_mat) * hsic(l_mat, l_mat)))
    big = RNG.normal(size=(50, 3))  # N > D: the feature path
    other = big @ RNG.normal(size=(3, 4)) + RNG.normal(size=(50, 4))
    assert linear_cka(big, other) == pytest.approx(linear_cka(big.repeat(20, axis=1), other))
    with pytest.raises(ValueError, match="constant"):
        linear_cka(np.ones((4, 2)), x[:4])


# ---------------------------------------------------------------- imbalance index
def test_imbalance_index_and_summary():
    assert imbalance_index(60.0, 20.0) == pytest.approx(0.5)
    assert imbalance_index(20.0, 60.0) == pytest.approx(-0.5)
    assert imbalance_index(0.0, 0.0) == 0.0
    assert imbalance_summary(60.0, 20.0) == {"weaker": "text", "index": pytest.approx(0.5),
                                             "ratio": pytest.approx(1 / 3)}
    assert imbalance_summary(30.0, 45.0)["weaker"] == "image"
    assert imbalance_summary(50.0, 52.0, tol=0.05)["weaker"] == "balanced"
    assert imbalance_summary(50.0, 52.0, tol=0.01)["weaker"] == "image"
    with pytest.raises(ValueError, match="non-negative"):
        imbalance_index(-1.0, 2.0)
    with pytest.raises(ValueError, match="tol"):
        imbalance_summary(1.0, 2.0, tol=1.5)


# ---------------------------------------------------------------- strength, chance floor
def loop_strength(x, labels, k, knn_k, queries=None, family=None):
    """Plain oracle: per query, a stable sort of the admissible gallery, DCG / IDCG and a majority vote."""
    queries = range(len(x)) if queries is None else queries
    disc = 1 / np.log2(np.arange(2, len(x) + 2))
    ndcgs, hits = [], []
    for i in queries:
        if labels[i] < 0:
            continue
        gallery = [j for j in range(len(x)) if j != i and (family is None or family[j] != family[i])]
        ranked = sorted(gallery, key=lambda j: (-np.float32(cos(x[i], x[j])), j))
        rel = [float(labels[j] == labels[i]) for j in ranked]
        ideal = sorted(rel, reverse=True)
        if ideal[0] > 0:
            ndcgs.append(np.dot(rel[:k], disc[: len(rel[:k])]) / np.dot(ideal[:k], disc[: len(ideal[:k])]))
        voters = [labels[j] for j in ranked if labels[j] >= 0][:knn_k]
        counts = np.bincount(voters, minlength=labels.max() + 1)
        hits.append(int(np.argmax(counts)) == labels[i])  # ties: the smallest label
    return 100 * np.mean(ndcgs), 100 * np.mean(hits)


def clustered(n_per=8, n_cls=3, dim=6, spread=0.9, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_cls, dim)) * 2
    labels = np.repeat(np.arange(n_cls), n_per)
    return centres[labels] + spread * rng.normal(size=(labels.size, dim)), labels


def test_modality_strength_matches_loop_oracle():
    x, labels = clustered()
    labels[[2, 9]] = -1
    fam = np.arange(labels.size) // 2
    for family in (None, fam):
        got = modality_strength(x, labels, ks=(5,), knn_k=3, family=family)
        ndcg, acc = loop_strength(x, labels, 5, 3, family=family)
        assert got["ndcg@5"] == pytest.approx(ndcg) and got["knn_accuracy"] == pytest.approx(acc)
    got = modality_strength(x, labels, ks=(5,), knn_k=3, queries=[0, 1, 2, 20])
    assert got["ndcg@5"] == pytest.approx(loop_strength(x, labels, 5, 3, queries=[0, 1, 2, 20])[0])
    with pytest.raises(ValueError, match="labels"):
        modality_strength(x, labels[:-1])
    with pytest.raises(ValueError, match="known label"):
        modality_strength(x, np.full(labels.size, -1))


def test_chance_ndcg_matches_monte_carlo_of_random_rankings():
    from vlr_viz.eval import ndcg_at_k

    rng = np.random.default_rng(1)
    rel = (rng.random((6, 40)) < 0.3).astype(float) * rng.integers(1, 3, size=(6, 40))
    mask = rng.random((6, 40)) > 0.2
    expected = chance_ndcg(rel, ks=(5, 10), mask=mask)
    sims = [ndcg_at_k(rng.random((6, 40)), rel, ks=(5, 10), mask=mask) for _ in range(4000)]
    for k in (5, 10):
        assert expected[f"ndcg@{k}"] == pytest.approx(np.mean([d[f"ndcg@{k}"] for d in sims]), abs=0.5)
    # a gallery that is all relevant: any ranking is ideal
    assert chance_ndcg(np.ones((2, 7)), ks=(3,))["ndcg@3"] == pytest.approx(100.0)


def tiny_pairs(n_per=6, n_cls=3, seed=0):
    """One caption per image; image features and caption features cluster by category."""
    x, labels = clustered(n_per, n_cls, seed=seed)
    n = labels.size
    words = ["red", "green", "blue"]
    pairs = PairSet(images=np.zeros((n, 4, 4, 3), np.uint8),
                    captions=[f"{words[c]} item {i}" for i, c in enumerate(labels)],
                    txt_to_img=np.arange(n), labels=labels, label_names=["r", "g", "b"],
                    family=np.arange(n), image_ids=[f"i{i}" for i in range(n)],
                    caption_ids=[f"c{i}" for i in range(n)], name="tiny")
    return pairs, x


def test_pair_strengths_uses_first_caption_queries():
    x, labels = clustered(n_per=5)
    n = labels.size
    # two captions per image: caption features are the image's plus noise
    txt = np.repeat(x, 2, axis=0) + 0.3 * RNG.normal(size=(2 * n, x.shape[1]))
    pairs = PairSet(images=np.zeros((n, 4, 4, 3), np.uint8), captions=[f"c {j}" for j in range(2 * n)],
                    txt_to_img=np.repeat(np.arange(n), 2), labels=labels, label_names=["a", "b", "c"],
                    family=np.arange(n) // 3, image_ids=[str(i) for i in range(n)],
                    caption_ids=[str(j) for j in range(2 * n)])
    got = pair_strengths(pairs, x, txt, ks=(4,), knn_k=3, exclude_family=True)
    assert got["image"]["ndcg@4"] == pytest.approx(loop_strength(x, labels, 4, 3, family=pairs.family)[0])
    txt_oracle = loop_strength(txt, pairs.caption_labels, 4, 3, queries=range(0, 2 * n, 2),
                               family=pairs.family[pairs.txt_to_img])
    assert got["text"]["ndcg@4"] == pytest.approx(txt_oracle[0])
    assert got["text"]["knn_accuracy"] == pytest.approx(txt_oracle[1])
    assert set(pair_strengths(pairs, image_features=x)) == {"image"}
    with pytest.raises(ValueError, match="text_features"):
        pair_strengths(pairs, text_features=x)


# ---------------------------------------------------------------- diagnose
def test_diagnose_gathers_the_diagnostics():
    pairs, x = tiny_pairs()
    t_img = x @ RNG.normal(size=(6, 10))
    t_txt = x + 1.5 * RNG.normal(size=x.shape)  # a noisier text teacher
    q = ortho_group.rvs(6, random_state=2)
    v, t = x @ q, t_txt @ q  # the student keeps each teacher's geometry up to a rotation
    out = diagnose(v, t, pairs, t_img, t_txt, ks=(5,), knn_k=3)
    assert out["modality_gap"] == pytest.approx(modality_gap(v, t))
    assert out["structure_distortion"]["text"]["mae"] == pytest.approx(0.0, abs=1e-9)
    assert out["structure_distortion"]["image"] == structure_distortion(v, t_img)
    assert out["knn_overlap"]["text"] == pytest.approx(1.0)
    assert out["cka"]["image"] == pytest.approx(linear_cka(t_img, v))
    s = out["strength"]
    assert s["teacher_text"]["ndcg@5"] == pytest.approx(modality_strength(t_txt, pairs.labels, ks=(5,))["ndcg@5"])
    expected = imbalance_summary(s["teacher_image"]["ndcg@5"], s["teacher_text"]["ndcg@5"])
    assert out["imbalance"]["teacher"] == expected and expected["weaker"] == "text"
    lift = [s["student_" + m]["ndcg@5"] - s["student_" + m]["chance_ndcg@5"] for m in ("image", "text")]
    assert out["imbalance_above_chance"]["student"]["index"] == pytest.approx((lift[0] - lift[1]) / sum(lift))


# ---------------------------------------------------------------- presets
def test_pick_levels_hand_example():
    sev = [0.8, 0.0, 0.2, 0.4, 0.6]
    drop = [0.55, 0.0, 0.08, 0.2, 0.31]
    assert pick_levels(sev, drop) == {"mild": 0.2, "moderate": 0.4, "severe": 0.8}
    assert pick_levels([0.1, 0.2], [0.15, 0.15], target_drops=(0.1,), names=("only",)) == {"only": 0.1}
    with pytest.raises(ValueError, match="names"):
        pick_levels(sev, drop, target_drops=(0.1,))


def test_calibrate_presets_with_a_toy_encoder():
    pairs, x = tiny_pairs(n_per=10)
    # toy teachers: image features = the pixels, caption features = bag of the words of the caption
    rng = np.random.default_rng(0)
    proto = 128 + rng.integers(-25, 26, size=(3, 4, 4, 3))
    images = np.clip(proto[pairs.labels] + rng.normal(0, 8, size=(30, 4, 4, 3)), 0, 255).astype(np.uint8)
    pairs = PairSet(images=images, captions=pairs.captions, txt_to_img=pairs.txt_to_img, labels=pairs.labels,
                    label_names=pairs.label_names, family=pairs.family, image_ids=pairs.image_ids,
                    caption_ids=pairs.caption_ids, name="toy")
    vocab = sorted({w for c in pairs.captions for w in c.split()})
    seen = []

    def encode(p):
        seen.append(p.name)
        bow = np.array([[c.split().count(w) for w in vocab] for c in p.captions], float) + 1e-3
        return p.images.reshape(len(p.images), -1).astype(float) - 128, bow

    out = calibrate_presets(pairs, ["noise", "word_dropout"], [0.0, 0.5, 1.0], encode, target_drops=(0.1, 0.5, 0.9),
                            k=5)
    assert seen[0] == "toy" and "toy|img:noise@0.50|txt:none" in seen and "toy|img:none|txt:word_dropout@1.00" in seen
    assert len(out["rows"]) == 6
    clean_img = modality_strength(encode(pairs)[0], pairs.labels, ks=(5,))
    assert out["clean"]["image"] == {"score": pytest.approx(clean_img["ndcg@5"]),
                                     "chance": pytest.approx(clean_img["chance_ndcg@5"])}
    for row in out["rows"]:
        base, floor = out["clean"][row["modality"]]["score"], out["clean"][row["modality"]]["chance"]
        assert row["drop"] == pytest.approx((base - row["score"]) / base)
        assert row["drop_above_chance"] == pytest.approx((base - row["score"]) / (base - floor))
    noise_rows = [r for r in out["rows"] if r["kind"] == "noise"]
    assert noise_rows[0]["drop"] == 0.0 and noise_rows[2]["drop_above_chance"] > 0.5  # noise destroys the toy
    assert out["levels"]["noise"] == pick_levels([r["severity"] for r in noise_rows],
                                                  [r["drop_above_chance"] for r in noise_rows], (0.1, 0.5, 0.9))
    with pytest.raises(ValueError, match="known kinds"):
        calibrate_presets(pairs, ["smudge"], [0.5], encode)
    with pytest.raises(ValueError, match="drop_scale"):
        calibrate_presets(pairs, ["noise"], [0.5], encode, drop_scale="absolute")


# ---------------------------------------------------------------- gap vector, shift, alignment and uniformity
def test_modality_gap_vector_hand_example_and_shift_curve():
    img = np.array([[2.0, 0.0], [0.0, 3.0]])
    txt = np.array([[-5.0, 0.0]])
    assert modality_gap_vector(img, txt).tolist() == pytest.approx([1.5, 0.5])
    # a real gap: images around +e0, captions around -e0, each caption nearest its own image's direction
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 8))
    offset = np.zeros(8)
    offset[0] = 3.0
    v, t = base + offset, base - offset + 0.3 * rng.normal(size=(30, 8))
    t2i = np.arange(30)
    curve = gap_shift_curve(v, t, t2i, shifts=[-0.5, 0.0, 1.0], ks=(1, 5))
    plain = recall_at_k(v.astype(np.float32), t.astype(np.float32), t2i, (1, 5), return_ranks=False)
    at0 = curve.set_index("shift").loc[0.0]
    assert at0["rsum"] == pytest.approx(plain["rsum"]) and at0["gap"] == pytest.approx(modality_gap(v, t))
    gaps = curve.set_index("shift")["gap"]
    assert gaps[1.0] < gaps[0.0] < gaps[-0.5]  # closing the gap shrinks it, a negative shift widens it
    with pytest.raises(ValueError, match="shifts"):
        gap_shift_curve(v, t, t2i, shifts=[])


def test_alignment_and_uniformity_against_plain_loops():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    unit = lambda a: a / np.linalg.norm(a)  # noqa: E731
    assert alignment(x, y) == pytest.approx(np.mean([np.sum((unit(a) - unit(b)) ** 2) for a, b in zip(x, y)]))
    assert alignment(x, y, alpha=1) == pytest.approx(np.mean([np.linalg.norm(unit(a) - unit(b)) for a, b in zip(x, y)]))
    pairs = [np.exp(-2 * np.sum((unit(x[i]) - unit(x[j])) ** 2)) for i in range(7) for j in range(i + 1, 7)]
    assert uniformity(x) == pytest.approx(np.log(np.mean(pairs)))
    assert uniformity(np.ones((4, 3))) == pytest.approx(0.0)  # collapsed: the worst value
    antipodal = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert uniformity(antipodal, t=2) == pytest.approx(-8.0)  # the bound -4t
    t2i = np.array([0, 0, 1, 2, 3, 4, 5, 6])
    au = alignment_uniformity(x, np.vstack([y, y[:1]]), np.append(np.arange(7), 0))
    assert au["alignment"] == pytest.approx(alignment(np.vstack([x, x[:1]]), np.vstack([y, y[:1]])))
    assert au["uniformity_image"] == pytest.approx(uniformity(x))
    with pytest.raises(ValueError, match="txt_to_img"):
        alignment_uniformity(x, y[:6], t2i[:5])
