"""Figure builders of the paired statistics, the fusion weight λ and the modality-gap geometry: every point drawn
is the number it stands for."""
import numpy as np
import pandas as pd
import pytest

from vlr_viz.stats import paired_table
from vlr_viz.viz import (alignment_uniformity_figure, lambda_severity_figure, modality_gap_figure,
                         paired_difference_figure)


def test_paired_difference_figure_draws_each_cell_with_its_interval_and_lists_na_cells():
    rows = [{"condition": "clean", "column": col, "method": m, "seed": s, "value": v}
            for col, base in (("RSUM", 100.0), ("NDCG", 70.0))
            for m, shift in (("baseline", 0.0), ("sad-kl", 2.0))
            for s, v in enumerate(base + shift + np.array([0.1, -0.2, 0.3]) * (1 + (m == "sad-kl")))]
    rows += [{"condition": "clean", "column": "RSUM", "method": "short", "seed": 0, "value": 1.0}]
    table = paired_table(pd.DataFrame(rows))
    fig = paired_difference_figure(table)
    drawn = {(tr.name, tr.xaxis): tr for tr in fig.data}
    rsum = table[(table.method == "sad-kl") & (table.column == "RSUM")].iloc[0]
    tr = drawn[("sad-kl", "x")]
    assert tr.x[0] == pytest.approx(rsum.mean_diff)
    assert tr.error_x.array[0] == pytest.approx(rsum.ci_high - rsum.mean_diff)
    assert tr.error_x.arrayminus[0] == pytest.approx(rsum.mean_diff - rsum.ci_low)
    assert tr.marker.symbol[0] == ("circle" if rsum.significant else "circle-open")
    assert "short" not in {t.name for t in fig.data}  # its cell has no test: listed, not drawn
    assert "n/a: clean · short · RSUM: seeds differ" in fig.layout.annotations[-1].text


def test_lambda_severity_figure_lines_per_reference_and_trained_points():
    sweep = pd.DataFrame([
        {"degraded": d, "level": lv, "kind": k, "severity": s, "reference": ref, "lam": lam}
        for d, k in (("image", "occlusion"), ("text", "word_replace"))
        for (lv, s), lam_l in zip((("clean", 0.0), ("moderate", 0.75)), (0.54, 0.62 if d == "image" else 0.45))
        for ref, lam in (("labels", lam_l), ("pairs", 0.5))])
    learned = pd.DataFrame({"degraded": ["none", "none", "image"], "level": ["clean", "clean", "moderate"],
                            "method": ["sad-kl"] * 3, "lam": [0.50, 0.52, 0.51]})
    fig = lambda_severity_figure(sweep, learned)
    labels = [t for t in fig.data if t.name == "reliability (labels)"]
    assert [list(t.y) for t in labels] == [[0.54, 0.62], [0.54, 0.45]]  # image panel, then text panel
    trained = [t for t in fig.data if t.name == "sad-kl (trained)"]
    assert list(trained[0].y) == pytest.approx([0.51, 0.51])  # clean: mean of 0.50 and 0.52; image moderate
    assert list(trained[1].y) == pytest.approx([0.51])  # text panel: only the clean runs
    with pytest.raises(ValueError, match="lacks column"):
        lambda_severity_figure(sweep.drop(columns="kind"))


def test_modality_gap_figure_reads_history_gap_and_shift_curves():
    history = {"epochs": [{"epoch": e, "stage": 1 if e <= 1 else 2, "val_modality_gap": g}
                          for e, g in enumerate([0.9, 0.7, 0.6])]}
    curve = pd.DataFrame({"shift": [0.0, 1.0], "gap": [0.6, 0.1], "rsum": [150.0, 120.0]})
    fig = modality_gap_figure({"baseline": history}, {"baseline": curve})
    assert list(fig.data[0].y) == [0.9, 0.7, 0.6] and list(fig.data[1].y) == [150.0, 120.0]
    with pytest.raises(ValueError, match="val_modality_gap"):
        modality_gap_figure({"baseline": {"epochs": [{"epoch": 0}]}}, {"baseline": curve})


def test_alignment_uniformity_figure_points_are_means_over_seeds():
    summary = pd.DataFrame({"condition": ["clean"] * 2, "method": ["baseline"] * 2, "alignment": [0.8, 1.0],
                            "uniformity_image": [-2.0, -3.0], "uniformity_text": [-1.0, -1.5]})
    fig = alignment_uniformity_figure(summary)
    img, txt = fig.data
    assert img.x[0] == pytest.approx(0.9) and img.y[0] == pytest.approx(-2.5) and txt.y[0] == pytest.approx(-1.25)
    assert img.error_y.array[0] == pytest.approx(np.std([-2.0, -3.0], ddof=1))
