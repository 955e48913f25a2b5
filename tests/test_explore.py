"""``vlr-viz explore`` without a server: its parameters are notebook 05's, checked like the report's, and the
served notebook calls the library with exactly them."""
import ast
import argparse
import inspect

import nbformat
import pytest

from vlr_viz.report.explore import EXPLORER_NOTEBOOK, add_explore_parser, explorer_notebook, explorer_parameters, voila_command
from vlr_viz.notebook.parameters import notebook_parameters, notebook_presets
from vlr_viz.report.plan import default_notebooks_dir
from vlr_viz.widgets import build_explorer


def test_parameters_are_notebook_05s_with_preset_and_overrides():
    path = default_notebooks_dir() / f"{EXPLORER_NOTEBOOK}.ipynb"
    defaults, fast = notebook_parameters(path), notebook_presets(path)["fast"]
    accepted = set(inspect.signature(build_explorer).parameters)
    full = explorer_parameters("full")
    assert full == {k: v for k, v in defaults.items() if k in accepted}
    assert "sweep_text_severities" in defaults and "sweep_text_severities" not in full  # the notebook's sweep only
    got = explorer_parameters("fast", {"epochs_stage2": 1})
    assert got == {**full, **{k: v for k, v in fast.items() if k in accepted}, "epochs_stage2": 1}
    with pytest.raises(ValueError, match="epochs_stage2 must be an integer"):
        explorer_parameters("fast", {"epochs_stage2": -1})
    with pytest.raises(ValueError, match="initial_text_kind"):  # a rule between parameters, as in the report
        explorer_parameters("full", {"text_levels": {"word_dropout": [0.5]}})


def test_served_notebook_calls_build_explorer_with_the_parameters_as_literals():
    parameters = explorer_parameters("fast")
    nb = explorer_notebook(parameters, "some-kernel")
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 1 and nb.metadata.kernelspec.name == "some-kernel"
    call = ast.parse(code[0].source).body[-1].value
    assert call.func.id == "build_explorer"
    assert {k.arg: ast.literal_eval(k.value) for k in call.keywords} == parameters
    assert "setup_notebook()" in code[0].source


def test_command_line_and_voila_command():
    parser = argparse.ArgumentParser()
    add_explore_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explore", "--preset", "fast", "-p", "seed", "1", "--port", "9999"])
    assert (args.preset, args.param, args.port, args.ip, args.token) == ("fast", [["seed", "1"]], 9999, "127.0.0.1",
                                                                         None)
    command = voila_command("app.ipynb", 9999, token="abc")
    assert command[1:4] == ["-m", "voila", "app.ipynb"]
    assert {"--port=9999", "--Voila.port_retries=0", "--Voila.ip=127.0.0.1", "--token=abc",
            "--Voila.open_browser=False"} <= set(command)
