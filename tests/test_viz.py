"""Figure builders: every trace carries the input data, checked against plain numpy / Python oracles."""
from __future__ import annotations

import re
import struct
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from vlr_viz import viz

from browser_servers import CLIPPED_FIGURE_TEXTS, browser  # noqa: F401 (browser: fixture)
from vlr_viz.imbalance import diagnostics
from vlr_viz.store.figures import png_cache_path
from vlr_viz.viz import geometry, relations, tables, thumbnails
from vlr_viz.viz.imbalance import imbalance_index_curve, modality_gap_bars, modality_strength_bars, strength_frame

LABEL_NAMES = ["cat A", "cat B", "cat C"]


def _sym(rng, n):
    x = rng.standard_normal((n, 5))
    return x @ x.T


def _oracle_order(labels):
    return sorted(range(len(labels)), key=lambda i: (labels[i] < 0, labels[i], i))


# --- palette ----------------------------------------------------------------------------------------------------

def test_palette_is_fixed_per_category_and_name():
    assert viz.category_color(2) == viz.CATEGORY_PALETTE[2]
    assert viz.category_color(2 + len(viz.CATEGORY_PALETTE)) == viz.CATEGORY_PALETTE[2]
    assert viz.category_color(-1) == viz.UNKNOWN_COLOR
    assert viz.series_color("Baseline") == viz.SERIES_COLORS["baseline"]
    assert viz.series_color("some run") == viz.series_color("some run")
    assert viz.series_color("teacher") != viz.series_color("student")


# --- relations --------------------------------------------------------------------------------------------------

def test_category_order_matches_plain_sort():
    labels = np.array([2, 0, -1, 1, 0, 2, -1, 1, 0])
    assert relations.category_order(labels).tolist() == _oracle_order(labels.tolist())
    assert relations.category_order(labels, "none").tolist() == list(range(9))
    perm = np.arange(9)[::-1]
    assert relations.category_order(labels, perm).tolist() == perm.tolist()
    with pytest.raises(ValueError, match="permutation"):
        relations.category_order(labels, [0, 0, 1, 2, 3, 4, 5, 6, 7])
    blocks = relations.category_blocks(labels[relations.category_order(labels)])
    assert blocks == [(0, 0, 3), (1, 3, 5), (2, 5, 7), (-1, 7, 9)]


def test_relation_heatmaps_carry_ordered_matrices_with_shared_row_scale(rng):
    labels = np.array([1, 0, 2, 0, 1, 2, 0, 1])
    n = labels.size
    mats = {nm: _sym(rng, n) for nm in ("R_v", "R_t", "E", "S_v", "S_t")}
    mats["S_vt"] = rng.standard_normal((n, n))
    fig = relations.relation_heatmaps(mats, labels, LABEL_NAMES, item_names=[f"item{i}" for i in range(n)])
    assert isinstance(fig, go.Figure)
    heat = {t.name: t for t in fig.data}
    assert list(heat) == ["R_v", "R_t", "E", "S_v", "S_t", "S_vt"]
    order = _oracle_order(labels.tolist())
    for nm, m in mats.items():
        expected = m[np.ix_(order, order)].astype(float)
        np.fill_diagonal(expected, np.nan)
        np.testing.assert_array_equal(np.asarray(heat[nm].z, dtype=float), expected)
    # one colour axis per row, spanning the off-diagonal entries of that row's matrices
    for axis, names in (("coloraxis", ("R_v", "R_t", "E")), ("coloraxis2", ("S_v", "S_t", "S_vt"))):
        off = np.concatenate([mats[nm][~np.eye(n, dtype=bool)] for nm in names])
        assert {heat[nm].coloraxis for nm in names} == {axis}
        assert fig.layout[axis].cmin == pytest.approx(off.min())
        assert fig.layout[axis].cmax == pytest.approx(off.max())
    # boundary lines: 2 per category change per panel; ticks name the categories in order
    assert len(fig.layout.shapes) == 2 * 2 * 6
    assert list(fig.layout.xaxis.ticktext) == LABEL_NAMES
    # hover names each row and column once, on the axes: "<index> · <name> (<category>)" in the matrix order
    tags = [f"{i} · item{i} ({LABEL_NAMES[labels[i]]})" for i in order]
    assert list(heat["R_v"].x) == tags and list(heat["R_v"].y) == tags and heat["R_v"].text is None
    assert "row %{y}" in heat["R_v"].hovertemplate and fig.layout.xaxis.type == "category"
    assert list(fig.layout.xaxis.tickvals) == [tags[(a + b - 1) // 2] for _, a, b in relations.category_blocks(
        labels[order])]


