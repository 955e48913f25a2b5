"""The report machinery: notebook parameters, the metrics log, and papermill runs of tiny fixture notebooks."""
import argparse
import io
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from vlr_viz.notebook import recording as metrics_log
from vlr_viz.notebook.parameters import (
    NotebookParameterError, check_notebook_parameters, find_notebook, notebook_parameters, notebook_presets,
    parameters_cell_source, parse_cli_value, parse_parameters_source, validate_parameters,
)
from vlr_viz.report import (
    NotebookExecutionError, add_report_parser, discover_notebooks, kernel_manager_class, plan_report, python_kernel,
    run_report, select_notebooks,
)
from vlr_viz.viz.export import find_browser

FIXTURES = Path(__file__).parent / "fixtures_notebooks"
METRIC_NB = FIXTURES / "01_metric_figure.ipynb"
TYPED_NB = FIXTURES / "02_typed_parameters.ipynb"
HOLD_MB = 300  # the metric notebook's kernel holds this many MiB for a second
FAILING_NB = FIXTURES / "03_failing_cell.ipynb"


def exec_parameters_cell(path):
    """Oracle: run the parameters cell with exec and keep the names it binds."""
    namespace = {}
    exec(parameters_cell_source(nbformat.read(str(path), as_version=4)), {}, namespace)
    return namespace


# ------------------------------------------------------------------------------------------ parameters

def test_parameters_cell_is_read_as_literals():
    for path in (METRIC_NB, TYPED_NB, FAILING_NB):
        assert notebook_parameters(path) == exec_parameters_cell(path)
    params = notebook_parameters(TYPED_NB)
    assert type(params["shape"]) is tuple and params["checkpoint"] is None and params["flag"] is False


def test_parameters_source_accepts_comments_and_annotations():
    src = "# sizes\nn: int = 3  # items\nrate = -0.5\nnames = ['a', 'b']\n"
    assert parse_parameters_source(src) == {"n": 3, "rate": -0.5, "names": ["a", "b"]}


@pytest.mark.parametrize("src, line, what", [
    ("a = 1\nb = len([1])\n", 2, "not a literal"),
    ("a, b = 1, 2\n", 1, "not an assignment"),
    ("a = 1\nprint(a)\n", 2, "not an assignment"),
    ("a = 1\na += 1\n", 2, "not an assignment"),
    ("x = [1, y]\n", 1, "not a literal"),
])
def test_parameters_source_rejects_non_literals(src, line, what):
    with pytest.raises(ValueError, match=f"line {line}.*{what}|line {line}: the value"):
        parse_parameters_source(src, where="nb")


