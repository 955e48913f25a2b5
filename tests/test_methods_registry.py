"""The registry of training methods drives config checks, descriptions, scheduling and colours; plug-in files add
methods (refused by name when broken), and the example plug-in trains through the CLI, in worker processes and in
notebook 04."""
import json
from pathlib import Path

import numpy as np
import pytest

from vlr_viz.cli import main
from vlr_viz.errors import ConfigError
from vlr_viz.losses import DEFAULT_WEIGHTS
from vlr_viz.methods import get_method, load_plugin, method_names, registry
from vlr_viz.train import TrainConfig, recipe_config

from synthetic_features import synthetic, tiny

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rkd_loss.py"
PROBE = '''from vlr_viz.methods import Matching, register


@register
class Probe(Matching):
    name = "probe"
    default_weights = {"match_loss": 1.0, "probe_loss": 0.5}
    relative_cost = 1.5
'''


@pytest.fixture(autouse=True)
def built_ins_only():
    """Each test starts with the built-in methods alone and leaves them so (plug-ins register process-wide)."""
    state = (registry._METHODS, registry._ORIGIN, registry._PLUGINS, registry._ENTRY_POINTS)
    saved = [dict(d) for d in state]
    for d in (registry._METHODS, registry._ORIGIN):
        for name in [n for n in d if n not in ("baseline", "sad", "covlr")]:
            del d[name]
    registry._PLUGINS.clear()
    yield
    for d, before in zip(state, saved):
        d.clear()
        d.update(before)


def probe_plugin(tmp_path, text=PROBE) -> Path:
    path = tmp_path / "probe_method.py"
    path.write_text(text)
    return path


def test_configs_accept_the_registered_methods_and_refuse_others_naming_them(tmp_path):
    assert method_names() == ("baseline", "sad", "covlr")
    with pytest.raises(ConfigError, match=r"^unknown method 'probe'; choose one of 'baseline', 'sad', 'covlr'$"):
        TrainConfig(method="probe")
    assert load_plugin(probe_plugin(tmp_path)) == ["probe"]
    assert method_names() == ("baseline", "sad", "covlr", "probe")
    assert TrainConfig(method="probe").method == "probe"
    with pytest.raises(ConfigError, match="unknown method 'prob'; choose one of 'baseline', 'sad', 'covlr', 'probe'"):
        TrainConfig(method="prob")


def test_a_plugin_term_weight_is_accepted_once_registered_and_leaves_built_in_configs_alone(tmp_path):
    before = {m: TrainConfig(method=m).to_dict() for m in ("baseline", "sad", "covlr")}
    with pytest.raises(ConfigError, match="unknown loss term 'probe_loss' in weights"):
        TrainConfig(method="sad", weights={"probe_loss": 1.0})
    load_plugin(probe_plugin(tmp_path))
    assert TrainConfig(method="probe").weights == {**DEFAULT_WEIGHTS, "probe_loss": 0.5}
    assert TrainConfig(method="probe", weights={"probe_loss": 2.0}).weights["probe_loss"] == 2.0
    assert TrainConfig(method="sad", weights={"probe_loss": 1.0}).weights["probe_loss"] == 1.0
    assert {m: TrainConfig(method=m).to_dict() for m in ("baseline", "sad", "covlr")} == before
    assert before["sad"]["weights"] == DEFAULT_WEIGHTS and before["covlr"]["weights"] == DEFAULT_WEIGHTS


def test_each_method_describes_itself_in_the_config_repr():
    load_plugin(EXAMPLE)
    head = "TrainConfig(method={!r}, epochs=10+10, batch_size=128, lr=0.001, seed=0"
    assert repr(TrainConfig(method="baseline")) == head.format("baseline") + ")"
    assert repr(TrainConfig(method="sad")) == head.format("sad") + (
        ", weights=(match 1, rep_img 1, rep_txt 2, kd 2, kd_v 1, kd_t 1) at tau2=0.07, relation=all/mae, "
        "lambda=learned/sigmoid)")
    assert repr(TrainConfig(method="covlr", covlr_second_order=True)) == head.format("covlr") + (
        ", alpha=0.1, gamma=0.1 at tau2=0.07, relation=intra, second-order, lambda=learned/sigmoid)")
    assert repr(TrainConfig(method="rkd", weights={"rkd_loss": 0.25})) == head.format("rkd") + (
        ", weights=(rkd_loss 0.25), lambda=learned/sigmoid)")


def test_the_worker_pool_starts_the_costliest_methods_first(tmp_path):
    from vlr_viz.runner.parallel import _by_cost

    load_plugin(probe_plugin(tmp_path))
    jobs = [(m, TrainConfig(method=m), {}) for m in ("baseline", "probe", "sad", "covlr")]
    assert [key for key, _, _ in _by_cost(jobs)] == ["covlr", "probe", "baseline", "sad"]


