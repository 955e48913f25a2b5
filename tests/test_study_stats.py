"""The study functions behind notebook 04's statistics: per-query bootstrap of two runs, headline rows, the λ of each
run placed on the preset scale, and (slow) the reliability λ of the calibrated presets on Twemoji."""
import numpy as np
import pandas as pd
import pytest
import torch

from vlr_viz.data.pairs import PairSet
from vlr_viz.eval import caption_image_relevance, image_to_image, recall_at_k, text_to_text
from vlr_viz.experiments.study import Run, Splits
from vlr_viz.experiments.study_analysis import headline_rows, query_bootstrap, reliability_sweep, run_lambdas


def _pairs():
    captions = ["red apple", "green apple", "red car", "blue car", "apple tree", "a red apple", "old tree", "car"]
    t2i = np.array([0, 1, 2, 3, 4, 0, 5, 2])
    return PairSet(images=np.zeros((6, 2, 2, 3), np.uint8), captions=captions, txt_to_img=t2i,
                   labels=np.array([0, 0, 1, 1, 2, 2]), label_names=["a", "b", "c"], family=np.arange(6),
                   image_ids=[str(i) for i in range(6)], caption_ids=[str(i) for i in range(8)])


def test_query_bootstrap_differences_equal_the_metric_functions():
    pairs = _pairs()
    rel = caption_image_relevance(pairs)
    rng = np.random.default_rng(0)
    runs = []
    for name in ("a", "b"):
        img = rng.normal(size=(6, 4))
        runs.append(Run(name, 0, None, img, img[pairs.txt_to_img] + rng.normal(size=(8, 4)), 0.0))
    splits = Splits({"test": pairs}, {}, rel, "clean")
    out = query_bootstrap(runs[0], runs[1], splits, ks=(1, 5), n_resamples=200).set_index("metric")
    rsum = [recall_at_k(r.img_emb, r.txt_emb, pairs.txt_to_img, (1, 5))["rsum"] for r in runs]
    assert out.loc["RSUM", "mean_diff"] == pytest.approx(rsum[0] - rsum[1])
    assert out.loc["RSUM", "n"] == 6  # an image with its captions is one unit
    i2i = [image_to_image(r.img_emb, pairs, rel, ks=(10,))["i2i_ndcg@10[rougeL]"] for r in runs]
    t2t = [text_to_text(r.txt_emb, pairs, rel, ks=(10,))["t2t_ndcg@10[rougeL]"] for r in runs]
    assert out.loc["i2i NDCG@10 (ROUGE-L)", "mean_diff"] == pytest.approx(i2i[0] - i2i[1])
    assert out.loc["t2t NDCG@10 (ROUGE-L)", "mean_diff"] == pytest.approx(t2t[0] - t2t[1])
    zero = query_bootstrap(runs[0], runs[1], splits, ks=(1, 5), n_resamples=200, empty_queries="zero")
    zero = zero.set_index("metric")
    assert zero.loc["i2i NDCG@10 (ROUGE-L)", "n"] == 6 >= out.loc["i2i NDCG@10 (ROUGE-L)", "n"]
    assert (out["ci_low"] <= out["mean_diff"]).all() and (out["mean_diff"] <= out["ci_high"]).all()


def test_headline_rows_and_run_lambdas():
    df = pd.DataFrame({"model": ["baseline", "sad-kl", "sad-kl"], "task": ["cross", "i2i", "i2t"],
                       "metric": ["rsum", "ndcg@10", "R@1"], "relevance": ["pair", "rougeL", "pair"],
                       "value": [1.0, 2.0, 3.0], "seed": 0, "condition": "clean"})
    df.attrs["empty_queries"] = "zero"
    rows = headline_rows(df)
    assert rows["column"].tolist() == ["RSUM", "i2i NDCG@10 (ROUGE-L)"] and "method" in rows
    assert rows.attrs["empty_queries"] == "zero"
    summary = pd.DataFrame({"condition": ["clean", "image moderate", "both", "text severe", "clean"],
                            "method": ["sad-kl"] * 4 + ["baseline"], "seed": 0, "lam": [0.5, 0.6, 0.55, 0.4, 0.5],
                            "lambda_mode": ["learned"] * 4 + ["none"]})
    conditions = {"clean": (None, None), "image moderate": ("moderate", None), "both": ("mild", "mild"),
                  "text severe": (None, "severe")}
    placed = run_lambdas(summary, conditions)
    assert placed[["degraded", "level"]].values.tolist() == [["none", "clean"], ["image", "moderate"],
                                                             ["text", "severe"]]
    with pytest.raises(ValueError, match="not in conditions"):
        run_lambdas(summary, {"clean": (None, None)})