def test_relation_heatmaps_rejects_bad_input(rng):
    labels = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="'S_v'"):
        relations.relation_heatmaps({"S_v": np.zeros((4, 4))}, labels)
    with pytest.raises(ValueError, match="'R_t'"):
        relations.relation_heatmaps({"S_v": np.zeros((3, 3))}, labels, rows=[["R_t"]])
    with pytest.raises(ValueError, match="labels"):
        relations.relation_heatmaps({"S_v": np.zeros((3, 3))}, np.array([0.5, 1, 2]))


def test_relation_drift_heatmap_is_after_minus_before(rng):
    labels = np.array([2, 0, 1, 0, 2, 1, 1])
    n = labels.size
    before, after = _sym(rng, n), _sym(rng, n)
    fig = relations.relation_drift_heatmap(before, after, labels, LABEL_NAMES, name="S_t")
    order = _oracle_order(labels.tolist())
    expected = (after - before)[np.ix_(order, order)]
    np.fill_diagonal(expected, np.nan)
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z, expected, equal_nan=True)
    assert fig.data[0].zmid == 0 and fig.data[0].zmin == -fig.data[0].zmax
    assert fig.data[0].zmax == pytest.approx(np.nanmax(np.abs(expected)))
    off = ~np.eye(n, dtype=bool)
    assert fig.layout.meta["mean_abs_change"] == pytest.approx(np.abs(after - before)[off].mean())
    full = relations.relation_drift_heatmap(before, after, labels, mask_diagonal=False, order="none")
    np.testing.assert_allclose(np.asarray(full.data[0].z, dtype=float), after - before)


# --- geometry ---------------------------------------------------------------------------------------------------

def test_procrustes_recovers_rotation_scale_translation(rng):
    x = rng.standard_normal((40, 2))
    th = 1.1
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    moved = 3.5 * x @ rot + np.array([10.0, -4.0])
    np.testing.assert_allclose(geometry.procrustes_align(x, moved), x, atol=1e-10)
    mirrored = moved * np.array([-1.0, 1.0])
    np.testing.assert_allclose(geometry.procrustes_align(x, mirrored), x, atol=1e-10)
    rot_only = geometry.procrustes_align(x, mirrored, reflection=False)
    assert np.abs(rot_only - x).max() > 0.1  # a reflection cannot be undone by a rotation
    same_scale = geometry.procrustes_align(x, moved, scaling=False)
    np.testing.assert_allclose(np.linalg.norm(same_scale - same_scale.mean(0)),
                               np.linalg.norm(moved - moved.mean(0)))
    with pytest.raises(ValueError, match="same shape"):
        geometry.procrustes_align(x, x[:5])


def test_procrustes_matches_scipy_disparity(rng):
    from scipy.spatial import procrustes

    x, y = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    aligned = geometry.procrustes_align(x, y)
    _, _, disparity = procrustes(x, y)
    xc = x - x.mean(0)
    assert np.sum((aligned - x) ** 2) / np.sum(xc ** 2) == pytest.approx(disparity, rel=1e-9)


def test_project_2d_pca_matches_svd_and_caches(tmp_path, rng, monkeypatch):
    emb = rng.standard_normal((50, 6)).astype(np.float32)
    out = geometry.project_2d(emb, method="pca", cache_dir=tmp_path)
    z = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    zc = z - z.mean(0)
    _, _, vt = np.linalg.svd(zc.astype(np.float64), full_matrices=False)
    ref = zc @ vt[:2].T
    np.testing.assert_allclose(np.abs(out), np.abs(ref), atol=1e-5)
    assert out.dtype == np.float32 and out.shape == (50, 2)
    assert len(list(tmp_path.glob("proj2d-pca-*.npy"))) == 1

    def boom(_):
        raise AssertionError("cache miss: the projection was recomputed")

    monkeypatch.setattr(geometry, "_pca_2d", boom)
    again = geometry.project_2d(emb, method="pca", cache_dir=tmp_path)
    np.testing.assert_array_equal(again, out)
    with pytest.raises(AssertionError, match="cache miss"):  # other content, other key
        geometry.project_2d(emb + 1, method="pca", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="method"):
        geometry.project_2d(emb, method="tsne")