def test_figures_colour_and_label_a_method_as_registered(tmp_path):
    import pandas as pd

    from vlr_viz.viz import alignment_uniformity_figure, series_color, series_label

    assert (series_color("sad"), series_color("CoVLR"), series_color("baseline")) == ("#5AAE61", "#762A83",
                                                                                       "#D6604D")
    hashed = series_color("rkd")
    assert series_label("rkd") == "rkd" and series_label("covlr") == "covlr (CoVLR)"
    load_plugin(EXAMPLE)
    assert series_color("rkd") == get_method("rkd").color == "#E7298A" != hashed
    assert series_color("RKD seed 1") == "#E7298A" and series_label("rkd") == "rkd (RKD distance)"
    summary = pd.DataFrame({"method": ["rkd", "rkd"], "condition": ["clean", "clean"], "alignment": [0.5, 0.7],
                            "uniformity_image": [-1.0, -1.2], "uniformity_text": [-2.0, -2.2]})
    trace = alignment_uniformity_figure(summary).data[0]
    assert trace.marker.color == "#E7298A" and trace.hovertemplate.startswith("rkd (RKD distance) · clean")


def test_a_registered_method_is_a_recipe_of_its_own(tmp_path):
    from vlr_viz.train.recipes import recipe_names

    with pytest.raises(ConfigError, match="unknown recipe 'probe'"):
        recipe_config("probe")
    load_plugin(probe_plugin(tmp_path))
    assert recipe_config("probe", seed=2) == TrainConfig(method="probe", seed=2)
    assert recipe_names()[-1] == "probe" and recipe_config("sad-kl").distance == "kl"


