"""vlr_viz.stats against scipy and hand-worked cases; the bootstrap's coverage on a synthetic known difference."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from vlr_viz.stats import (format_cell, holm, mean_spread_table, method_verdicts, paired_bootstrap, paired_cells,
                           paired_comparison, paired_table, retrieval_units, table_caption, verdict_sentences)

A = np.array([143.4, 151.4, 138.9, 137.2, 146.0])
B = np.array([133.5, 145.3, 133.6, 139.0, 141.1])


def test_paired_comparison_matches_scipy_and_hand_formula():
    r = paired_comparison(A, B)
    d = A - B
    assert r["n"] == 5 and r["mean_diff"] == pytest.approx(d.mean())
    half = ss.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)  # hand-written t-interval
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert r["p_ttest"] == pytest.approx(ss.ttest_1samp(d, 0.0).pvalue)  # paired t = one-sample t on d
    # one negative difference, the smallest in size: W- = 1, exact p = 2 · #{W- <= 1} / 2^5 = 2 · 2 / 32
    assert r["p_wilcoxon"] == pytest.approx(0.125)
    assert paired_comparison(A + 10, B)["p_wilcoxon"] == pytest.approx(0.0625)  # all positive: 2 / 2^5
    r90 = paired_comparison(A, B, confidence=0.9)
    assert r90["ci_high"] - r90["ci_low"] < r["ci_high"] - r["ci_low"]


def test_paired_comparison_hand_worked_small_case():
    r = paired_comparison([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])  # d = 1, 2, 3: mean 2, sd 1
    t = 2.0 / (1.0 / math.sqrt(3))
    assert r["p_ttest"] == pytest.approx(2 * ss.t.sf(t, 2))
    assert r["ci_low"] == pytest.approx(2 - 4.302652729911275 / math.sqrt(3))
    assert r["p_wilcoxon"] == pytest.approx(0.25)  # 3 positive of 3: exact p = 2 / 2^3


def test_paired_comparison_degenerate_differences_give_no_p():
    same = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert math.isnan(same["p_ttest"]) and math.isnan(same["p_wilcoxon"]) and "no test" in same["note"]
    shift = paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert math.isnan(shift["p_ttest"]) and shift["ci_low"] == shift["ci_high"] == 1.0
    assert "t-test is undefined" in shift["note"]


@pytest.mark.parametrize("a, b, match", [
    ([1.0], [2.0], "at least 2 seeds"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], "3 values and b has 2"),
    ([1.0, float("nan")], [1.0, 2.0], r"a\[1\] is nan"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
])
def test_paired_comparison_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_comparison(a, b)


def test_holm_hand_worked_and_properties():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])  # capped at 1
    with_nan = holm([0.01, np.nan, 0.04])  # NaN is no test: m = 2
    assert with_nan[0] == pytest.approx(0.02) and math.isnan(with_nan[1]) and with_nan[2] == pytest.approx(0.04)
    rng = np.random.default_rng(0)
    q = rng.random(30)
    adj = holm(q)
    assert (adj >= q).all() and (adj <= np.minimum(1, 30 * q) + 1e-15).all()  # between raw and Bonferroni
    with pytest.raises(ValueError, match="not a probability"):
        holm([0.2, 1.5])


def test_paired_bootstrap_point_value_and_rsum_units():
    i2t = np.array([1, 3, 12, 1])
    t2i = np.array([2, 1, 7, 30, 1, 6])
    txt_to_img = np.array([0, 0, 1, 2, 3, 3])
    values, weights = retrieval_units(i2t, t2i, txt_to_img)
    r_i2t = [100 * np.mean(i2t <= k) for k in (1, 5, 10)]
    r_t2i = [100 * np.mean(t2i <= k) for k in (1, 5, 10)]  # caption-level recall, as recall_at_k computes it
    got = paired_bootstrap(values, np.zeros_like(values), weights, n_resamples=200)
    assert got["value_a"] == pytest.approx(sum(r_i2t) + sum(r_t2i))
    assert got["mean_diff"] == pytest.approx(sum(r_i2t) + sum(r_t2i))


def test_paired_bootstrap_identical_models_and_bad_input():
    x = np.arange(10.0)
    r = paired_bootstrap(x, x, n_resamples=100)
    assert r["ci_low"] == r["ci_high"] == 0.0 and "identically" in r["note"]
    with pytest.raises(ValueError, match="same queries"):
        paired_bootstrap(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap(np.array([1.0, np.nan, 2.0]), np.zeros(3))
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap(x, x + 1, n_resamples=10)


def test_paired_bootstrap_covers_a_known_difference():
    """Per-query hits of two correlated models whose true recall differs by exactly 10 points: the 95 % interval
    must contain 10 in about 95 % of 150 independent test sets."""
    rng = np.random.default_rng(1)
    n, reps, truth = 150, 150, 10.0
    covered = 0
    for rep in range(reps):
        u = rng.random(n)
        a = 100.0 * (u < 0.6)  # P(hit) = 0.6
        b = 100.0 * (u < 0.5)  # P(hit) = 0.5, the same queries are hard for both (paired)
        noisy = rng.random(n) < 0.2  # some queries get an independent coin for b: P(hit) stays 0.5
        b[noisy] = 100.0 * (rng.random(noisy.sum()) < 0.5)
        r = paired_bootstrap(a, b, n_resamples=400, seed=rep)
        covered += r["ci_low"] <= truth <= r["ci_high"]
    assert 0.89 <= covered / reps <= 0.99, covered


def _runs(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"condition": c, "column": col, "method": m, "seed": s, "value": v}
                         for (c, col, m), vs in values.items() for s, v in zip(range(len(vs)), vs)])


def test_paired_table_holm_marker_and_verdict():
    df = _runs({("clean", "RSUM", "baseline"): B, ("clean", "RSUM", "sad-kl"): A,
                ("clean", "NDCG", "baseline"): [70.0, 70.2, 70.1, 69.9, 70.0],
                ("clean", "NDCG", "sad-kl"): [72.0, 72.3, 72.0, 71.9, 72.1]})
    t = paired_table(df)
    assert list(t["column"]) == ["RSUM", "NDCG"] and t.attrs["family_size"] == 2
    rsum = t.iloc[0]
    ref = paired_comparison(A, B)
    assert rsum["mean_diff"] == pytest.approx(ref["mean_diff"]) and rsum["p_ttest"] == pytest.approx(ref["p_ttest"])
    assert t["p_holm"].tolist() == pytest.approx(holm(t["p_ttest"]).tolist())
    assert bool(t.iloc[1]["significant"]) and t.iloc[1]["p_holm"] < 0.05
    assert format_cell(t.iloc[1]).endswith("]*") and format_cell(t.iloc[1]).startswith("+2.02 [")
    sentence = verdict_sentences(t)[0]
    assert sentence.startswith("clean, sad-kl vs baseline: better after Holm: NDCG +2.02 [")
    assert sentence.endswith("worse after Holm: nothing; not shown either way: RSUM +4.88.")
    assert paired_cells(t).loc[("clean", "sad-kl"), "NDCG"] == format_cell(t.iloc[1])
    assert "2 tested cells" in table_caption(t) and "5 seeds" in table_caption(t)
    verdict = method_verdicts(t)["sad-kl"]
    assert verdict == ("sad-kl: better than the baseline in 1 of 2 tested cells: NDCG (clean) +2.02; "
                       "not shown either way: RSUM (clean) +4.88.")


def test_paired_table_na_cells_with_reasons():
    df = _runs({("clean", "RSUM", "baseline"): [1.0, 2.0, 3.0], ("clean", "RSUM", "short"): [1.0, 2.0],
                ("clean", "RSUM", "nan"): [1.0, np.nan, 3.0], ("clean", "RSUM", "ok"): [2.0, 2.5, 4.5]})
    t = paired_table(df).set_index("method")
    assert t.loc["short", "note"] == "n/a: seeds differ (baseline 0, 1, 2; method 0, 1)"
    assert t.loc["nan", "note"] == "n/a: NaN metric on seed(s) 1"
    assert math.isnan(t.loc["short", "p_ttest"]) and math.isnan(t.loc["nan", "p_holm"])
    assert not t.loc["nan", "significant"] and t.attrs["family_size"] == 1
    assert format_cell(t.loc["nan"]) == "n/a (NaN metric on seed(s) 1)"
    one = paired_table(_runs({("clean", "RSUM", "baseline"): [1.0], ("clean", "RSUM", "x"): [3.0]}))
    assert one.iloc[0]["note"] == "n/a: 1 seed, no paired test (needs 2 or more)"
    assert format_cell(one.iloc[0]) == "+2.00, n/a (1 seed, no paired test (needs 2 or more))"
    assert "no test: RSUM (1 seed" in verdict_sentences(one)[0]


def test_paired_table_bad_input():
    df = _runs({("clean", "RSUM", "baseline"): [1.0, 2.0], ("clean", "RSUM", "x"): [1.0, 2.0]})
    with pytest.raises(ValueError, match="no rows of the baseline 'base'"):
        paired_table(df, baseline="base")
    with pytest.raises(ValueError, match="lacks column"):
        paired_table(df.drop(columns="seed"))
    dup = pd.concat([df, df.iloc[[0]]])
    with pytest.raises(ValueError, match="seed 0 appears more than once"):
        paired_table(dup)


def test_mean_spread_table_matches_numpy():
    df = pd.DataFrame({"method": ["a", "a", "a", "b", "b", "c"], "level": ["x"] * 6,
                       "value": [1.0, 2.0, 4.0, 3.0, 5.0, 7.0]})
    out = mean_spread_table(df)
    assert out["method"].tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(out["mean"], [7 / 3, 4.0, 7.0])
    np.testing.assert_allclose(out["std"][:2], [np.std([1, 2, 4], ddof=1), np.std([3, 5], ddof=1)])
    assert np.isnan(out["std"][2]) and out["n"].tolist() == [3, 2, 1]
    assert out["mean ± std"].tolist()[1:] == ["4.00 ± 1.41", "7.00"]
    with pytest.raises(ValueError, match="score"):
        mean_spread_table(df, value="score")