def test_notebook_without_parameters_cell_has_none(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    assert notebook_parameters(tmp_path / "01_x.ipynb") == {}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'x'; known: none"):
        validate_parameters(tmp_path / "01_x.ipynb", {"x": 2})


def test_presets_come_from_metadata():
    nb = nbformat.read(str(METRIC_NB), as_version=4)
    assert notebook_presets(METRIC_NB) == nb.metadata["vlr_viz"]["presets"]
    assert notebook_presets(FAILING_NB) == {}


def test_unknown_parameter_lists_known_ones():
    with pytest.raises(ValueError) as e:
        validate_parameters(TYPED_NB, {"seeed": 1})
    msg = str(e.value)
    assert "02_typed_parameters.ipynb" in msg and "'seeed'" in msg
    for name in exec_parameters_cell(TYPED_NB):
        assert name in msg


@pytest.mark.parametrize("name, value, expected, got", [
    ("seed", True, "int", "bool"),        # bool is not int
    ("seed", 1.0, "int", "float"),        # no narrowing
    ("seed", "1", "int", "str"),
    ("seed", None, "int", "NoneType"),
    ("flag", 1, "bool", "int"),
    ("rate", "0.5", "float", "str"),
    ("rate", False, "float", "bool"),
    ("name", 3, "str", "int"),
    ("sizes", (1, 2), "list", "tuple"),
    ("shape", [2, 3], "tuple", "list"),
    ("options", [("a", 1)], "dict", "list"),
])
def test_wrong_type_names_parameter_expected_and_got(name, value, expected, got):
    with pytest.raises(ValueError) as e:
        validate_parameters(TYPED_NB, {name: value})
    msg = str(e.value)
    assert f"parameter {name!r} expects {expected}" in msg and f"got {got}" in msg


def test_valid_overrides_pass_and_int_widens_to_float():
    checked = validate_parameters(TYPED_NB, {"seed": 4, "rate": 2, "flag": True, "name": "x", "sizes": [],
                                             "shape": (1,), "options": {}, "checkpoint": "/some/path"})
    assert checked["rate"] == 2.0 and type(checked["rate"]) is float
    assert type(checked["seed"]) is int and checked["checkpoint"] == "/some/path"  # None default: any literal
    assert validate_parameters(TYPED_NB, None) == {}


def _namespace(**values):
    """A notebook's globals() after papermill injected ``values``."""
    return {"__name__": "__main__", "__builtins__": __builtins__, "In": [], **values}


def test_a_notebook_checks_its_own_namespace_with_the_reports_rules(tmp_path, monkeypatch):
    defaults = notebook_parameters(TYPED_NB)
    good = _namespace(**{**defaults, "rate": 2, "seed": 3}, unrelated=object())
    monkeypatch.chdir(FIXTURES)  # papermill runs the kernel where the report puts it: the notebook's folder
    checked = check_notebook_parameters("02_typed_parameters", good)
    assert set(checked) == set(defaults)  # the declared parameters, nothing else of the namespace
    assert good["rate"] == 2.0 and type(good["rate"]) is float  # widened in place, as the report does
    with pytest.raises(NotebookParameterError) as e:
        check_notebook_parameters("02_typed_parameters", _namespace(**{**defaults, "sizes": "[1, 2]"}))
    assert str(e.value) == ("notebook 02_typed_parameters.ipynb: parameter 'sizes' expects list (default [1, 2]), "
                            "got str '[1, 2]'; papermill's -p passes text: give this value as YAML, e.g. "
                            "-y 'sizes: [1, 2]'")
    assert e.value._render_traceback_() == [f"\x1b[0;31mNotebookParameterError\x1b[0m: {e.value}"]
    assert isinstance(e.value, ValueError)  # a ConfigError like every refused setting


def test_the_notebook_file_is_found_by_name_session_or_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_notebook("02_typed_parameters") is None
    assert find_notebook("02_typed_parameters", {"__session__": str(TYPED_NB)}) == TYPED_NB  # JupyterLab's
    assert find_notebook("03_failing_cell", {"__session__": str(TYPED_NB)}) is None  # another notebook's session
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "02_typed_parameters.ipynb").write_bytes(TYPED_NB.read_bytes())
    assert find_notebook("02_typed_parameters") == tmp_path / "notebooks" / "02_typed_parameters.ipynb"
    checkout = Path(__file__).resolve().parents[1] / "notebooks" / "01_modal_imbalance.ipynb"
    assert find_notebook("01_modal_imbalance") == checkout  # run from anywhere: the checkout's notebooks


def test_without_the_file_every_name_with_a_value_check_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookParameterError, match=r"notebook 99_moved.ipynb: unknown projection 'tsne'"):
        check_notebook_parameters("99_moved", _namespace(projection="tsne", unchecked_name="anything"))
    assert check_notebook_parameters("99_moved", _namespace(seed=2, other=1)) == {"seed": 2}


@pytest.mark.parametrize("text, default, expected", [
    ("3", 0, 3),
    ("0.25", 0.5, 0.25),
    ("True", False, True),
    ("[1, 2]", [0], [1, 2]),
    ("(4, 5)", (1,), (4, 5)),
    ("{'k': 1}", {}, {"k": 1}),
    ("minilm-l6", "base", "minilm-l6"),     # not a literal: raw text for str
    ("123", "base", "123"),                 # a literal of another type: raw text for str
    ("'quoted'", "base", "quoted"),
    ("None", None, None),
    ("some/path", None, "some/path"),
])
def test_cli_values_are_parsed_for_the_default_type(text, default, expected):
    value = parse_cli_value(text, default)
    assert value == expected and type(value) is type(expected)


def test_cli_value_that_is_not_a_literal_fails_for_non_strings():
    with pytest.raises(ValueError, match="not a Python literal.*expected int"):
        parse_cli_value("abc", 0)


# ------------------------------------------------------------------------------------------ plan