@pytest.mark.slow
def test_project_2d_umap_small_real_features(tmp_path):
    from vlr_viz.data import load_twemoji
    from vlr_viz.features import load_features
    from vlr_viz.store.arrays import array_cache

    pairs = load_twemoji("val", cache=array_cache()).subset(np.arange(150))
    feats = load_features(pairs, progress=False).text
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = geometry.project_2d(feats, method="umap", seed=3, cache_dir=tmp_path)
    shown = [w for w in caught if not issubclass(w.category, ImportWarning)]  # Python's default filters hide those
    from_umap = [f"{w.filename}: {w.message}" for w in shown if "umap" in w.filename or "n_jobs" in str(w.message)]
    assert not from_umap, from_umap  # a seeded UMAP runs on one thread: nothing to warn about in a notebook
    b = geometry.project_2d(feats, method="umap", seed=3)
    assert a.shape == (150, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)  # fixed random_state: deterministic
    np.testing.assert_array_equal(geometry.project_2d(feats, method="umap", seed=3, cache_dir=tmp_path), a)


def _panel(rng, n, m, d=8):
    return {"img": rng.standard_normal((n, d)), "txt": rng.standard_normal((m, d))}


def test_common_space_figure_places_items_at_their_projections(rng):
    n = 12
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, -1])
    t2i = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11])
    m = t2i.size
    captions = [f"caption {j}" for j in range(m)]
    chars = ["😀"] * n
    before, after = _panel(rng, n, m), _panel(rng, n, m)
    thumbs = np.full((n, 8, 8, 3), 200, dtype=np.uint8)
    fig = geometry.common_space_figure(before, after, labels, LABEL_NAMES, captions, thumbnails=thumbs,
                                       method="pca", show_links=True, txt_to_img=t2i, chars=chars,
                                       n_thumbnails=5)
    lay_b = geometry.project_2d(np.vstack([before["img"], before["txt"]]), method="pca")
    lay_a = geometry.procrustes_align(lay_b, geometry.project_2d(np.vstack([after["img"], after["txt"]]),
                                                                 method="pca"))
    for t in fig.data:
        if not t.meta or "modality" not in t.meta:
            continue
        lay = (lay_b, lay_a)[t.meta["panel"]]
        idx = np.asarray(t.customdata, dtype=int)
        rows = idx if t.meta["modality"] == "image" else n + idx
        np.testing.assert_allclose(np.c_[t.x, t.y], lay[rows], atol=1e-5)
        expected = np.flatnonzero((labels if t.meta["modality"] == "image" else labels[t2i]) == t.meta["category"])
        assert idx.tolist() == expected.tolist()
        assert t.marker.symbol == ("circle" if t.meta["modality"] == "image" else "diamond-open")
        assert t.marker.color == viz.category_color(t.meta["category"])
    img0 = next(t for t in fig.data if t.meta and t.meta.get("modality") == "image" and t.meta["category"] == 0)
    assert "😀" in img0.text[0] and "caption 0" in img0.text[0] and "cat A" in img0.text[0]
    links = [t for t in fig.data if t.name == "image → caption"]
    assert len(links) == 2
    seg = np.c_[links[0].x, links[0].y]
    np.testing.assert_allclose(seg[0::3], lay_b[t2i], atol=1e-5)
    np.testing.assert_allclose(seg[1::3], lay_b[n:], atol=1e-5)
    assert len(fig.layout.images) == 2 * 5 and fig.layout.images[0].source.startswith("data:image/png;base64,")
    assert all(isinstance(t, go.Scatter) for t in fig.data)
    gl = geometry.common_space_figure(before, None, labels, txt_to_img=t2i, method="pca", webgl_threshold=10)
    assert any(isinstance(t, go.Scattergl) for t in gl.data)
    with pytest.raises(ValueError, match="txt_to_img"):
        geometry.common_space_figure(before, after, labels, method="pca")


def test_who_moved_most_ranks_planted_item_first(rng):
    centres = rng.standard_normal((4, 16)) * 4
    labels = np.repeat(np.arange(4), 15)
    before = centres[labels] + rng.standard_normal((60, 16))
    after = before.copy()
    planted = 7  # an item of cluster 0 moves into cluster 3
    after[planted] = centres[3] + rng.standard_normal(16)
    k = 5
    df = geometry.who_moved_most(before, after, k=k, top=10, names=[f"n{i}" for i in range(60)], labels=labels,
                                 label_names=["a", "b", "c", "d"])
    assert df.iloc[0]["item"] == planted and df.iloc[0]["name"] == "n7" and df.iloc[0]["category"] == "a"
    assert df.iloc[0]["moved"] == 1.0
    assert list(df["moved"]) == sorted(df["moved"], reverse=True) and len(df) == 10

    def knn(x, i):
        z = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = z @ z[i]
        s[i] = -np.inf
        return set(np.argsort(-s, kind="stable")[:k].tolist())

    oracle = np.array([len(knn(before, i) & knn(after, i)) / k for i in range(60)])
    np.testing.assert_allclose(diagnostics.knn_overlap_per_item(before, after, k), oracle)
    with pytest.raises(ValueError, match="same items"):
        geometry.who_moved_most(before, after[:10])


