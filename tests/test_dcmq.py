"""DCMQ: NPC target, the DCMQ loss, code retrieval metrics, the student, the batched training loop (tiny synthetic
clusters, labelled as such) and real Twemoji features (slow)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from numpy_oracles import unit
from vlr_viz.eval.codes import (chance_map, code_map, code_recall_at_k, code_retrieval_metrics, cross_modal_map,
                                memory_per_item)
from vlr_viz.eval.ranking import average_precision_at_k
from vlr_viz.eval.relevance import category_relevance
from vlr_viz.losses.dcmq import dcmq_loss
from vlr_viz.losses.npc import label_similarity_target, npc_target, paired_similarity
from vlr_viz.models.code_student import CodeStudents
from vlr_viz.models.quantizer import ProductQuantizer, decode_codes
from vlr_viz.train.data import PairFeatures
from vlr_viz.train.dcmq import DCMQConfig, fit_dcmq, fit_dcmq_runs
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
    an, bn = unit(a), unit(b)
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
    # leading batch dimensions: each batch gets its own target
    a2, b2 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    both = npc_target(torch.tensor(np.stack([a, a2])), torch.tensor(np.stack([b, b2])), 0.7).numpy()
    np.testing.assert_allclose(both[0], got, atol=1e-6)
    np.testing.assert_allclose(both[1], npc_target(torch.tensor(a2), torch.tensor(b2), 0.7).numpy(), atol=1e-6)


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
    multi = label_similarity_target(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool))
    np.testing.assert_array_equal(multi.numpy(), [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    stacked = label_similarity_target(np.array([[0, 2, 0, -1, -1], [1, 1, 1, 1, 1]]))
    np.testing.assert_array_equal(stacked[0].numpy(), expected)
    assert (stacked[1] == 1).all()
    with pytest.raises(TypeError, match="labels"):
        label_similarity_target(np.array([0.5, 1.0]))


# -- the DCMQ loss --------------------------------------------------------------------------------------------------
def test_dcmq_loss_hand_worked_case():
    # two orthogonal pairs, float = quantised, target agrees (T = 2I - 1), uniform codeword use
    e = torch.eye(2, dtype=torch.float64)
    probs = torch.full((2, 1, 4), 0.25, dtype=torch.float64)
    ts, tt = 0.1, 0.2
    terms = dcmq_loss(e, e, e, e, 2 * e - 1, torch.tensor([0, 1]), (probs, probs), target_temperature=tt,
                      student_temperature=ts)
    assert terms["pair_loss"].item() == pytest.approx(math.log(1 + math.exp(-1 / ts)), rel=1e-5)
    p = np.array([math.exp(1 / tt), math.exp(-1 / tt)])
    p /= p.sum()
    q = np.array([math.exp(1 / ts), 1.0])
    q /= q.sum()
    assert terms["distill_loss"].item() == pytest.approx(float((p * np.log(p / q)).sum()), rel=1e-5)
    assert terms["balance_loss"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["loss"].item() == pytest.approx(2 * terms["distill_loss"].item() + terms["pair_loss"].item())


def _kl_rows(t, s):
    p = np.exp(t - t.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    logq = s - s.max(1, keepdims=True) - np.log(np.exp(s - s.max(1, keepdims=True)).sum(1, keepdims=True))
    return float((p * (np.log(p) - logq)).sum(1).mean())


def _ce_rows(s, y):
    log_p = s - s.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    return -float((y * log_p).sum(1).mean())


def test_dcmq_loss_matches_a_numpy_oracle_per_stacked_run():
    g = torch.Generator().manual_seed(0)
    v = F.normalize(torch.randn(2, 5, 8, generator=g), dim=-1)
    t = F.normalize(torch.randn(2, 5, 8, generator=g), dim=-1)
    qv, qt = v + 0.1 * torch.randn(2, 5, 8, generator=g), t + 0.1 * torch.randn(2, 5, 8, generator=g)
    target = torch.stack([label_similarity_target(np.array([0, 0, 1, 1, 2])), label_similarity_target(np.arange(5))])
    img_id = torch.tensor([[0, 0, 1, 2, 3], [0, 1, 2, 3, 4]])  # run 0: captions 0 and 1 share an image
    pv = torch.softmax(torch.randn(2, 5, 3, 4, generator=g), -1)
    pt = torch.softmax(torch.randn(2, 5, 3, 4, generator=g), -1)
    weights = {"distill_loss": 0.5, "pair_loss": 2.0, "balance_loss": 0.3}
    terms = dcmq_loss(v, t, qv, qt, target, img_id, (pv, pt), target_temperature=0.2, student_temperature=0.1,
                      weights=weights)
    for r in range(2):
        s_i2t = v[r].numpy() @ qt[r].numpy().T / 0.1
        s_t2i = t[r].numpy() @ qv[r].numpy().T / 0.1
        tg = target[r].numpy() / 0.2
        distill = (_kl_rows(tg, s_i2t) + _kl_rows(tg.T, s_t2i)) / 2
        ids = img_id[r].numpy()
        y = (ids[:, None] == ids[None, :]).astype(float)
        y /= y.sum(1, keepdims=True)
        pair = (_ce_rows(s_i2t, y) + _ce_rows(s_t2i, y)) / 2
        mean = np.concatenate([pv[r].numpy(), pt[r].numpy()]).mean(0)  # (M, K)
        balance = 1 - float((-(mean * np.log(mean)).sum(1) / np.log(4)).mean())
        assert terms["distill_loss"][r].item() == pytest.approx(distill, rel=1e-5)
        assert terms["pair_loss"][r].item() == pytest.approx(pair, rel=1e-5)
        assert terms["balance_loss"][r].item() == pytest.approx(balance, rel=1e-4, abs=1e-6)
        assert terms["loss"][r].item() == pytest.approx(0.5 * distill + 2 * pair + 0.3 * balance, rel=1e-5)
    with pytest.raises(ValueError, match="unknown term"):
        dcmq_loss(v, t, qv, qt, target, img_id, (pv, pt), weights={"npc_loss": 1.0})
    with pytest.raises(ValueError, match="target has shape"):
        dcmq_loss(v, t, qv, qt, target[:, :4, :4], img_id, (pv, pt))


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
    with pytest.raises(ValueError, match="queries"):
        code_map(txt[:, :4], ci, cb, txt_labels, labels)


def test_code_recall_matches_a_loop_oracle_over_inner_products():
    pq, img, txt, t2i = _toy_codes(seed=3)
    ci, ct = pq.encode(img), pq.encode(txt)
    cb = pq.codebooks.detach()
    got = code_recall_at_k(img, txt, ci, ct, cb, t2i, ks=(1, 3), chunk_size=7)
    # ADC score = <q, decode(code)> = Σ_m <q_m, C_m[code_m]>, spelt out per sub-codebook
    sub = cb.shape[2]
    s_i2t = np.array([[sum(float(img[i, m * sub:(m + 1) * sub] @ cb[m, ct[j, m].long()]) for m in range(2))
                       for j in range(20)] for i in range(12)])
    s_t2i = (txt @ decode_codes(ci, cb).T).numpy()

    def rank(row, j):  # stable descending sort position
        return sorted(range(len(row)), key=lambda x: (-row[x], x)).index(j)
    t2i_np = t2i.numpy()
    i2t_ranks = [min(rank(s_i2t[i], c) for c in np.flatnonzero(t2i_np == i)) for i in range(12)]
    t2i_ranks = [rank(s_t2i[c], t2i_np[c]) for c in range(20)]
    for k in (1, 3):
        assert got[f"i2t_R@{k}"] == pytest.approx(100 * np.mean(np.array(i2t_ranks) < k))
        assert got[f"t2i_R@{k}"] == pytest.approx(100 * np.mean(np.array(t2i_ranks) < k))
    assert got["rsum"] == pytest.approx(sum(v for k, v in got.items() if k != "rsum"))
    labels = np.arange(12) % 3
    both = code_retrieval_metrics(img, txt, ci, ct, cb, t2i, labels, ks=(1, 3), map_ks=(5,))
    assert both["rsum"] == pytest.approx(got["rsum"])
    assert both["map_mean"] == pytest.approx(cross_modal_map(img, txt, labels, labels[t2i_np], image_codes=ci,
                                                             text_codes=ct, codebooks=cb, ks=(5,))["map_mean"])


def test_memory_per_item():
    m = memory_per_item(64)
    assert (m["code_bytes"], m["stored_bytes"], m["float_bytes"], m["compression"]) == (8, 8, 1024, 128)
    m16 = memory_per_item(32, num_codewords=16, dim=128)  # 8 books of 4 bits, one uint8 each as stored
    assert (m16["code_bytes"], m16["stored_bytes"], m16["float_bytes"]) == (4, 8, 512)
    with pytest.raises(ValueError, match="bits"):
        memory_per_item(60)


# -- the student ------------------------------------------------------------------------------------------------
def test_code_student_starts_as_plain_pq_of_its_inputs():
    x = F.normalize(torch.randn(300, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    s = CodeStudents(2, 8, 8, num_codewords=16)  # 8 bits of K = 16: M = 2 books of 4-d sub-vectors
    s.init_codebooks(x, seeds=[0, 0], iters=5)
    torch.testing.assert_close(s.embed(x, "image")[1], x)  # identity adaptors
    torch.testing.assert_close(s.codebooks[0], s.codebooks[1])  # same seed, same k-means
    codes = s.encode(x, "text")
    cb = s.codebooks[0].detach().numpy()
    for i in range(0, 300, 37):  # the code is the nearest codeword of each sub-vector
        for m in range(2):
            d = ((x[i, 4 * m:4 * m + 4].numpy() - cb[m]) ** 2).sum(1)
            assert codes[0, i, m] == int(np.argmin(d))
    one = s.select(1)
    assert one.groups == 1 and torch.equal(one.codebooks[0], s.codebooks[1])
    assert torch.equal(one.quantizer().encode(x), codes[1])
    with pytest.raises(ValueError, match="divide"):
        CodeStudents(1, 10, 24)  # 3 books do not divide 10 dimensions
    with pytest.raises(ValueError, match="modality"):
        s.embed(x, "audio")
    with pytest.raises(ValueError, match="dimension"):
        s.embed(x[:, :4], "image")


# -- training (tiny SYNTHETIC clusters: categories as clusters of a latent space, the common space a noisy view) ----
def _synthetic_split(n=300, n_cat=4, seed=0, dim=16, name="split"):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(n_cat, dim)) * 1.5
    labels = rng.integers(0, n_cat, n)
    z = centres[labels] + rng.normal(size=(n, dim))
    img = unit(z + 0.3 * rng.normal(size=z.shape)).astype(np.float32)
    txt = unit(z + 0.3 * rng.normal(size=z.shape)).astype(np.float32)
    return PairFeatures(img, txt, np.arange(n), labels=labels, name=name)


_TINY = dict(bits=16, num_codewords=16, epochs=4, batch_size=64, kmeans_iters=5)


def test_fit_dcmq_beats_chance_and_records_its_history():
    train, val, test = (_synthetic_split(seed=s, name=n) for s, n in ((0, "train"), (1, "val"), (2, "test")))
    res = fit_dcmq(DCMQConfig(**_TINY), train, val)
    metrics = res.evaluate(test)
    assert metrics["map_mean"] > chance_map(test.labels, test.labels) + 30
    assert res.image_codes.dtype == np.uint8 and res.image_codes.shape == (300, 4) and res.text_codes.shape == (300, 4)
    assert res.codeword_usage.shape == (4, 16) and (res.codeword_usage.sum(1) == 600).all()
    h = res.history
    assert list(h.epoch) == [0, 1, 2, 3, 4]  # epoch 0: the initialisation, scored too
    assert {"distill_loss", "pair_loss", "balance_entropy", "loss", "tau", "val_rsum", "val_map_mean"} <= set(h.columns)
    assert h["tau"].iloc[1:].is_monotonic_decreasing
    assert ((h["balance_entropy"].iloc[1:] >= 0) & (h["balance_entropy"].iloc[1:] <= 1)).all()
    score = h["val_rsum"] + h["val_map_mean"]
    assert res.best_epoch == int(h.epoch[score.idxmax()])
    assert res.val_metrics["rsum"] == pytest.approx(h["val_rsum"][score.idxmax()])
    # the returned codes are the encoded training split; K = 16 codes go to FAISS's fast scan (approximate tables)
    np.testing.assert_array_equal(res.encode(train)[0], res.image_codes)
    v, _ = res.embed(test)
    _, ids = res.faiss_index(test, "text", fast_scan=True).search(v, 1)
    scores = v @ decode_codes(torch.from_numpy(res.encode(test)[1]), res.quantizer.codebooks.detach()).numpy().T
    assert (scores[np.arange(300), ids[:, 0]] >= scores.max(1) - 0.05).mean() > 0.95
    last = fit_dcmq(DCMQConfig(**{**_TINY, "epochs": 2}), train)
    assert last.best_epoch == 2  # no validation split: the last epoch


def test_runs_trained_together_equal_runs_trained_alone():
    train, val = _synthetic_split(seed=0, name="train"), _synthetic_split(seed=1, name="val")
    configs = [DCMQConfig(**_TINY, seed=3), DCMQConfig(**_TINY, seed=4, supervision="labels")]
    together = fit_dcmq_runs(configs, train, val)
    for config, run in zip(configs, together):
        alone = fit_dcmq(config, train, val)
        assert alone.best_epoch == run.best_epoch
        cols = ["loss", "distill_loss", "pair_loss", "val_rsum", "val_map_mean"]
        np.testing.assert_allclose(alone.history[cols].to_numpy(float), run.history[cols].to_numpy(float),
                                   rtol=1e-4, atol=1e-5)
        assert (alone.image_codes == run.image_codes).mean() > 0.99
    assert not np.array_equal(together[0].image_codes, together[1].image_codes)
    with pytest.raises(ValueError, match="differs"):
        fit_dcmq_runs([DCMQConfig(**_TINY), DCMQConfig(**{**_TINY, "lr": 0.1})], train)


def test_two_threads_give_identical_runs():
    # big enough for torch to split kernels over both threads (test_quantizer.py pins the kernel that used to
    # differ from run to run)
    train = _synthetic_split(n=600, dim=128, seed=0, name="train")
    val = _synthetic_split(n=200, dim=128, seed=1, name="val")
    config = DCMQConfig(bits=32, num_codewords=16, epochs=2, batch_size=512, kmeans_iters=2, num_threads=2)
    runs = [fit_dcmq(config, train, val) for _ in range(2)]
    assert torch.get_num_threads() == 1  # restored
    pd.testing.assert_frame_equal(runs[0].history, runs[1].history)
    np.testing.assert_array_equal(runs[0].text_codes, runs[1].text_codes)
    for a, b in zip(runs[0].student.state_dict().values(), runs[1].student.state_dict().values()):
        assert torch.equal(a, b)


def test_fit_dcmq_errors_name_the_problem():
    train = _synthetic_split(seed=0, name="train")
    no_labels = PairFeatures(train.image, train.text, train.txt_to_img, name="train")
    with pytest.raises(ValueError, match="labels"):
        fit_dcmq(DCMQConfig(**{**_TINY, "supervision": "labels"}), no_labels)
    lopsided = PairFeatures(train.image, train.text[:, :8], train.txt_to_img, labels=train.labels, name="train")
    with pytest.raises(ValueError, match="common space"):
        fit_dcmq(DCMQConfig(**_TINY), lopsided)
    with pytest.raises(ValueError, match="supervision"):
        DCMQConfig(supervision="bert")
    with pytest.raises(ValueError, match="bits"):
        DCMQConfig(bits=15)
    with pytest.raises(ValueError, match="select_metric"):
        DCMQConfig(select_metric="loss")
    with pytest.raises(ValueError, match="divide"):
        fit_dcmq(DCMQConfig(**{**_TINY, "bits": 12}), train)  # 3 books of 4 bits do not divide 16 dimensions


@pytest.mark.slow
def test_dcmq_on_the_real_twemoji_common_space_beats_faiss_opq(twemoji_splits, twemoji_features):
    from vlr_viz.experiments.dcmq import common_space_splits, run_dcmq_experiment, versus_opq
    from vlr_viz.models.towers import DualEncoder

    # teacher: a linear common space trained with a plain symmetric InfoNCE (5 epochs)
    pairs, feats = twemoji_splits["train"], twemoji_features["train"]
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
    with torch.no_grad():
        emb = {s: tuple(x.numpy() for x in teacher(torch.from_numpy(f.image), torch.from_numpy(f.text)))
               for s, f in twemoji_features.items()}
    data = common_space_splits(emb, twemoji_splits)
    exp = run_dcmq_experiment(data, [32], seeds=[0], supervisions=("teacher",), config=DCMQConfig(epochs=4))
    chance = chance_map(data["test"].labels, data["test"].labels[data["test"].txt_to_img.numpy()])
    row = exp.table[exp.table.method == "dcmq"].iloc[0]
    assert row["map"] > chance + 10
    verdict = versus_opq(exp.summary).iloc[0]
    assert verdict.rsum > verdict.opq_rsum and verdict["map"] > verdict.opq_map