def test_notebooks_are_found_in_order_and_selected_by_name_or_number():
    paths = discover_notebooks(FIXTURES)
    assert [p.name for p in paths] == sorted(p.name for p in FIXTURES.glob("[0-9][0-9]_*.ipynb"))
    assert [p.stem for p in select_notebooks(paths, ["03", "01_metric_figure"])] == [
        "01_metric_figure", "03_failing_cell"]
    with pytest.raises(ValueError, match="unknown notebook.*'04'.*available"):
        select_notebooks(paths, ["04"])


def test_plan_merges_defaults_preset_global_and_per_notebook():
    fast = nbformat.read(str(METRIC_NB), as_version=4).metadata["vlr_viz"]["presets"]["fast"]
    typed_fast = nbformat.read(str(TYPED_NB), as_version=4).metadata["vlr_viz"]["presets"]["fast"]
    plans = {p.name: p for p in plan_report("fast", {"seed": 9, "scale": 2, "02_typed_parameters": {"seed": 1}},
                                            FIXTURES, only=["01", "02"])}
    assert plans["01_metric_figure"].parameters == {**fast, "scale": 2.0}
    assert plans["02_typed_parameters"].parameters == {**typed_fast, "seed": 1}  # per-notebook wins over global
    by_number = plan_report("fast", {"seed": 9, "02": {"seed": 1}}, FIXTURES, only=["02"])
    assert by_number[0].parameters == {**typed_fast, "seed": 1}
    full = {p.name: p.parameters for p in plan_report("full", None, FIXTURES, only=["01", "02"])}
    assert full == {"01_metric_figure": {}, "02_typed_parameters": {}}


@pytest.mark.parametrize("kwargs, match", [
    ({"preset": "huge"}, "preset 'huge' is unknown"),
    ({"params": {"n_pointz": 3}}, r"unknown parameter\(s\) \['n_pointz'\].*known: .*n_points"),
    ({"params": {"seed": "1"}}, "02_typed_parameters.ipynb: parameter 'seed' expects int"),
    ({"params": {"07_missing": {"seed": 1}}}, "'07_missing' is not among the selected notebooks"),
    ({"params": {"02_typed_parameters": {"nope": 1}}}, r"02_typed_parameters.ipynb: unknown parameter\(s\) 'nope'"),
])
def test_bad_parameters_fail_before_anything_runs(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_report(**{"preset": "fast", **kwargs}, out_dir=tmp_path / "out", figures_dir=tmp_path / "figs",
                   notebooks_dir=FIXTURES)
    assert not (tmp_path / "out").exists() and not (tmp_path / "figs").exists()


def test_params_keys_must_be_names():
    with pytest.raises(TypeError, match="params keys"):
        plan_report("fast", {1: 2}, FIXTURES)


def test_bad_preset_value_in_metadata_is_reported(tmp_path):
    nb = nbformat.read(str(TYPED_NB), as_version=4)
    nb.metadata["vlr_viz"]["presets"]["fast"] = {"seed": "zero"}
    nbformat.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(ValueError, match="01_bad.ipynb: preset 'fast': parameter 'seed' expects int"):
        plan_report("fast", None, tmp_path)


def test_temporary_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    before = os.environ.get("JUPYTER_PATH")
    with python_kernel() as name:
        spec = KernelSpecManager().get_kernel_spec(name)
        assert spec.argv[0] == sys.executable and spec.argv[1:3] == ["-m", "ipykernel_launcher"]
    assert os.environ.get("JUPYTER_PATH") == before
    with python_kernel("python3") as name:
        assert name == "python3"


def test_a_finished_notebooks_kernel_is_shut_down_without_a_keyboard_interrupt(capfd, tmp_path):
    """jupyter_client sends SIGINT to a kernel's process group before asking it to shut down. A report shuts a
    kernel down only when its notebook is over, so the signal has nothing to stop: it lands in whatever message
    handler runs then, and ipykernel writes "KeyboardInterrupt caught in kernel" into the report's output. Here a
    handler is busy for 3 s when the shutdown comes."""
    import asyncio

    started = tmp_path / "handler-started"

    async def shut_down_while_a_handler_runs(name: str) -> None:
        km = kernel_manager_class()(kernel_name=name)
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=120)
            await kc.execute_interactive(
                "import pathlib, time\nfrom comm import get_comm_manager\n"
                f"busy = lambda c, m: (pathlib.Path({str(started)!r}).touch(), time.sleep(3))\n"
                "get_comm_manager().register_target('busy', busy)", timeout=60)
            kc.shell_channel.send(kc.session.msg("comm_open", {"comm_id": "c", "target_name": "busy", "data": {}}))
            await asyncio.sleep(1)
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()

    with python_kernel() as name:
        asyncio.run(shut_down_while_a_handler_runs(name))
    out, err = capfd.readouterr()
    assert started.exists()  # the shutdown came while the handler ran
    assert "KeyboardInterrupt" not in out + err, err[-2000:]