# --- imbalance --------------------------------------------------------------------------------------------------

def test_modality_strength_bars_show_group_means_and_relevance():
    df = pd.DataFrame({
        "model": ["teacher", "teacher", "student", "student", "student", "student"],
        "modality": ["image", "text", "image", "image", "text", "text"],
        "metric": "ndcg@10", "relevance": "category",
        "value": [60.0, 70.0, 50.0, 54.0, 64.0, 66.0],
    })
    fig = modality_strength_bars(df)
    bars = {t.name: t for t in fig.data}
    assert list(bars["teacher"].y) == [60.0, 70.0]
    assert list(bars["student"].y) == [52.0, 65.0]
    assert list(bars["student"].error_y.array) == pytest.approx([np.std([50, 54], ddof=1), np.std([64, 66], ddof=1)])
    assert bars["student"].marker.color == viz.series_color("student")
    assert "category relevance" in fig.layout.yaxis.title.text and "ndcg@10" in fig.layout.yaxis.title.text
    mixed = pd.concat([df, df.assign(relevance="rouge-l")])
    with pytest.raises(ValueError, match="relevance"):
        modality_strength_bars(mixed)
    assert list(modality_strength_bars(mixed, relevance="rouge-l").data[0].y) == [60.0, 70.0]
    with pytest.raises(ValueError, match="modality"):
        modality_strength_bars(df.drop(columns="modality"))


def test_strength_frame_reads_diagnose_output():
    diag = {"strength": {"teacher_image": {"ndcg@10": 61.0, "knn_accuracy": 70.0},
                         "teacher_text": {"ndcg@10": 55.0, "knn_accuracy": 66.0},
                         "student_image": {"ndcg@10": 58.0, "knn_accuracy": 68.0},
                         "student_text": {"ndcg@10": 57.0, "knn_accuracy": 65.0}}}
    df = strength_frame(diag, model="rebalanced")
    assert len(df) == 8
    row = df[(df.model == "rebalanced") & (df.modality == "text") & (df.metric == "knn_accuracy")]
    assert row["value"].item() == 65.0
    fig = modality_strength_bars(df, metric="ndcg@10")
    assert {t.name: list(t.y) for t in fig.data} == {"teacher": [61.0, 55.0], "rebalanced": [58.0, 57.0]}


def test_imbalance_index_curve_one_line_per_kind_and_model():
    rows = []
    for kind, sign in (("blur", -1), ("word_dropout", 1)):
        for model in ("teacher", "student"):
            for s in (0.0, 0.5, 1.0):
                for seed in (0, 1):
                    rows.append({"kind": kind, "model": model, "severity": s, "seed": seed,
                                 "value": sign * s * (0.4 if model == "teacher" else 0.2) + 0.01 * seed})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter
    fig = imbalance_index_curve(df)
    lines = {t.name: t for t in fig.data}
    assert set(lines) == {"blur · teacher", "blur · student", "word_dropout · teacher", "word_dropout · student"}
    t = lines["word_dropout · teacher"]
    assert list(t.x) == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(t.y, [0.005, 0.205, 0.405])
    assert lines["blur · teacher"].line.color == viz.series_color("blur")
    assert lines["blur · teacher"].line.dash != lines["blur · student"].line.dash
    lo, hi = fig.layout.yaxis.range
    assert lo == -hi and hi > 0.405
    texts = {a.text for a in fig.layout.annotations}
    assert "▲ text weaker" in texts and "▼ image weaker" in texts
    assert any(s.y0 == 0 and s.y1 == 0 for s in fig.layout.shapes)


def test_modality_gap_bars_from_dict_and_frame():
    fig = modality_gap_bars({"baseline": 0.8, "rebalanced": 0.6})
    assert [(t.name, list(t.y)) for t in fig.data] == [("baseline", [0.8]), ("rebalanced", [0.6])]
    df = pd.DataFrame({"model": ["baseline"] * 2 + ["rebalanced"] * 2, "condition": ["clean", "blur"] * 2,
                       "value": [0.8, 0.9, 0.6, 0.7]})
    fig = modality_gap_bars(df)
    assert list(fig.data[1].x) == ["clean", "blur"] and list(fig.data[1].y) == [0.6, 0.7]


# --- tables -----------------------------------------------------------------------------------------------------

