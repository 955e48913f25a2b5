import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"[-_.]+", "-", req.strip().lower())


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs if not r.startswith("vlr_viz[")]
    wanted = {_norm(r) for r in project["dependencies"] + extras}
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


def test_dev_installs_every_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    [self_reference] = [r for r in extras["dev"] if r.startswith("vlr_viz[")]
    assert set(self_reference[len("vlr_viz["):-1].split(",")) == set(extras) - {"dev"}


LIBRARY_WITHOUT_EXTRAS = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not a core dependency)")
sys.meta_path.insert(0, Blocker())
sys.path.insert(0, {tests!r})
import numpy as np
from synthetic_features import synthetic, tiny
from vlr_viz.train import fit, encode
from vlr_viz.eval import recall_at_k
from vlr_viz.stats import paired_table
from vlr_viz.viz import paired_difference_figure, common_space_figure
import vlr_viz.data, vlr_viz.imbalance, vlr_viz.results, vlr_viz.features
result = fit(tiny(epochs_stage2=1), synthetic(0), synthetic(1), progress=False)
test = synthetic(2)
img, txt = encode(result.model, test.image, test.text)
print(sorted(recall_at_k(img, txt, np.asarray(test.txt_to_img))))
fig = common_space_figure({{"img": img, "txt": txt}}, None, np.asarray(test.labels), method="pca",
                          txt_to_img=np.asarray(test.txt_to_img))
print("figure", len(fig.data))
print(sorted(m for m in BLOCKED if m in sys.modules))
"""


def test_the_library_trains_evaluates_and_draws_without_the_extras():
    """`pip install vlr_viz` without extras: training, evaluation, statistics and figures import and run while every
    package that only an extra brings (notebook runners, Voilà, kaleido, FAISS, webdataset, pycocotools) is
    absent."""
    import subprocess
    import sys

    blocked = {"jupyterlab", "ipywidgets", "anywidget", "ipykernel", "nbformat", "nbconvert", "papermill", "jscatter",
               "kaleido", "voila", "faiss", "webdataset", "pycocotools", "pytest", "skimage"}
    script = LIBRARY_WITHOUT_EXTRAS.format(blocked=sorted(blocked), tests=str(ROOT / "tests"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "i2t_R@1" in lines[0] and int(lines[1].split()[1]) >= 2 and lines[2] == "[]"  # drawn, nothing blocked loaded


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