# ------------------------------------------------------------------------------------------ metrics log

def test_record_writes_json_atomically_and_replaces_by_name(tmp_path, monkeypatch):
    path = tmp_path / "nb.metrics.json"
    monkeypatch.setenv(metrics_log.METRICS_PATH_ENV, str(path))
    monkeypatch.setattr(metrics_log, "METRICS", {})
    recall = np.array([0.25, 0.5], dtype=np.float32)
    metrics_log.record("recall", {"at_1": recall[0], "at_5": recall[1], "curve": recall})
    metrics_log.record("n_items", np.int64(7))
    metrics_log.record("n_items", 8)
    on_disk = json.loads(path.read_text())
    expected = {"recall": {"at_1": float(recall[0]), "at_5": float(recall[1]), "curve": recall.tolist()},
                "n_items": 8}
    assert on_disk["metrics"] == expected == metrics_log.read_metrics(path) == metrics_log.METRICS
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_record_without_a_path_keeps_values_in_memory(tmp_path, monkeypatch):
    monkeypatch.delenv(metrics_log.METRICS_PATH_ENV, raising=False)
    monkeypatch.setattr(metrics_log, "METRICS", {})
    monkeypatch.chdir(tmp_path)
    metrics_log.record("score", 0.5)
    assert metrics_log.METRICS == {"score": 0.5} and list(tmp_path.iterdir()) == []
    assert metrics_log.read_metrics(tmp_path / "absent.json") == {}


@pytest.mark.parametrize("name, value, error", [
    ("", 1, ValueError), ("has space", 1, ValueError), (3, 1, ValueError),
    ("ok", object(), TypeError), ("ok", {1: 2}, TypeError), ("ok", {"s": {1, 2}}, TypeError),
])
def test_record_rejects_bad_names_and_values(name, value, error, monkeypatch):
    monkeypatch.delenv(metrics_log.METRICS_PATH_ENV, raising=False)
    with pytest.raises(error):
        metrics_log.record(name, value)


def test_record_figure_writes_html_with_shared_offline_plotlyjs(tmp_path, monkeypatch):
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    monkeypatch.setenv(metrics_log.FIGURES_DIR_ENV, str(tmp_path / "figs"))
    monkeypatch.setenv(metrics_log.NOTEBOOK_ENV, "01_demo")
    monkeypatch.setenv(metrics_log.FIGURE_PNG_ENV, "0")
    monkeypatch.setenv(metrics_log.METRICS_PATH_ENV, str(tmp_path / "m.json"))
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout=dict(title="<b>Bars</b> per letter<br><sup>small</sup>"))
    assert metrics_log.record_figure("bars", fig, display=False) is fig
    html = (tmp_path / "figs" / "01_demo" / "bars.html").read_text()
    assert 'src="../plotly.min.js"></script>' in html and not re.search(r"src=.https?://cdn", html)
    assert (tmp_path / "figs" / "plotly.min.js").read_text() == get_plotlyjs()
    assert not (tmp_path / "figs" / "01_demo" / "bars.png").exists()
    assert metrics_log.read_figures(tmp_path / "m.json") == {
        "bars": {"html": str((tmp_path / "figs" / "01_demo" / "bars.html").resolve()), "png": None,
                 "title": "Bars per letter"}}  # the caption: the title's first line as plain text
    with pytest.raises(TypeError, match="expected a plotly Figure"):
        metrics_log.record_figure("bars", {"data": []})