def _eval_rows(model, values, seeds=(0,)):
    rows = []
    for seed in seeds:
        for (task, metric, rel), v in values.items():
            rows.append({"model": model, "task": task, "metric": metric, "relevance": rel, "seed": seed,
                         "value": v + seed})
    return pd.DataFrame(rows)


def test_retrieval_table_deltas_and_direction():
    base = {("i2t", "R@1", None): 30.0, ("i2t", "medr", None): 4.0, ("i2i", "ndcg@10", "category"): 50.0}
    reb = {("i2t", "R@1", None): 32.5, ("i2t", "medr", None): 3.0, ("i2i", "ndcg@10", "category"): 49.0}
    t = tables.retrieval_table(_eval_rows("baseline", base), _eval_rows("rebalanced", reb))
    assert list(t.columns) == ["baseline", "rebalanced", "Δ", "better"]
    assert t["Δ"].tolist() == [2.5, -1.0, -1.0]
    assert t["better"].tolist() == [True, True, False]  # medr improves downwards
    base2 = {("i2t", "median_rank", None): 4.0}
    t2 = tables.retrieval_table(_eval_rows("b", base2), _eval_rows("r", {("i2t", "median_rank", None): 3.0}))
    assert t2["better"].tolist() == [True]
    seeds = tables.retrieval_table(_eval_rows("b", base, seeds=(0, 1, 2)), _eval_rows("r", reb, seeds=(0, 1)))
    assert seeds["baseline"].tolist() == [31.0, 5.0, 51.0] and seeds["rebalanced"].tolist() == [33.0, 3.5, 49.5]
    assert seeds["baseline std"].tolist() == [1.0, 1.0, 1.0] and seeds["n"].tolist() == ["3/2"] * 3
    styled = tables.retrieval_table(_eval_rows("b", base), _eval_rows("r", reb), styled=True)
    html = styled.to_html()
    assert tables.IMPROVED.lower() in html.lower() and "+2.50" in html
    with pytest.raises(ValueError, match="several models"):
        tables.retrieval_table(pd.concat([_eval_rows("a", base), _eval_rows("b", base)]), _eval_rows("r", reb))


def test_retrieval_table_figure_cells():
    base = {("i2t", "R@1", None): 30.0, ("t2i", "R@1", None): 20.0}
    reb = {("i2t", "R@1", None): 31.0, ("t2i", "R@1", None): 19.5}
    fig = tables.retrieval_table_figure(_eval_rows("b", base), _eval_rows("r", reb))
    tbl = fig.data[0]
    header = [h.replace("<b>", "").replace("</b>", "") for h in tbl.header.values]
    assert header == ["task", "metric", "relevance", "baseline", "rebalanced", "Δ"]
    cells = dict(zip(header, tbl.cells.values))
    assert list(cells["Δ"]) == ["+1.00", "-0.50"]
    assert list(cells["task"]) == ["i2t", "t2i"]
    assert list(tbl.cells.fill.color[5]) == [tables.IMPROVED, tables.WORSENED]


def test_method_comparison_figure_points_are_group_means_with_sample_std(rng):
    df = pd.DataFrame([dict(condition=c, method=m, column=col, seed=s, value=float(rng.normal(50, 5)))
                       for c in ("clean", "text weak") for m in ("baseline", "sad-kl") for col in ("RSUM", "NDCG")
                       for s in range(3)])
    fig = tables.method_comparison_figure(df)
    assert [t.name for t in fig.data] == ["baseline", "sad-kl", "baseline", "sad-kl"]
    assert [t.showlegend for t in fig.data] == [True, True, False, False]
    for trace, (col, method) in zip(fig.data, [("RSUM", "baseline"), ("RSUM", "sad-kl"), ("NDCG", "baseline"),
                                              ("NDCG", "sad-kl")]):
        for x, y, e in zip(trace.x, trace.y, trace.error_y.array):
            values = df[(df.column == col) & (df.method == method) & (df.condition == x)].value.to_numpy()
            assert y == pytest.approx(values.mean()) and e == pytest.approx(values.std(ddof=1))
        lo, hi = fig.layout[trace.yaxis.replace("y", "yaxis")].range
        assert lo < min(np.array(trace.y) - np.array(trace.error_y.array))
        assert hi > max(np.array(trace.y) + np.array(trace.error_y.array))


# --- thumbnails, export -----------------------------------------------------------------------------------------

