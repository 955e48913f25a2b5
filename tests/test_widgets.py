"""The imbalance explorer: pure state → result functions on real Twemoji teacher features, and the widget
driven by setting control values."""
from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import replace

import numpy as np
import pytest

import vlr_viz.widgets as ex
from vlr_viz.widgets import (ExplorerState, FeatureGrid, ImbalanceExplorer, TrainedStudent, build_feature_grid,
                             metrics_html, metrics_table, probe_indices, run_state)
from vlr_viz.widgets.views import PLOTLY_MIMETYPE


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def least_squares_student(split, state, dim: int = 64, ridge: float = 1e-2):
    """A cheap but real student: the top-``dim`` principal directions of the concatenated (centred, normalised)
    image and caption teacher features of each training pair form a shared target; each tower is the ridge
    regression of its modality onto it. It ignores the structure weight and the student relation."""
    a, b = _unit(split["image"]), _unit(split["text"])
    pa = a[split["txt_to_img"]]
    mu_a, mu_b = pa.mean(0), b.mean(0)
    z = np.hstack([pa - mu_a, b - mu_b])
    eigval, eigvec = np.linalg.eigh(z @ z.T)  # Gram form: pairs << feature dims
    top = np.argsort(eigval)[::-1][:dim]
    y = eigvec[:, top] * np.sqrt(np.maximum(eigval[top], 0.0))  # principal-component scores U·Σ

    def ridge_map(x):  # dual form of ridge regression: xᵀ (x xᵀ + ridge I)⁻¹ y
        return x.T @ np.linalg.solve(x @ x.T + ridge * np.eye(x.shape[0]), y)

    w_v, w_t = ridge_map(pa - mu_a), ridge_map(b - mu_b)

    def encode(img, txt):
        return (_unit((_unit(img) - mu_a) @ w_v).astype(np.float32),
                _unit((_unit(txt) - mu_b) @ w_t).astype(np.float32))

    return TrainedStudent(encode=encode)


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Small dense algebra runs fastest single-threaded on a shared machine (no BLAS oversubscription)."""
    from threadpoolctl import threadpool_limits

    from vlr_viz.train.threads import torch_threads

    with torch_threads(1), threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def grids():
    """Real teacher features of 300 Twemoji validation pairs, clean, blurred and with word dropout; split by
    emoji family into training and evaluation parts."""
    from vlr_viz.data import load_twemoji
    from vlr_viz.features import load_features
    from vlr_viz.store.arrays import array_cache

    pairs = load_twemoji("val", cache=array_cache()).subset(np.arange(300))
    grid = build_feature_grid(pairs, lambda p: load_features(p, progress=False), image_levels={"blur": [1.0]},
                              text_levels={"word_dropout": [0.25, 0.75]})
    in_eval = pairs.family % 3 == 0
    return grid.subset(np.flatnonzero(~in_eval), "train"), grid.subset(np.flatnonzero(in_eval), "eval")


class CountingTrainFn:
    def __init__(self, fn=least_squares_student):
        self.fn, self.states = fn, []

        self.students = []

    def __call__(self, split, state):
        self.states.append(state)
        self.students.append(self.fn(split, state))
        return self.students[-1]


# --- pure parts -------------------------------------------------------------------------------------------------

def test_probe_indices_round_robin_over_categories():
    labels = np.array([1, 1, 0, 2, 1, 0, -1, 2, 1, 0])
    # round 0: first of cat 0 (2), cat 1 (0), cat 2 (3); round 1: 5, 1, 7; round 2: 9, 4; then 8; unknown last
    oracle = []
    queues = {c: [i for i in range(10) if labels[i] == c] for c in (0, 1, 2)}
    while any(queues.values()):
        for c in (0, 1, 2):
            if queues[c]:
                oracle.append(queues[c].pop(0))
    oracle.append(6)
    for size in (3, 5, 8, 10):
        assert probe_indices(labels, size).tolist() == sorted(oracle[:size])
    with pytest.raises(ValueError, match="probe_size"):
        probe_indices(labels, 2)


def test_feature_grid_validates_and_serves_levels(rng):
    clean_i, clean_t = rng.standard_normal((4, 3)), rng.standard_normal((5, 2))
    kw = dict(txt_to_img=[0, 1, 2, 3, 3], labels=[0, 1, 0, 1], label_names=["a", "b"])
    with pytest.raises(ValueError, match="clean entry"):
        FeatureGrid(image={("blur", 0.5): clean_i}, text={("none", 0.0): clean_t}, **kw)
    with pytest.raises(ValueError, match=r"\('blur', 0.5\)"):
        FeatureGrid(image={("none", 0.0): clean_i, ("blur", 0.5): clean_i[:3]}, text={("none", 0.0): clean_t}, **kw)
    grid = FeatureGrid(image={("none", 0.0): clean_i, ("blur", 0.5): clean_i + 1}, text={("none", 0.0): clean_t},
                       **kw)
    assert grid.kinds("image") == ["none", "blur", "feature_noise"]
    assert grid.severities("image", "blur") == [0.5]
    np.testing.assert_array_equal(grid.features("image", "blur", 0.5), (clean_i + 1).astype(np.float32))
    from vlr_viz.imbalance import feature_noise

    noisy = grid.features("text", "feature_noise", 0.3, seed=4)
    np.testing.assert_array_equal(noisy, feature_noise(clean_t.astype(np.float32), 0.3, seed=4))
    assert grid.features("text", "feature_noise", 0.3, seed=4) is noisy  # memoised
    with pytest.raises(ValueError, match="not on the grid"):
        grid.features("image", "blur", 0.7)
    with pytest.raises(ValueError, match="image_kind"):
        ExplorerState(image_kind="noise").check(grid)
    with pytest.raises(ValueError, match="student_relation"):
        ExplorerState(student_relation="both").check(grid)
    sub = grid.subset([3, 1])
    assert sub.txt_to_img.tolist() == [0, 0, 1] and sub.labels.tolist() == [1, 1]
    np.testing.assert_array_equal(sub.text[("none", 0.0)], clean_t[[3, 4, 1]].astype(np.float32))


def test_run_state_metrics_and_relations_match_recomputation(grids):
    from vlr_viz.eval import recall_at_k

    train, ev = grids
    state = ExplorerState(text_kind="word_dropout", text_severity=0.75)
    res = run_state(state, train, least_squares_student, ev, probe_size=30)
    split = {"image": train.image[("none", 0.0)], "text": train.text[("word_dropout", 0.75)],
             "txt_to_img": train.txt_to_img, "labels": train.labels}
    v, t = least_squares_student(split, state).encode(ev.image[("none", 0.0)], ev.text[("word_dropout", 0.75)])
    np.testing.assert_allclose(res.image_embeddings, v)
    assert res.metrics["rsum"] == pytest.approx(recall_at_k(v, t, ev.txt_to_img)["rsum"])
    chance_rsum = 2 * 100 * (1 + 5 + 10) / ev.n_images  # expected RSUM of a random ranking
    assert res.metrics["rsum"] > 2 * chance_rsum
    first = np.unique(ev.txt_to_img, return_index=True)[1]  # first caption of each image
    p = res.probe
    assert p.size == 30 and np.all(first[p] >= 0)
    np.testing.assert_allclose(res.relations["S_vt"], _unit(v[p]) @ _unit(t[first[p]]).T, atol=1e-5)
    r_v = _unit(ev.image[("none", 0.0)][p]) @ _unit(ev.image[("none", 0.0)][p]).T
    r_t = _unit(ev.text[("word_dropout", 0.75)][first[p]]) @ _unit(ev.text[("word_dropout", 0.75)][first[p]]).T
    np.testing.assert_allclose(res.relations["E"], 0.5 * r_t + 0.5 * r_v, atol=1e-5)  # no λ: 0.5

    def with_lambda(split, st):
        return replace(least_squares_student(split, st), lam=0.2)

    res_l = run_state(state, train, with_lambda, ev, probe_size=30)
    np.testing.assert_allclose(res_l.relations["E"], 0.2 * r_t + 0.8 * r_v, atol=1e-5)
    assert res_l.lam == 0.2


def test_text_degradation_weakens_the_text_teacher(grids):
    train, ev = grids
    clean = run_state(ExplorerState(), train, least_squares_student, ev)
    dropped = run_state(ExplorerState(text_kind="word_dropout", text_severity=0.75), train, least_squares_student, ev)
    key = "teacher text ndcg@10"
    assert dropped.metrics[key] < clean.metrics[key]
    assert dropped.metrics["teacher image ndcg@10"] == pytest.approx(clean.metrics["teacher image ndcg@10"])
    assert dropped.metrics["rsum"] < clean.metrics["rsum"]


def test_metrics_table_and_html(grids):
    train, ev = grids
    a = run_state(ExplorerState(), train, least_squares_student, ev)
    b = run_state(ExplorerState(image_kind="blur", image_severity=1.0), train, least_squares_student, ev)
    table = metrics_table(b, a)
    assert table.loc["rsum", "Δ"] == pytest.approx(b.metrics["rsum"] - a.metrics["rsum"])
    assert np.isnan(table.loc["λ (text-teacher weight)", "value"])
    page = metrics_html(b, a)
    assert f"{b.metrics['rsum']:.2f}" in page and "blur @ 1" in page and "category relevance" in page
    assert f"{b.metrics['rsum'] - a.metrics['rsum']:+.2f}" in page


def _delta_colours(page: str) -> dict[str, tuple[str, str]]:
    """``{metric: (Δ as shown, its colour)}`` of a `metrics_html` table."""
    rows = re.findall(r"<tr><td>([^<]+)</td><td[^>]*>[^<]*</td><td style=\"color:(#[0-9A-F]+)\">([^<]*)</td></tr>",
                      page)
    return {html.unescape(name): (shown, colour) for name, colour, shown in rows}


def test_a_delta_shown_as_zero_or_of_the_fusion_weight_is_not_coloured(grids):
    train, ev = grids
    a = replace(run_state(ExplorerState(), train, least_squares_student, ev), lam=0.5)
    moved = {"rsum": 1e-3, "i2t_R@1": -4e-3, "i2t_R@5": 0.5, "i2t_R@10": -0.02}
    b = replace(a, metrics={k: v + moved.get(k, 0.0) for k, v in a.metrics.items()}, lam=0.75)
    shown = _delta_colours(metrics_html(b, a))
    assert shown["rsum"] == ("+0.00", "#444") and shown["i2t_R@1"] == ("-0.00", "#444")
    assert shown["i2t_R@5"] == ("+0.50", "#1B7837") and shown["i2t_R@10"] == ("-0.02", "#B2182B")
    assert shown["λ (text-teacher weight)"] == ("+0.25", "#444")


# --- the widget -------------------------------------------------------------------------------------------------

def _rsum_in(html: str) -> float:
    return float(re.search(r"<td>rsum</td><td[^>]*>([-0-9.]+)</td>", html).group(1))


def test_widget_reacts_to_controls(grids):
    train, ev = grids
    fn = CountingTrainFn()
    explorer = ImbalanceExplorer(train, fn, eval_grid=ev, probe_size=24)
    assert len(fn.states) == 1 and fn.states[0] == ExplorerState()
    html0 = explorer.metrics.value
    assert _rsum_in(html0) == pytest.approx(explorer.result.metrics["rsum"], abs=0.006)
    z_rt0 = np.array(next(t for t in explorer.relation_figure.data if t.name == "R_t").z, dtype=float)
    xy0 = np.array(explorer.geometry_figure.data[0].x, dtype=float)

    # choosing a text degradation picks its mildest level, retrains and refreshes every view
    explorer.text_kind.value = "word_dropout"
    assert explorer.text_severity.options == (0.25, 0.75) and explorer.text_severity.value == 0.25
    assert fn.states[-1] == ExplorerState(text_kind="word_dropout", text_severity=0.25) and len(fn.states) == 2
    # moving the severity slider
    explorer.text_severity.value = 0.75
    assert fn.states[-1].text_severity == 0.75 and len(fn.states) == 3
    assert explorer.metrics.value != html0
    assert _rsum_in(explorer.metrics.value) == pytest.approx(explorer.result.metrics["rsum"], abs=0.006)
    z_rt = np.array(next(t for t in explorer.relation_figure.data if t.name == "R_t").z, dtype=float)
    first = np.unique(ev.txt_to_img, return_index=True)[1]  # first caption of each image
    p = explorer.result.probe
    order = np.argsort(np.where(ev.labels[p] < 0, 99, ev.labels[p]), kind="stable")
    probe_text = _unit(ev.text[("word_dropout", 0.75)][first[p]])
    expected = (probe_text @ probe_text.T)[np.ix_(order, order)]
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_allclose(z_rt, expected, atol=1e-6, equal_nan=True)
    assert not np.allclose(z_rt, z_rt0, equal_nan=True)
    assert not np.allclose(np.array(explorer.geometry_figure.data[0].x, dtype=float), xy0)

    # feature noise: an instant option at any severity of its slider
    explorer.image_kind.value = "feature_noise"
    explorer.image_severity.value = 0.8
    assert fn.states[-1].image_kind == "feature_noise" and fn.states[-1].image_severity == 0.8
    assert explorer.result.metrics["teacher image ndcg@10"] < explorer.initial_result.metrics["teacher image ndcg@10"]

    # structure weight and student relation reach train_fn
    explorer.structure_weight.value = 4.0
    explorer.student_relation.value = "inter"
    assert fn.states[-1].structure_weight == 4.0 and fn.states[-1].student_relation == "inter"

    # back to the start: memoised, no retraining
    n_calls = len(fn.states)
    explorer.update(ExplorerState())
    assert len(fn.states) == n_calls and explorer.metrics.value.startswith(html0[:40])
    assert explorer.image_severity.disabled is False
    explorer.image_kind.value = "none"
    assert explorer.image_severity.disabled is True and explorer.image_severity.options == (0.0,)


def test_widget_trains_the_real_student_and_the_structure_weight_matters(grids):
    train, ev = grids
    fn = CountingTrainFn(ex.trainer_train_fn(epochs_stage1=1, epochs_stage2=2, batch_size=32, hidden=256,
                                             embed_dim=64))
    explorer = ImbalanceExplorer(train, fn, eval_grid=ev, initial=ExplorerState(structure_weight=0.0), probe_size=16)
    before = explorer.result
    config = fn.students[-1].history.meta["config"]
    assert config["weights"]["kd_loss"] == 0.0 and config["student_relation"] == "all"
    assert before.lam == pytest.approx(fn.students[-1].history.epochs[-1]["lam"])
    assert "λ (text-teacher weight)" in explorer.metrics.value and f"{before.lam:.3f}" in explorer.metrics.value

    explorer.structure_weight.value = 4.0
    after = explorer.result
    assert fn.students[-1].history.meta["config"]["weights"]["kd_loss"] == 4.0
    assert not np.allclose(after.image_embeddings, before.image_embeddings)
    assert after.metrics["rsum"] != before.metrics["rsum"] or after.lam != before.lam
    z_sv = [np.array(t.z, dtype=float) for t in explorer.relation_figure.data if t.name == "S_v"][0]
    order = np.argsort(ev.labels[after.probe], kind="stable")  # probe labels are all known here
    for result, same in ((after, True), (before, False)):
        expected = result.relations["S_v"][np.ix_(order, order)]
        np.fill_diagonal(expected, np.nan)
        assert np.allclose(z_sv, expected, atol=1e-6, equal_nan=True) is same
    explorer.student_relation.value = "intra"
    assert fn.students[-1].history.meta["config"]["student_relation"] == "intra"


def test_show_figure_replaces_the_figure_of_a_view():
    import ipywidgets
    import plotly.graph_objects as go

    view = ex.figure_view()
    first = go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))
    assert ex.show_figure(view, first) is first and len(view.outputs) == 1
    ex.show_figure(view, go.Figure(go.Heatmap(z=np.array([[5, 6], [7, np.nan]])), layout=dict(title="new")))
    [shown] = view.outputs  # the old figure is gone, not kept beside it
    figure = shown["data"][PLOTLY_MIMETYPE]
    z = _array(figure["data"][0]["z"])
    assert z[0].tolist() == [5, 6] and np.isnan(z[1, 1]) and figure["layout"]["title"]["text"] == "new"
    assert figure["config"] == {"responsive": True}
    with pytest.raises(TypeError, match="figure_view"):
        ex.show_figure(ipywidgets.Box(), go.Figure())


def _state_as_sent(widget) -> dict:
    """The widget's state as the kernel sends it: binary buffers split off, the rest strict JSON (no NaN), as
    jupyter_client packs messages (a NaN there is the "Out of range float values" warning and a lost update)."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _, _ = _remove_buffers(widget.get_state())
    return json.loads(json.dumps(state, allow_nan=False))