# ------------------------------------------------------------------------------------------ notebook runs

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    import psutil

    params = {"seed": 7, "02_typed_parameters": {"rate": 2, "name": "override"}, "01": {"hold_mb": HOLD_MB}}
    progress = io.StringIO()
    own_rss = psutil.Process().memory_info().rss
    result = run_report("fast", params, out_dir=tmp / "out", figures_dir=tmp / "figs", notebooks_dir=FIXTURES,
                        only=["01_metric_figure", "02"], progress_file=progress)
    result.own_rss_before, result.progress_text = own_rss, progress.getvalue()
    return result


@pytest.mark.notebooks
def test_report_writes_executed_notebooks_html_and_metrics(report):
    out = report.out_dir
    assert [r.name for r in report.notebooks] == ["01_metric_figure", "02_typed_parameters"]
    for r in report.notebooks:
        nb = nbformat.read(str(out / f"{r.name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code), r.name
        assert (out / f"{r.name}.html").read_text().count("<html") == 1 and r.status == "ok"
    n_points = nbformat.read(str(METRIC_NB), as_version=4).metadata["vlr_viz"]["presets"]["fast"]["n_points"]
    metrics = json.loads((out / "01_metric_figure.metrics.json").read_text())["metrics"]
    assert metrics["sum_of_squares"] == sum(float(i * i) for i in range(n_points))
    assert metrics["summary"] == {"n_points": n_points, "scale": 1.0}
    assert metrics["python_executable"] == sys.executable  # the kernel ran this interpreter


@pytest.mark.notebooks
def test_parameters_reach_the_kernel_with_their_types(report):
    run = report.run("02_typed_parameters")
    defaults = notebook_parameters(TYPED_NB)
    preset = notebook_presets(TYPED_NB)["fast"]
    expected = {**defaults, **preset, "seed": 7, "rate": 2.0, "name": "override"}
    assert run.metrics["values"] == json.loads(json.dumps({**expected, "shape": list(expected["shape"])}))
    assert run.metrics["types"] == {k: type(v).__name__ for k, v in expected.items()}


@pytest.mark.notebooks
def test_executed_notebook_and_html_load_the_reports_one_plotlyjs(report):
    """plotly.js is written once, at the figures' root; the report's executed notebook and its HTML load it by a
    relative path where a notebook run by plain papermill embeds it, and nothing is fetched from a CDN."""
    from plotly.offline import get_plotlyjs

    header = get_plotlyjs()[:200].split("*/")[0]  # the bundle's licence header names its version
    assert "plotly.js v" in header
    shared = report.figures_dir / "plotly.min.js"
    assert shared.read_text() == get_plotlyjs()
    src = os.path.relpath(shared, report.out_dir)
    nb = nbformat.read(str(report.out_dir / "01_metric_figure.ipynb"), as_version=4)
    html_outputs = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
                    if "text/html" in o.get("data", {})]
    assert sum(f'<script src="{src}" charset="utf-8"></script>' in o for o in html_outputs) == 1
    exported = (report.out_dir / "01_metric_figure.html").read_text()
    assert re.findall(r"""<script\b[^>]*\bsrc=["']([^"']+)""", exported) == [src]
    for text in (*html_outputs, exported):
        assert header not in text
        assert not re.search(r"""(src=|import\s*\(?)["']https?://""", text)  # no script from the network


@pytest.mark.notebooks
def test_index_reads_like_a_report_with_figures_times_and_raw_numbers(report):
    from PIL import Image

    index = report.index_html.read_text()
    for r in report.notebooks:
        assert f"href='{r.name}.html'" in index and f"href='{r.name}.ipynb'" in index
        assert f"href='{r.name}.metrics.json'" in index  # the raw numbers, one click away
        assert f"<td><a href='#{r.name}'>{r.name}</a></td><td class='ok'>ok</td><td>{r.seconds:.1f} s</td>" in index
    assert ">Metric and figure</a></h2><p>Records key numbers and one plotly figure.</p>" in index  # the title
    run = report.run("01_metric_figure")
    assert index.index("Where the time goes") < index.index("id='01_metric_figure'")
    numbers = index[index.index("<details><summary>all 4 recorded numbers</summary>"):]
    assert f"<td>sum_of_squares</td><td>{run.metrics['sum_of_squares']:.4g}</td>" in numbers
    assert "Headline results" not in index  # the fixtures record none of the headline tables
    fig = run.figures["squares"]
    assert Path(fig["html"]).exists() and fig["title"] == "squares"
    if find_browser() is None:
        assert fig["png"] is None
        pytest.skip("no Chrome/Chromium here: PNG export not exercised")
    with Image.open(fig["png"]) as im:
        assert im.format == "PNG" and im.size == (500, 350)  # the layout's width and height
    copy = report.out_dir / "images" / "01_metric_figure" / "squares.png"
    assert copy.read_bytes() == Path(fig["png"]).read_bytes()
    assert re.search(r"<figure id='01_metric_figure-squares'><img src='images/01_metric_figure/squares.png' "
                     r"alt='squares'[^>]*><figcaption>squares · <a href='[^']*squares.html'>interactive</a>", index)


@pytest.mark.notebooks
def test_wall_time_and_peak_memory_of_the_kernel_are_measured_and_kept(report):
    from vlr_viz.report.timing import TIMINGS_FILE, parameters_key

    run = report.run("01_metric_figure")
    # the kernel held HOLD_MB MiB for a second: only a measurement of the whole process tree sees it
    assert run.peak_rss >= report.own_rss_before + HOLD_MB * 2**20
    assert HOLD_MB * 2**20 <= run.peak_pss <= run.peak_rss  # the held bytes are the kernel's own
    assert run.seconds >= 1.0 and all(0 < r.peak_pss <= r.peak_rss for r in report.notebooks)
    kept = json.loads((report.out_dir / TIMINGS_FILE).read_text())["runs"]
    for r in report.notebooks:
        entry = kept[parameters_key(r.name, r.parameters)]
        assert entry["seconds"] == pytest.approx(r.seconds, abs=0.01)
        assert entry["peak_rss"] == r.peak_rss and entry["peak_pss"] == r.peak_pss
    for r in report.notebooks:  # one console line per notebook, above the bar
        assert re.search(rf"{r.name}: ok in {r.seconds:.1f} s, peak memory [0-9.]+ [MG]B", report.progress_text)
    assert "no ETA: no previous run with these parameters" in report.progress_text


@pytest.mark.notebooks
def test_notebooks_side_by_side_give_what_they_give_one_after_the_other(report, tmp_path):
    """``jobs=2``: both notebooks run at once in their own processes, with the recorded numbers, timings and
    order of the sequential report; a failing notebook among them still fails the report by name."""
    params = {"seed": 7, "02_typed_parameters": {"rate": 2, "name": "override"}, "01": {"hold_mb": HOLD_MB}}
    progress = io.StringIO()
    both = run_report("fast", params, out_dir=tmp_path / "out", figures_dir=tmp_path / "figs", notebooks_dir=FIXTURES,
                      only=["01_metric_figure", "02"], progress_file=progress, jobs=2)
    assert [r.name for r in both.notebooks] == [r.name for r in report.notebooks]
    for a, b in zip(report.notebooks, both.notebooks):
        assert b.status == "ok" and b.metrics == a.metrics and b.seconds > 0 and b.peak_rss > 0
        assert re.search(rf"{b.name}: ok in {b.seconds:.1f} s", progress.getvalue())
    assert both.run("01_metric_figure").peak_rss >= HOLD_MB * 2**20  # each notebook's own process tree
    with pytest.raises(NotebookExecutionError, match="03_failing_cell.ipynb"):
        run_report("full", {"divisor": 0}, out_dir=tmp_path / "bad", figures_dir=tmp_path / "figs",
                   notebooks_dir=FIXTURES, only=["01", "03"], jobs=2)
    with pytest.raises(ValueError, match="--jobs must be a positive integer"):
        run_report("fast", out_dir=tmp_path / "x", notebooks_dir=FIXTURES, jobs=0)
    assert not (tmp_path / "x").exists()


@pytest.mark.notebooks
def test_failing_cell_names_notebook_and_cell_and_keeps_partial_notebook(tmp_path):
    source = nbformat.read(str(FAILING_NB), as_version=4)
    failing_index = next(i for i, c in enumerate(source.cells) if "1 / divisor" in c.source)
    with pytest.raises(NotebookExecutionError) as e:
        run_report("full", {"divisor": 0}, out_dir=tmp_path / "out", figures_dir=tmp_path / "figs",
                   notebooks_dir=FIXTURES, only=["03"])
    msg = str(e.value)
    assert "03_failing_cell.ipynb" in msg and f"failed at cell {failing_index} " in msg
    assert "ZeroDivisionError: division by zero" in msg and "ratio = 1 / divisor" in msg
    executed = tmp_path / "out" / "03_failing_cell.ipynb"
    assert e.value.executed == executed and str(executed) in msg
    partial = nbformat.read(str(executed), as_version=4)
    failed = [c for c in partial.cells if c.cell_type == "code" and "1 / divisor" in c.source][0]
    assert [o.ename for o in failed.outputs if o.output_type == "error"] == ["ZeroDivisionError"]
    assert metrics_log.read_metrics(tmp_path / "out" / "03_failing_cell.metrics.json") == {"before_failure": 1}
    assert (tmp_path / "out" / "03_failing_cell.html").exists()
    assert "failed" in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.notebooks
def test_report_command_parses_cli_values(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="vlr-viz")
    add_report_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["report", "--notebooks", str(FIXTURES), "--only", "02", "--out", str(out),
                              "--figures", str(tmp_path / "figs"), "--no-png", "-p", "seed", "5",
                              "-p", "02_typed_parameters.name", "hello", "-p", "rate", "1",
                              "-p", "checkpoint", "ckpt/model.pt"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert str(out / "index.html") in printed
    assert re.search(r"notebook +status +wall time +peak memory +summed RSS\n"
                     r"02_typed_parameters +ok +[0-9.]+ s +[0-9.]+ [MG]B +[0-9.]+ [MG]B", printed)
    assert "load average" in printed
    values = metrics_log.read_metrics(out / "02_typed_parameters.metrics.json")["values"]
    assert (values["seed"], values["name"], values["rate"], values["checkpoint"]) == (5, "hello", 1.0, "ckpt/model.pt")
    assert isinstance(values["rate"], float)


def test_report_command_rejects_bad_values_before_running(tmp_path):
    parser = argparse.ArgumentParser(prog="vlr-viz")
    add_report_parser(parser.add_subparsers(dest="command"))
    for argv, match in [(["-p", "seed", "abc"], "-p seed abc: notebook 02_typed_parameters: 'abc' is not a Python"),
                        (["-p", "nope", "1"], "-p nope: no selected notebook declares it"),
                        (["-p", "02.nope", "1"], "notebook 02_typed_parameters has no parameter 'nope'")]:
        args = parser.parse_args(["report", "--notebooks", str(FIXTURES), "--out", str(tmp_path / "out"), *argv])
        with pytest.raises(ValueError, match=match):
            args.func(args)
    assert not (tmp_path / "out").exists()


@pytest.mark.notebooks
def test_cell_past_the_timeout_fails_the_notebook_by_name(tmp_path):
    with pytest.raises(NotebookExecutionError) as e:
        # the limit leaves the parameter check (it imports the checks' modules: seconds on a busy machine) time
        run_report("full", {"divisor": 1, "sleep_seconds": 60.0}, out_dir=tmp_path / "out",
                   figures_dir=tmp_path / "figs", notebooks_dir=FIXTURES, only=["03"], cell_timeout=15)
    msg = str(e.value)
    assert "03_failing_cell.ipynb" in msg and "timed out" in msg.lower()
    assert metrics_log.read_metrics(tmp_path / "out" / "03_failing_cell.metrics.json") == {"before_failure": 1}


def test_a_misspelt_name_papermill_injected_is_refused_with_the_closest_known_one():
    """The names of papermill's injected cell come from IPython's input history ``In``: the cell before the check."""
    nb = find_notebook("01_metric_figure", {"__session__": str(METRIC_NB)})
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "__session__": str(METRIC_NB),
                 **notebook_parameters(METRIC_NB), "scael": 2.0,
                 "In": ["", "n_points = 5\n", "# Parameters\nscael = 2.0\nn_points = 3\n", "check(...)"]}
    with pytest.raises(NotebookParameterError, match=r"notebook 01_metric_figure.ipynb: unknown parameter\(s\) "
                       r"'scael' passed to papermill; known: hold_mb, n_points, scale, title; did you mean 'scale' "
                       r"for 'scael'\?"):
        check_notebook_parameters(nb, namespace)
    namespace["In"] = namespace["In"] + ["print(1)\n", "check(...)"]  # the injected cell not just before: not read
    assert check_notebook_parameters(nb, namespace)["n_points"] == 5