def test_png_data_uri_round_trip(rng):
    img = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    uri = thumbnails.png_data_uri(img)
    np.testing.assert_array_equal(thumbnails.decode_data_uri(uri), img)
    small = thumbnails.decode_data_uri(thumbnails.png_data_uri(np.zeros((72, 36, 3), np.uint8), size=24))
    assert small.shape == (24, 12, 3)
    assert len(thumbnails.thumbnail_uris(np.zeros((5, 4, 4, 3), np.uint8), [0, 3])) == 2
    with pytest.raises(TypeError, match="uint8"):
        thumbnails.png_data_uri(img.astype(np.float32))
    with pytest.raises(ValueError, match="indices"):
        thumbnails.thumbnail_uris(np.zeros((5, 4, 4, 3), np.uint8), [7])


def _png_size(path):
    head = open(path, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.skipif(viz.find_browser() is None, reason="no Chrome/Chromium for kaleido on this machine")
def test_save_png_writes_scaled_png_atomically(tmp_path):
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    out = viz.save_png(fig, tmp_path / "sub" / "bars.png", scale=2, width=300, height=200)
    assert _png_size(out) == (600, 400)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["bars.png"]  # no temporary left behind


@pytest.mark.skipif(viz.find_browser() is None, reason="no Chrome/Chromium for kaleido on this machine")
def test_cached_pngs_are_read_back_without_a_browser_and_keyed_by_the_figure(tmp_path, monkeypatch):
    from vlr_viz.viz import export

    monkeypatch.setenv("VLR_VIZ_CACHE", str(tmp_path / "cache"))
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    first = export.figure_png_bytes(fig, width=300, height=200, cached=True)
    assert first == png_cache_path(fig, 300, 200, 1.0).read_bytes() and _png_size_of(first) == (300, 200)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))  # a render would fail now
    assert export.figure_png_bytes(go.Figure(go.Bar(x=["a", "b"], y=[1, 2])), width=300, height=200,
                                   cached=True) == first
    for other in (dict(fig=go.Figure(go.Bar(x=["a", "b"], y=[1, 3])), width=300, height=200),
                  dict(fig=fig, width=301, height=200)):
        with pytest.raises(RuntimeError, match="BROWSER_PATH"):
            export.figure_png_bytes(**other, cached=True)
    path = png_cache_path(fig, 300, 200, 1.0)
    path.write_bytes(first[:-20])  # not a whole PNG: rendered again
    with pytest.raises(RuntimeError, match="BROWSER_PATH"):
        export.figure_png_bytes(fig, width=300, height=200, cached=True)


def _png_size_of(data: bytes):
    return struct.unpack(">II", data[16:24])


def test_save_png_reports_missing_browser(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))
    with pytest.raises(RuntimeError, match="BROWSER_PATH"):
        viz.save_png(go.Figure(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --- drift (training histories) ---------------------------------------------------------------------------------

def _average_ranks(x):
    """Ranks from 0, tied values sharing the mean of their ranks (float32 relations do tie)."""
    ranks = np.empty(len(x))
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
    _, group, size = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(group, weights=ranks) / size)[group]


def _spearman_oracle(a, b):
    return np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1]


@pytest.fixture(scope="module")
def histories():
    """Two tiny real runs (matching-only baseline, structure-aware) on 300 Twemoji validation pairs."""
    from threadpoolctl import threadpool_limits

    from vlr_viz.data import load_twemoji
    from vlr_viz.features import load_features
    from vlr_viz.store.arrays import array_cache
    from vlr_viz.train import PairFeatures, TrainConfig, fit
    from vlr_viz.train.threads import torch_threads

    pairs = load_twemoji("val", cache=array_cache()).subset(np.arange(300))
    feats = load_features(pairs, progress=False)
    in_val = pairs.family % 3 == 0
    split = {}
    for name, mask in (("train", ~in_val), ("val", in_val)):
        idx = np.flatnonzero(mask)
        sub = pairs.subset(idx)
        split[name] = PairFeatures(feats.image[idx], feats.text[idx], sub.txt_to_img, labels=sub.labels, name=name)
    with torch_threads(1), threadpool_limits(limits=1):
        return {method: fit(TrainConfig(method=method, epochs_stage1=2, epochs_stage2=3, batch_size=32, hidden=256,
                                        embed_dim=64, snapshot_every=1, n_probe=16), split["train"],
                            split["val"], progress=False).history
                for method in ("baseline", "sad")}


