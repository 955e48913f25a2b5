import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"[-_.]+", "-", req.strip().lower())


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {_norm(r) for r in pip} == wanted


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:\w+)?\n(.*?)```", readme, re.S)
    commands = {line.strip() for b in blocks for line in b.splitlines()}
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert "make test" in commands and "make test" in ci_lines


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["vlr-viz"] == "vlr_viz.cli:main"


def test_checking_every_notebooks_parameters_loads_no_torch():
    """The report checks every notebook's parameters in its own process before any work; the checks (training
    settings, recipes, code lengths, degradations, datasets) must not load torch there."""
    import subprocess
    import sys

    script = ("import sys\n"
              "from pathlib import Path\n"
              "from vlr_viz.notebook.parameters import check_notebook_parameters, notebook_parameters\n"
              "from vlr_viz.notebook.rules import parameter_checks\n"
              f"books = sorted(Path({str(ROOT / 'notebooks')!r}).glob('*.ipynb'))\n"
              "for book in books:\n"
              "    check_notebook_parameters(book, notebook_parameters(book))\n"
              "torch = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
              "print(len(books), len(parameter_checks()), torch)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["6", str(len(_checks())), "[]"]


def _checks():
    from vlr_viz.notebook.rules import parameter_checks

    return parameter_checks()


def test_the_torch_free_names_agree_with_the_code_that_uses_them():
    from vlr_viz import losses, models
    from vlr_viz.losses import dcmq, structure
    from vlr_viz.models import fusion, quantizer

    assert structure.DISTANCES is losses.DISTANCES and structure.STUDENT_RELATIONS is losses.STUDENT_RELATIONS
    assert dcmq.TERMS is losses.DCMQ_TERMS and fusion.LAMBDA_PARAMS is models.LAMBDA_PARAMS
    assert quantizer.pq_shape_for_bits(64) == (8, 256)