@pytest.mark.slow
def test_reliability_lambda_follows_the_degraded_modality_on_twemoji():
    """Occluding images moves the category-reliability λ toward the text teacher; replacing caption words moves
    it toward the vision teacher (training split, calibrated moderate presets)."""
    sweep = reliability_sweep(["moderate"], references=("labels",)).set_index(["degraded", "level"])["lam"]
    assert sweep[("image", "clean")] == pytest.approx(sweep[("text", "clean")])
    assert sweep[("image", "moderate")] > sweep[("image", "clean")] + 0.03
    assert sweep[("text", "moderate")] < sweep[("text", "clean")] - 0.03


def test_lambda_landscape_of_a_trained_structure_aware_run():
    from test_train_fit import synthetic, tiny

    from vlr_viz.losses import lambda_objective
    from vlr_viz.experiments.study_analysis import lambda_landscape
    from vlr_viz.train import caption_batches, fit

    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    cfg = tiny(distance="kl", center_teachers=True, weights={"kd_loss": 0.2})
    result = fit(cfg, train, val, progress=False)
    run = Run("sad-kl", 0, result, None, None, 0.0)
    land = lambda_landscape(run, Splits({}, {"train": train}, None, "clean"), lambdas=[0.0, 0.5, 1.0], n_batches=2)
    assert land["total"].to_numpy() == pytest.approx((land["student_term"] + land["teacher_terms"]).to_numpy())
    cap = caption_batches(train.n_captions, 16, 0, 1)[0]  # the run's batch size and seed, epoch 1
    img = train.txt_to_img[cap]
    with torch.no_grad():
        v, t = result.model(train.image[img], train.text[cap])
    one = lambda_objective(v, t, train.teacher_image[img], train.teacher_text[cap], [0.5], tau2=cfg.tau2,
                           weights={"kd_loss": 0.2}, distance="kl", center_teachers=True)
    first = lambda_landscape(run, Splits({}, {"train": train}, None, "clean"), lambdas=[0.5], n_batches=1)
    assert first["student_term"].iloc[0] == pytest.approx(one[0].item(), rel=1e-5)
    base = Run("baseline", 0, fit(tiny(method="baseline"), train, val, progress=False), None, None, 0.0)
    with pytest.raises(ValueError, match="structure-aware run"):
        lambda_landscape(base, Splits({}, {"train": train}, None, "clean"))


def test_severity_sweep_measures_each_side_on_its_own(twemoji_features):
    from vlr_viz.imbalance import imbalance_summary, pair_strengths
    from vlr_viz.experiments.study import severity_sweep, sweep_strengths

    table = severity_sweep("twemoji", "occlusion", "word_replace", [0.0, 0.75])
    assert list(zip(table.degraded, table.severity)) == [("image", 0.0), ("image", 0.75), ("text", 0.0), ("text", 0.75)]
    clean = table.iloc[0]
    from vlr_viz.data import load_twemoji
    from vlr_viz.store.arrays import array_cache

    test = load_twemoji("test", cache=array_cache())
    ref = pair_strengths(test, twemoji_features["test"].image, twemoji_features["test"].text)
    assert clean.image_ndcg10 == pytest.approx(ref["image"]["ndcg@10"])
    assert clean.value == pytest.approx(imbalance_summary(ref["image"]["ndcg@10"], ref["text"]["ndcg@10"])["index"])
    occluded, replaced = table.iloc[1], table.iloc[3]
    assert occluded.image_ndcg10 < clean.image_ndcg10 and occluded.text_ndcg10 == pytest.approx(clean.text_ndcg10)
    assert replaced.text_ndcg10 < clean.text_ndcg10 and replaced.image_ndcg10 == pytest.approx(clean.image_ndcg10)
    long = sweep_strengths(table)
    assert len(long) == 8 and set(long.model) == {"occlusion@0.00", "occlusion@0.75", "word_replace@0.00",
                                                  "word_replace@0.75"}