@pytest.mark.parametrize("text, message", [
    (None, "no such file"),
    ("class Broken(:\n", "cannot be imported: SyntaxError"),
    ("import no_such_module_anywhere\n", "cannot be imported: ModuleNotFoundError"),
    ("from vlr_viz.methods import Matching\n\n\nclass Forgotten(Matching):\n    name = 'forgotten'\n",
     "registers no method"),
])
def test_a_broken_plugin_is_refused_in_one_line_naming_its_file(tmp_path, capsys, text, message):
    path = tmp_path / "plugin.py"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_plugin(path)
    assert str(path) in str(info.value) and message in str(info.value) and "\n" not in str(info.value)
    assert main(["train", "--plugin", str(path), "--method", "baseline", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and message in err
    assert not (tmp_path / "run").exists()


def test_installed_packages_register_methods_through_the_entry_point_group(tmp_path, monkeypatch):
    """A class named in the ``vlr_viz.methods`` group is registered on the first look-up; a broken entry is refused
    naming it."""
    import importlib.metadata

    (tmp_path / "installed_probe.py").write_text(PROBE.replace("@register\n", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [importlib.metadata.EntryPoint("probe", "installed_probe:Probe", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [p for p in points if p.group == group])
    registry._ENTRY_POINTS["loaded"] = False
    assert TrainConfig(method="probe").weights["probe_loss"] == 0.5 and method_names()[-1] == "probe"
    points[0] = importlib.metadata.EntryPoint("gone", "not_installed_anywhere", registry.ENTRY_POINT_GROUP)
    registry._ENTRY_POINTS["loaded"] = False
    with pytest.raises(ConfigError, match="entry point gone = not_installed_anywhere .vlr_viz.methods. cannot be "
                                          "loaded: ModuleNotFoundError"):
        get_method("probe")


def test_a_plugin_cannot_take_the_name_of_a_built_in(tmp_path):
    with pytest.raises(ConfigError, match=r"probe_method\.py: cannot be imported: .*method 'sad' is registered"):
        load_plugin(probe_plugin(tmp_path, PROBE.replace('"probe"', '"sad"')))


def test_an_edited_plugin_keys_its_runs_anew_and_built_in_keys_stay(tmp_path):
    """Built-in keys equal those computed before methods had a registry (the same config, features and code
    version); a plug-in method's key follows its file's source."""
    from vlr_viz.store.runs import run_key

    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    assert [run_key(tiny(method=m), train, val) for m in ("baseline", "sad", "covlr")] == [
        "30b29eece695f860ef1e622b", "e8f23ca3ab29c72952ef12ab", "6fb62c0f38be9d9354234fa4"]
    path = probe_plugin(tmp_path)
    load_plugin(path)
    first = run_key(tiny(method="probe"), train, val)
    assert load_plugin(path) == ["probe"] and run_key(tiny(method="probe"), train, val) == first
    path.write_text(PROBE + "# the same method, edited\n")
    load_plugin(path)
    assert run_key(tiny(method="probe"), train, val) != first
    assert run_key(tiny(method="sad"), train, val) == "e8f23ca3ab29c72952ef12ab"


def test_the_notebook_check_loads_the_plugins_before_checking_the_methods():
    from vlr_viz.notebook.parameters import check_notebook_parameters

    book = ROOT / "notebooks" / "04_rebalancing_report.ipynb"
    with pytest.raises(ConfigError, match=r"04_rebalancing_report.ipynb: unknown recipe 'rkd' in recipes\[1\]"):
        check_notebook_parameters(book, {"recipes": ["baseline", "rkd"]})
    checked = check_notebook_parameters(book, {"recipes": ["baseline", "rkd"], "plugins": ["examples/rkd_loss.py"]})
    assert checked == {"recipes": ["baseline", "rkd"], "plugins": [str(EXAMPLE)]}
    with pytest.raises(ConfigError, match=r"04_rebalancing_report.ipynb: plug-in nowhere\.py: no such file"):
        check_notebook_parameters(book, {"plugins": ["nowhere.py"]})


def test_report_parameters_load_the_plugins_and_pass_them_on_as_absolute_paths():
    """``vlr-viz report -p plugins '["examples/rkd_loss.py"]' -p recipes ...``: every notebook gets the plug-in,
    found from any working directory, and notebook 04 accepts its method."""
    from vlr_viz.report.params import parse_cli_parameters
    from vlr_viz.report.plan import plan_report

    books = ROOT / "notebooks"
    params = parse_cli_parameters([["plugins", '["examples/rkd_loss.py"]'], ["recipes", '["baseline", "rkd"]']],
                                  books, None)
    plans = plan_report("fast", params, books)
    assert len(plans) == 6 and all(plan.parameters["plugins"] == [str(EXAMPLE)] for plan in plans)
    assert next(p for p in plans if p.name == "04_rebalancing_report").parameters["recipes"] == ["baseline", "rkd"]


@pytest.mark.slow
def test_plugin_runs_train_in_worker_processes_as_they_do_here(tmp_path):
    """Two spawned workers load the example plug-in and train its runs into the store: the same selected epochs,
    histories and embeddings, bit for bit, as the same runs trained whole in this process."""
    from vlr_viz.train import fit
    from vlr_viz.store.runs import RunStore
    from vlr_viz.runner.stored_fit import fit_batched_stored
    from vlr_viz.train.threads import torch_threads

    load_plugin(EXAMPLE)
    train, val, test = synthetic(0), synthetic(1, n_img=24, extra=4), synthetic(2, n_img=24, extra=4)
    configs = [tiny(method="rkd", seed=s) for s in (0, 1)]
    with torch_threads(1):
        pooled = fit_batched_stored(configs, train, val, test, store=RunStore(tmp_path / "runs"), workers=2)
        whole = [fit(c, train, val, progress=False) for c in configs]
    for (result, _, hit), w in zip(pooled, whole):
        assert not hit and result.best_epoch == w.best_epoch and result.history.steps == w.history.steps
        assert any(row["stage"] == 2 and row["rkd_loss"] > 0 for row in result.history.steps)


@pytest.mark.slow
def test_the_example_trains_through_the_cli_and_logs_its_term(tmp_path, capsys):
    from vlr_viz.train.threads import torch_threads

    out = tmp_path / "run"
    with torch_threads(1):
        rc = main(["train", "--plugin", str(EXAMPLE), "--method", "rkd", "--epochs-stage1", "1", "--epochs-stage2",
                   "1", "--hidden", "64", "--weight", "rkd_loss=0.5", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert "method         rkd" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "rkd" and config["weights"]["rkd_loss"] == 0.5
    steps = json.loads((out / "history.json").read_text())["steps"]
    stage2 = [s for s in steps if s["stage"] == 2]
    assert stage2 and all(s["rkd_loss"] > 0 and s["w_rkd_loss"] == pytest.approx(0.5 * s["rkd_loss"])
                          for s in stage2)
    assert all("rkd_loss" not in s for s in steps if s["stage"] == 1)
    assert all(np.isfinite(s["loss"]) for s in steps)


@pytest.mark.slow
@pytest.mark.notebooks
def test_notebook_04_compares_a_plugin_method_with_the_baseline(tmp_path):
    from vlr_viz.report import run_report

    params = {"recipes": ["baseline", "rkd"], "plugins": [str(EXAMPLE)], "levels": {"clean": ["", ""]},
              "seeds": [0, 1], "epochs_stage1": 1, "epochs_stage2": 1, "lambda_levels": ["moderate"],
              "bootstrap_resamples": 100}
    report = run_report("fast", params, out_dir=tmp_path / "out", figures_dir=tmp_path / "figs",
                        notebooks_dir=ROOT / "notebooks", only=["04_rebalancing_report"], png=False)
    run = report.run("04_rebalancing_report")
    assert run.status == "ok", run.error
    means = run.metrics["rebalancing"]["means"]
    rkd = {k for k in means if k.split("/")[:2] == ["clean", "rkd"]}
    assert rkd and {k.replace("/rkd/", "/baseline/") for k in rkd} <= set(means)
    assert all(np.isfinite(means[k]) for k in rkd)
