"""DCMQ: NPC target and loss, code retrieval metrics, the training loop (synthetic and real Twemoji features)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from vlr_viz.eval import recall_at_k
from vlr_viz.eval.codes import chance_map, code_map, code_recall_at_k, cross_modal_map, memory_per_item
from vlr_viz.eval.ranking import average_precision_at_k
from vlr_viz.eval.relevance import category_relevance
from vlr_viz.losses.npc import (code_similarities, label_similarity_target, npc_distillation_loss, npc_target,
                                paired_similarity)
from vlr_viz.models.quantizer import ProductQuantizer, adc_scores, decode_codes
from vlr_viz.train.dcmq import DCMQConfig, DCMQSplit, fit_dcmq, run_dcmq_experiment
from vlr_viz.train.threads import torch_threads


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batches run fastest on one thread (and do not fight parallel test workers for cores)."""
    with torch_threads(1):
        yield


# -- NPC target ---------------------------------------------------------------------------------------------------
def test_npc_target_hand_worked():
    # images (1,0), (.6,.8), (0,1); texts (1,0), (1,0), (0,1)
    # S_ii off-diag: (0,1)=.6 (0,2)=0 (1,2)=.8;  S_tt: 1, 0, 0;  S_it[i,j] = a_i·b_j: (0,1)=1 (1,0)=.6 (1,2)=.8
    # (2,1)=0 (0,2)=0 (2,0)=0  ->  S(0,1) = (.6+1+1+.6)/4 = .8, S(0,2) = 0, S(1,2) = (.8+0+.8+0)/4 = .4
    a = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = paired_similarity(a, b)
    assert s[0, 1].item() == pytest.approx(0.8) and s[0, 2].item() == pytest.approx(0.0)
    assert s[1, 2].item() == pytest.approx(0.4)
    # rows: {.8, 0} -> z = +1, -1; {.8, .4} -> +1, -1; {0, .4} -> -1, +1; tanh(±1 / .5) = ±tanh 2
    t = npc_target(a, b, temperature=0.5)
    th = math.tanh(2.0)
    expected = torch.tensor([[1, th, -th], [th, 1, 0.0], [-th, 0.0, 1]])
    torch.testing.assert_close(t, expected, atol=1e-5, rtol=0)


def test_npc_target_matches_numpy_formula_and_is_pair_consistent():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    s = (an @ an.T + bn @ bn.T + an @ bn.T + bn @ an.T) / 4
    tp = np.ones((6, 6))
    for i in range(6):
        others = [j for j in range(6) if j != i]
        mu, sd = s[i, others].mean(), s[i, others].std()
        for j in others:
            tp[i, j] = np.tanh((s[i, j] - mu) / (sd + 1e-6) / 0.7)
    expected = (tp + tp.T) / 2
    got = npc_target(torch.tensor(a), torch.tensor(b), temperature=0.7).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # one score per pair whatever the modality roles: swapping images and texts changes nothing
    np.testing.assert_allclose(npc_target(torch.tensor(b), torch.tensor(a), 0.7).numpy(), got, atol=1e-6)
    assert got.min() >= -1 and got.max() <= 1


def test_npc_target_errors():
    with pytest.raises(ValueError, match="temperature"):
        npc_target(torch.ones(3, 2), torch.ones(3, 2), temperature=0)
    with pytest.raises(ValueError, match="rows"):
        npc_target(torch.ones(3, 2), torch.ones(4, 2))
    with pytest.raises(ValueError, match="one space"):
        npc_target(torch.ones(3, 2), torch.ones(3, 5))