def _figure_sent(view) -> dict:
    """The one plotly figure a figure view's state holds, as sent."""
    [output] = _state_as_sent(view)["outputs"]
    return output["data"][PLOTLY_MIMETYPE]


def test_figure_views_hold_the_current_figures_as_strict_json(grids):
    train, ev = grids
    explorer = ImbalanceExplorer(train, least_squares_student, eval_grid=ev, probe_size=24)
    explorer.text_kind.value = "word_dropout"
    explorer.text_severity.value = 0.75
    # a view opened now (a page reload, a second view, Voilà) is built from the synced state: the current result
    relations = _figure_sent(explorer.relation_view)
    first = np.unique(ev.txt_to_img, return_index=True)[1]
    p = explorer.result.probe
    order = np.argsort(np.where(ev.labels[p] < 0, 99, ev.labels[p]), kind="stable")
    probe_text = _unit(ev.text[("word_dropout", 0.75)][first[p]])
    expected = (probe_text @ probe_text.T)[np.ix_(order, order)]
    np.fill_diagonal(expected, np.nan)
    z = _array([t["z"] for t in relations["data"] if t["name"] == "R_t"][0])
    assert np.isnan(np.diag(z)).all()  # masked cells travel as NaN inside the typed array, never as bare JSON NaN
    np.testing.assert_allclose(z, expected, atol=1e-6, equal_nan=True)
    geometry = _figure_sent(explorer.geometry_view)
    assert any("word_dropout @ 0.75" in a["text"] for a in geometry["layout"]["annotations"])
    # the state a reload sends is the figures' data, not a plotting library per figure
    sent = sum(len(json.dumps(_state_as_sent(v))) for v in (explorer.relation_view, explorer.geometry_view))
    assert sent < 1_000_000, sent