def test_history_adapter_reads_train_history(histories):
    from vlr_viz.viz import drift

    h = histories["sad"]
    frame = drift.history_frame(h)
    assert frame["epoch"].tolist() == [0, 1, 2, 3, 4, 5]
    assert frame["lambda"].tolist() == pytest.approx([e["lam"] for e in h.epochs])
    assert drift.stage_boundary(h) == 2.5
    raw, weighted = drift.loss_columns(frame)
    assert set(raw) == {"match_loss", "rep_img_loss", "rep_txt_loss", "kd_loss", "kd_v_loss", "kd_t_loss"}
    assert set(weighted) == {"w_" + r for r in raw}
    assert sorted(drift.history_snapshots(h)) == [0, 1, 2, 3, 4, 5]
    # the same through a plain dict (e.g. history.json loaded by hand)
    as_dict = {"epochs": h.epochs, "snapshots": h.snapshots}
    pd.testing.assert_frame_equal(drift.history_frame(as_dict), frame)
    with pytest.raises(TypeError, match="history"):
        drift.history_frame(42)


def test_relation_drift_curves_match_numpy(histories):
    from vlr_viz.viz import drift

    fig = drift.relation_drift_curves({"baseline": histories["baseline"], "rebalanced": histories["sad"]})
    assert isinstance(fig, go.Figure)
    for run, h in (("baseline", histories["baseline"]), ("rebalanced", histories["sad"])):
        tau2 = {e["epoch"]: e["tau2"] for e in h.epochs}
        for modality, (s_name, r_name) in (("image", ("S_v", "R_v")), ("text", ("S_t", "R_t"))):
            mae, rho = [], []
            for epoch, snap in sorted(h.snapshots.items()):
                s, r = snap[s_name].astype(float), snap[r_name].astype(float)
                off = ~np.eye(s.shape[0], dtype=bool)
                mae.append(np.abs(s - r)[off].mean() * tau2[epoch])
                rho.append(_spearman_oracle(s[off], r[off]))  # every i != j: S need not be bit-symmetric
            traces = {t.meta["metric"]: t for t in fig.data
                      if t.meta and t.meta.get("run") == run and t.meta.get("modality") == modality}
            np.testing.assert_allclose(traces["mae"].y, mae, rtol=1e-5)
            np.testing.assert_allclose(traces["spearman"].y, rho, rtol=1e-6)
            assert traces["mae"].line.color == viz.series_color(run)
        lam = next(t for t in fig.data if t.meta and t.meta.get("run") == run and t.meta.get("param") == "lambda")
        assert list(lam.y) == pytest.approx([e["lam"] for e in h.epochs])
        tau2_trace = next(t for t in fig.data if t.meta and t.meta.get("run") == run and t.meta.get("param") == "tau2")
        assert tau2_trace.yaxis != lam.yaxis  # τ, τ2 on the secondary (log) axis
    # the stage boundary is marked in each of the 3 rows (mae, spearman, λ/τ/τ2)
    assert [s.x0 for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1] == [2.5] * 3
    only = drift.relation_drift_curves({"x": histories["sad"]}, metric="spearman")
    assert {t.meta.get("metric") for t in only.data if t.meta and "metric" in t.meta} == {"spearman"}
    with pytest.raises(ValueError, match="metric"):
        drift.relation_drift_curves({"x": histories["sad"]}, metric="l2")


def test_relation_drift_curves_hand_worked_history():
    from vlr_viz.viz import drift

    s = np.array([[1.0, 0.2, 0.4], [0.2, 1.0, 0.9], [0.4, 0.9, 1.0]])
    r = np.array([[1.0, 0.1, 0.5], [0.1, 1.0, 0.3], [0.5, 0.3, 1.0]])
    hist = {"epochs": [{"epoch": 1, "stage": 1, "lam": 0.5, "tau2": 0.5},
                       {"epoch": 2, "stage": 2, "lam": 0.6, "tau2": 0.5}],
            "snapshots": {2: {"S_v": s / 0.5, "R_v": r / 0.5}}}
    fig = drift.relation_drift_curves({"run": hist}, metric="mae")
    t = next(t for t in fig.data if t.meta and t.meta.get("metric") == "mae")
    # off-diagonal |S - R| on the cosine scale: (0.1 + 0.1 + 0.6) * 2 / 6
    assert list(t.x) == [2] and t.y[0] == pytest.approx(0.8 / 3)
    assert drift.stage_boundary(hist) == 1.5