def test_label_similarity_target():
    t = label_similarity_target(np.array([0, 2, 0, -1, -1]))
    expected = -np.ones((5, 5))
    expected[np.ix_([0, 2], [0, 2])] = 1
    np.fill_diagonal(expected, 1)  # an unknown label matches only its own pair
    np.testing.assert_array_equal(t.numpy(), expected)
    multi = label_similarity_target(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]]))
    np.testing.assert_array_equal(multi.numpy(), [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    with pytest.raises(TypeError, match="labels"):
        label_similarity_target(np.array([0.5, 1.0]))


def test_npc_distillation_loss_is_blockwise_mse():
    g = torch.Generator().manual_seed(0)
    v, t = F.normalize(torch.randn(5, 8, generator=g), dim=1), F.normalize(torch.randn(5, 8, generator=g), dim=1)
    qv, qt = v + 0.1 * torch.randn(5, 8, generator=g), t + 0.1 * torch.randn(5, 8, generator=g)
    target = label_similarity_target(np.array([0, 0, 1, 1, 2]))
    blocks = code_similarities(qv, qt, v, t)
    assert set(blocks) == {"ii", "tt", "it", "ti", "i2t_adc", "t2i_adc"}
    terms = npc_distillation_loss(blocks, target)
    nqv, nqt = (qv / qv.norm(dim=1, keepdim=True)).numpy(), (qt / qt.norm(dim=1, keepdim=True)).numpy()
    tg = target.numpy()
    np.testing.assert_allclose(terms["npc_it"].item(), ((nqv @ nqt.T - tg) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["npc_i2t_adc"].item(), ((v.numpy() @ qt.numpy().T - tg) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["npc_loss"].item(),
                               np.mean([terms[f"npc_{k}"].item() for k in blocks]), rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        npc_distillation_loss(blocks, target[:4, :4])


# -- metrics --------------------------------------------------------------------------------------------------
def _ap_oracle(scores_row, rel_row, k):
    """AP@K with the min(K, R) normaliser, by a plain loop over a stable descending order."""
    order = sorted(range(len(scores_row)), key=lambda j: (-scores_row[j], j))
    hits, total = 0, 0.0
    for r, j in enumerate(order[:k], 1):
        if rel_row[j]:
            hits += 1
            total += hits / r
    return total / min(k, int(np.sum(rel_row)))


def test_chance_map_is_the_fraction_of_relevant_items():
    q, g = np.array([0, 1, 1, -1]), np.array([0, 0, 1, 2, 2])
    # query 0: 2/5 relevant, queries 1 and 2: 1/5, query -1: none (left out)
    assert chance_map(q, g) == pytest.approx(100 * (0.4 + 0.2 + 0.2) / 3)
    rel = category_relevance(q, g)
    assert rel.sum() == 4 and not rel[3].any()


def _toy_codes(seed=0, n_img=12, n_txt=20, dim=8):
    g = torch.Generator().manual_seed(seed)
    pq = ProductQuantizer(dim, 2, 16, generator=g)
    img = F.normalize(torch.randn(n_img, dim, generator=g), dim=1)
    txt = F.normalize(torch.randn(n_txt, dim, generator=g), dim=1)
    t2i = torch.cat([torch.arange(n_img), torch.randint(0, n_img, (n_txt - n_img,), generator=g)])
    return pq, img, txt, t2i


def test_code_map_equals_decoded_float_map_and_a_loop_oracle():
    pq, img, txt, t2i = _toy_codes()
    labels = np.arange(12) % 3
    txt_labels = labels[t2i.numpy()]
    ci, ct = pq.encode(img), pq.encode(txt)
    cb = pq.codebooks.detach()
    got = cross_modal_map(img, txt, labels, txt_labels, image_codes=ci, text_codes=ct, codebooks=cb, ks=(5,))
    scores = (img @ decode_codes(ct, cb).T).numpy()
    rel = category_relevance(labels, txt_labels)
    i2t = average_precision_at_k(scores, rel, (5,))
    assert got["i2t_map@5"] == pytest.approx(i2t["map@5"]) and got["i2t_map"] == pytest.approx(i2t["map"])
    oracle = {k: 100 * np.mean([_ap_oracle(scores[q], rel[q], k) for q in range(12)]) for k in (5, 20)}
    assert got["i2t_map@5"] == pytest.approx(oracle[5]) and got["i2t_map"] == pytest.approx(oracle[20])
    t2i_direct = code_map(txt, ci, cb, txt_labels, labels, ks=(5,))
    assert got["t2i_map"] == pytest.approx(t2i_direct["map"])
    assert got["map_mean"] == pytest.approx((got["i2t_map"] + got["t2i_map"]) / 2)
    floats = cross_modal_map(img, txt, labels, txt_labels, ks=(5,))
    assert floats["t2i_map"] == pytest.approx(average_precision_at_k((txt @ img.T).numpy(), rel.T, (5,))["map"])


def test_code_recall_matches_loop_oracle_and_decoding_equals_adc():
    pq, img, txt, t2i = _toy_codes(seed=3)
    ci, ct = pq.encode(img), pq.encode(txt)
    cb = pq.codebooks.detach()
    # inner-product ADC ranks exactly like decoding the gallery: <q, decode(c)> = Σ_m <q_m, C_m[c_m]>
    adc = adc_scores(img, ct, cb)
    dec = img @ decode_codes(ct, cb).T
    torch.testing.assert_close(adc, dec, rtol=1e-5, atol=1e-6)
    got = code_recall_at_k(img, txt, ci, ct, cb, t2i, ks=(1, 3), chunk_size=7)
    s_i2t, s_t2i = adc.numpy(), adc_scores(txt, ci, cb).numpy()

    def rank(row, j):  # stable descending sort position
        return sorted(range(len(row)), key=lambda x: (-row[x], x)).index(j)
    t2i_np = t2i.numpy()
    i2t_ranks = [min(rank(s_i2t[i], c) for c in np.flatnonzero(t2i_np == i)) for i in range(12)]
    t2i_ranks = [rank(s_t2i[c], t2i_np[c]) for c in range(20)]
    for k in (1, 3):
        assert got[f"i2t_R@{k}"] == pytest.approx(100 * np.mean(np.array(i2t_ranks) < k))
        assert got[f"t2i_R@{k}"] == pytest.approx(100 * np.mean(np.array(t2i_ranks) < k))
    assert got["rsum"] == pytest.approx(sum(v for k, v in got.items() if k != "rsum"))


def test_memory_per_item():
    m = memory_per_item(64)
    assert (m["code_bytes"], m["stored_bytes"], m["float_bytes"], m["compression"]) == (8, 8, 1024, 128)
    m16 = memory_per_item(32, num_codewords=16, dim=128)  # 8 books of 4 bits, one uint8 each as stored
    assert (m16["code_bytes"], m16["stored_bytes"], m16["float_bytes"]) == (4, 8, 512)
    with pytest.raises(ValueError, match="bits"):
        memory_per_item(60)


# -- training ------------------------------------------------------------------------------------------------
def _synthetic_split(n=240, n_cat=4, seed=0, teacher_noise=0.3):
    """Categories as clusters of a latent z; backbone features are noisy random maps of z; the teacher sees z."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(n_cat, 12)) * 2
    labels = rng.integers(0, n_cat, n)
    z = centres[labels] + rng.normal(size=(n, 12))
    wi, wt = np.random.default_rng(7).normal(size=(12, 40)), np.random.default_rng(8).normal(size=(12, 24))
    img = z @ wi + rng.normal(size=(n, 40)) * 2
    txt = z @ wt + rng.normal(size=(n, 24)) * 2
    teach_i = z + teacher_noise * rng.normal(size=z.shape)
    teach_t = z + teacher_noise * rng.normal(size=z.shape)
    return DCMQSplit(img, txt, np.arange(n), labels, teach_i, teach_t)


_TINY = dict(bits=16, num_codewords=16, epochs=6, batch_size=64, embed_dim=32, hidden=64, lr=3e-3)


def test_fit_dcmq_on_synthetic_clusters_beats_chance():
    train, val, test = _synthetic_split(seed=0), _synthetic_split(120, seed=1), _synthetic_split(120, seed=2)
    res = fit_dcmq(DCMQConfig(**_TINY), train, val)
    chance = chance_map(test.labels, test.text_labels)
    metrics = res.evaluate(test)
    assert metrics["map_mean"] > chance + 30
    assert res.image_codes.dtype == np.uint8 and res.image_codes.shape == (240, 4)
    assert res.text_codes.shape == (240, 4)
    assert res.codeword_usage.shape == (4, 16) and (res.codeword_usage.sum(1) == 480).all()
    h = res.history
    assert len(h) == 6 and {"npc_loss", "balance_entropy", "tau", "val_map_mean", "loss"} <= set(h.columns)
    assert h["tau"].is_monotonic_decreasing and ((h["balance_entropy"] >= 0) & (h["balance_entropy"] <= 1)).all()
    assert res.best_epoch == int(h["val_map_mean"].idxmax()) + 1
    assert res.val_metrics["map_mean"] == pytest.approx(h["val_map_mean"].max())
    recall = res.recall(test, ks=(1, 10))
    assert 0 <= recall["t2i_R@1"] <= recall["t2i_R@10"] <= 100 and set(recall) == {
        "i2t_R@1", "i2t_R@10", "t2i_R@1", "t2i_R@10", "rsum"}
    # the returned codes are the encoded training split; the same seed gives the same codes
    np.testing.assert_array_equal(res.encode(train)[0], res.image_codes)
    again = fit_dcmq(DCMQConfig(**{**_TINY, "epochs": 2}), train)
    again2 = fit_dcmq(DCMQConfig(**{**_TINY, "epochs": 2}), train)
    np.testing.assert_array_equal(again.text_codes, again2.text_codes)
    assert again.best_epoch == 2  # no validation split: the last epoch


def test_fit_dcmq_is_reproducible_and_restores_the_thread_count():
    train, val = _synthetic_split(seed=0), _synthetic_split(120, seed=1)
    with torch_threads(2):
        runs = [fit_dcmq(DCMQConfig(**_TINY), train, val) for _ in range(2)]
        assert torch.get_num_threads() == 2
    pd.testing.assert_frame_equal(runs[0].history, runs[1].history)
    assert np.array_equal(runs[0].image_codes, runs[1].image_codes)


def test_fit_dcmq_label_baseline_and_errors():
    train = _synthetic_split(seed=0)
    res = fit_dcmq(DCMQConfig(**{**_TINY, "teacher": "labels", "epochs": 3}), train)
    assert res.evaluate(train)["map_mean"] > chance_map(train.labels, train.text_labels) + 30
    bare = DCMQSplit(train.image_features, train.text_features, train.txt_to_img, train.labels)
    with pytest.raises(ValueError, match="teacher_image"):
        fit_dcmq(DCMQConfig(**_TINY), bare)
    with pytest.raises(ValueError, match="teacher"):
        DCMQConfig(teacher="bert")
    with pytest.raises(ValueError, match="bits"):
        fit_dcmq(DCMQConfig(**{**_TINY, "bits": 15}), train)
    with pytest.raises(ValueError, match="txt_to_img"):
        DCMQSplit(train.image_features, train.text_features, train.txt_to_img + 1000, train.labels)


def test_run_dcmq_experiment_table():
    from types import SimpleNamespace

    splits = {s: _synthetic_split(n, seed=i) for i, (s, n) in enumerate((("train", 160), ("val", 80), ("test", 80)))}
    pairs = {s: SimpleNamespace(txt_to_img=d.txt_to_img, labels=d.labels) for s, d in splits.items()}
    feats = {s: SimpleNamespace(image=d.image_features, text=d.text_features) for s, d in splits.items()}
    teacher = {s: (d.teacher_image, d.teacher_text) for s, d in splits.items()}
    df, results = run_dcmq_experiment([8, 16], teacher, pairs["train"], pairs["test"], features_train=feats["train"],
                                      features_test=feats["test"], pairs_val=pairs["val"], features_val=feats["val"],
                                      config=DCMQConfig(**{**_TINY, "epochs": 2}), ks=(10,), return_results=True)
    assert list(df["supervision"]) == ["teacher", "teacher", "labels", "labels", "float teacher"]
    assert list(df["bits"][:4]) == [8, 16, 8, 16] and list(df["bytes_per_item"][:2]) == [2, 4]
    assert {"i2t_map@10", "t2i_map", "map_mean"} <= set(df.columns)
    test = splits["test"]
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    expected = cross_modal_map(unit(test.teacher_image), unit(test.teacher_text), test.labels, test.text_labels,
                               ks=(10,))["map_mean"]
    assert df["map_mean"].iloc[-1] == pytest.approx(expected)
    assert sorted(results) == [("labels", 8, 0), ("labels", 16, 0), ("teacher", 8, 0), ("teacher", 16, 0)]
    res = results[("teacher", 16, 0)]
    assert df["rsum"].iloc[1] == pytest.approx(res.recall(test)["rsum"])
    assert res.codeword_usage.sum() == res.quantizer.num_books * (160 + 160)  # train images + captions, per book
    i2t = recall_at_k(test.teacher_image, test.teacher_text, test.txt_to_img, return_ranks=False)["i2t_R@1"]
    assert df["i2t_R@1"].iloc[-1] == pytest.approx(i2t)


@pytest.mark.slow
def test_dcmq_on_real_twemoji_features_far_above_chance():
    pytest.importorskip("vlr_viz.features")
    from vlr_viz.data import load_twemoji
    from vlr_viz.features import load_features
    from vlr_viz.models.towers import DualEncoder

    data = {}
    for split in ("train", "val", "test"):
        pairs = load_twemoji(split)
        data[split] = (pairs, load_features(pairs, progress=False))
    # teacher: a linear common space trained with a plain symmetric InfoNCE (5 epochs)
    pairs, feats = data["train"]
    torch.manual_seed(0)
    teacher = DualEncoder(feats.image.shape[1], feats.text.shape[1], 128, depth=1, dropout=0.0)
    opt = torch.optim.Adam(teacher.parameters(), 1e-3)
    xi, xt = torch.from_numpy(feats.image), torch.from_numpy(feats.text)
    t2i = torch.from_numpy(pairs.txt_to_img)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        for c in torch.randperm(len(xt), generator=gen).split(256):
            v, t = teacher(xi[t2i[c]], xt[c])
            logits, y = v @ t.T / 0.07, torch.arange(len(c))
            loss = (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
    teacher.eval()

    def split(name):
        p, f = data[name]
        with torch.no_grad():
            v, t = teacher(torch.from_numpy(f.image), torch.from_numpy(f.text))
        return DCMQSplit.from_pairs(p, f, (v.numpy(), t.numpy()))

    train, val, test = split("train"), split("val"), split("test")
    res = fit_dcmq(DCMQConfig(bits=32, epochs=3, hidden=256), train, val)
    chance = chance_map(test.labels, test.text_labels)  # about 37 %: one category holds ~60 % of the items
    metrics = res.evaluate(test)
    assert metrics["i2t_map"] > chance + 10 and metrics["t2i_map"] > chance + 10