def _snapshot_figures(snapshot: str) -> list[dict]:
    """The plotly figures a snapshot's scripts draw, as JSON."""
    calls = re.findall(r'\}\)\("(vlr-snapshot-[0-9a-f]+)", (\{.*?\}), \d+\);\n</script>', snapshot, re.S)
    assert all(f"<div id='{div}'" in snapshot for div, _ in calls)
    return [json.loads(figure.replace("<\\/", "</")) for _, figure in calls]


def _array(value) -> np.ndarray:
    """A figure JSON's array: a list, or plotly's typed array ``{"dtype", "bdata"[, "shape"]}``."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", flat.size)).split(",")])
    return np.asarray(value, dtype=float)


def test_explorer_display_carries_a_static_snapshot_for_clients_without_a_kernel(grids):
    train, ev = grids
    explorer = ImbalanceExplorer(train, least_squares_student, eval_grid=ev, probe_size=24)
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    snapshot = bundle["text/html"]
    assert f"{explorer.result.metrics['rsum']:.2f}" in snapshot and "vlr-viz explore" in snapshot
    assert "controls need a live kernel" in snapshot and html.escape(explorer.result.state.describe()) in snapshot
    geometry, relations = _snapshot_figures(snapshot)  # the two figures of the live view, at the same state
    assert [t["name"] for t in relations["data"]] == [t.name for t in explorer.relation_figure.data]
    z = _array([t["z"] for t in relations["data"] if t["name"] == "R_t"][0])
    live = np.array([t.z for t in explorer.relation_figure.data if t.name == "R_t"][0], dtype=float)  # None: NaN
    np.testing.assert_allclose(z, live, atol=1e-6, equal_nan=True)
    shown = sum(len(_array(t.get("x", []))) for t in geometry["data"])
    assert shown == sum(0 if t.x is None else len(t.x) for t in explorer.geometry_figure.data) > 0
    assert "width" not in geometry["layout"]  # drawn to the page's width


def test_the_sweep_is_compute_over_the_grid_and_its_figure_draws_every_line(grids):
    from vlr_viz.widgets import sweep_figure

    train, ev = grids
    explorer = ImbalanceExplorer(train, least_squares_student, eval_grid=ev, probe_size=16)
    sweep = explorer.sweep("word_dropout", [0.0, 0.25, 0.75], [0.0, 2.0])
    assert sweep[["structure weight", "text severity"]].values.tolist() == [
        [0.0, 0.0], [0.0, 0.25], [0.0, 0.75], [2.0, 0.0], [2.0, 0.25], [2.0, 0.75]]
    for row in sweep.to_dict("records"):
        kind = "word_dropout" if row["text severity"] > 0 else "none"
        state = ExplorerState(text_kind=kind, text_severity=row["text severity"],
                              structure_weight=row["structure weight"])
        assert row["rsum"] == run_state(state, train, least_squares_student, ev, 16).metrics["rsum"]
    assert sweep.loc[1, "student text ndcg@10"] != sweep.loc[0, "student text ndcg@10"]  # dropout changes it
    fig = sweep_figure(sweep, "word_dropout")
    assert len(fig.data) == 2 * 4  # one line per structure weight in each of the four metric panels
    rsum_lines = [t for t in fig.data if t.xaxis == "x"]
    assert sorted(float(y) for t in rsum_lines for y in t.y) == sorted(sweep.rsum.astype(float))