def test_loss_curves_carry_raw_and_weighted_terms(histories):
    from vlr_viz.viz import drift

    h = histories["sad"]
    fig = drift.loss_curves(h)
    by_column = {t.meta["column"]: t for t in fig.data if t.meta}
    for column in ("match_loss", "kd_loss", "w_kd_loss", "loss"):  # kd only in stage 2; nothing at epoch 0
        expected = [e.get(column, np.nan) for e in h.epochs]
        np.testing.assert_allclose(np.asarray(by_column[column].y, dtype=float), expected, equal_nan=True)
    assert np.isnan(by_column["kd_loss"].y[1]) and not np.isnan(by_column["kd_loss"].y[3])
    assert by_column["w_kd_loss"].meta["weighted"] and not by_column["kd_loss"].meta["weighted"]
    assert by_column["kd_loss"].line.color == by_column["w_kd_loss"].line.color == viz.series_color("kd_loss")
    assert by_column["kd_loss"].yaxis == "y" and by_column["w_kd_loss"].yaxis == "y2"
    with pytest.raises(ValueError, match="loss-term"):
        drift.loss_curves({"epochs": [{"epoch": 1, "lam": 0.5}]})


def test_snapshot_heatmaps_order_probe_by_category(histories):
    from vlr_viz.viz import drift

    h = histories["sad"]
    fig = drift.snapshot_heatmaps(h, epoch=3)
    labels = np.asarray(h.probe["labels"])
    order = _oracle_order(labels.tolist())
    z = np.asarray(next(t for t in fig.data if t.name == "S_t").z, dtype=float)
    expected = h.snapshots[3]["S_t"].astype(float)[np.ix_(order, order)]
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_allclose(z, expected, equal_nan=True)
    with pytest.raises(ValueError, match="epoch 99"):
        drift.snapshot_heatmaps(h, epoch=99)



def test_delta_that_shows_as_zero_is_not_coloured():
    """A Δ printed as -0.00 or +0.00 at the table's decimals tells no direction: no colour, in the figure and in
    the styled table; a Δ of +0.01 after rounding (or -1.00) is coloured by its direction."""
    base = {("i2t", "R@1", None): 30.0, ("t2i", "R@1", None): 20.0, ("i2t", "R@5", None): 60.0,
            ("t2i", "R@5", None): 50.0}
    reb = {("i2t", "R@1", None): 29.996, ("t2i", "R@1", None): 20.003, ("i2t", "R@5", None): 60.006,
           ("t2i", "R@5", None): 49.0}
    a, b = _eval_rows("b", base), _eval_rows("r", reb)
    fig = tables.retrieval_table_figure(a, b)
    cells = dict(zip([h.replace("<b>", "").replace("</b>", "") for h in fig.data[0].header.values],
                     fig.data[0].cells.values))
    assert list(cells["Δ"]) == ["-0.00", "+0.00", "+0.01", "-1.00"]
    assert list(fig.data[0].cells.fill.color[5]) == ["white", "white", tables.IMPROVED, tables.WORSENED]
    html = tables.retrieval_table(a, b, styled=True).to_html()
    tinted = {}
    for selectors, colour in re.findall(r"([^{}]+)\{\s*background-color: (#[0-9A-Fa-f]+);", html):
        for row in re.findall(r"_row(\d+)_col\d+", selectors):
            tinted[int(row)] = colour
    assert tinted == {2: tables.IMPROVED, 3: tables.WORSENED}
    three = tables.retrieval_table_figure(a, b, decimals=3)  # at three decimals the small ones show and are coloured
    assert list(three.data[0].cells.fill.color[5]) == [tables.WORSENED, tables.IMPROVED, tables.IMPROVED,
                                                       tables.WORSENED]


LEGEND_SCROLLBAR = """() => {
    const bar = document.querySelector('.legend .scrollbar');
    return bar ? bar.getBoundingClientRect().height : 0;
}"""


@pytest.mark.browser
def test_the_common_space_legend_of_many_categories_is_whole(browser, tmp_path):  # noqa: F811
    """22 categories (OpenClipArt's count): in Chromium every legend entry lies inside the legend box, with no
    scrollbar (a PNG export would cut the entries a scrollbar hides). Synthetic clustered points: only the layout is
    under test."""
    rng = np.random.default_rng(0)
    labels = np.arange(220) % 22
    img = rng.normal(size=(220, 8)) + labels[:, None] * 0.3
    txt = img + 0.1 * rng.normal(size=img.shape)
    fig = viz.common_space_figure({"img": img, "txt": txt}, {"img": img, "txt": txt}, labels,
                                  [f"category {c}" for c in range(22)], [f"c{i}" for i in range(220)], method="pca",
                                  txt_to_img=np.arange(220))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    fig.write_html(tmp_path / "legend.html", include_plotlyjs=True)
    page.goto((tmp_path / "legend.html").as_uri())
    page.wait_for_selector(".legend .traces")
    scrollbar, clipped = page.evaluate(LEGEND_SCROLLBAR), page.evaluate(CLIPPED_FIGURE_TEXTS)
    page.close()
    assert scrollbar == 0 and clipped == [], (scrollbar, clipped)
