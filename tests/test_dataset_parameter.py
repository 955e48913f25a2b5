"""A notebook's ``dataset`` parameter is opened before any work: missing files, a NaN row of a feature array and a
split that the form cannot take are refused by the check cell and by the report before a notebook starts."""
import numpy as np
import pytest

from vlr_viz.cli import main
from vlr_viz.notebook.parameters import NotebookParameterError, check_notebook_parameters


def features_folder(root, nan_row=None):
    """A ``features:`` dataset of three splits (4 images, 4 captions each); ``nan_row``: a NaN in that row of
    test/text.npy."""
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        folder = root / split
        folder.mkdir(parents=True)
        np.save(folder / "image.npy", rng.normal(size=(4, 3)).astype(np.float32))
        text = rng.normal(size=(4, 3)).astype(np.float32)
        if split == "test" and nan_row is not None:
            text[nan_row, 1] = np.nan
        np.save(folder / "text.npy", text)
        np.save(folder / "txt_to_img.npy", np.arange(4))
    return root


def namespace(**values):
    return {"__name__": "__main__", "__builtins__": __builtins__, "In": [], **values}


@pytest.mark.parametrize("spec, words", [
    ("karpathy:{tmp}/nope.json:{tmp}/images", "nope.json"),
    ("features:{tmp}/nan", "row 2"),
    ("features:{tmp}/missing", "missing"),
    ("twemoji@train", "cannot take @train"),
])
def test_the_check_cell_opens_the_dataset(tmp_path, spec, words):
    features_folder(tmp_path / "nan", nan_row=2)
    spec = spec.format(tmp=tmp_path)
    with pytest.raises(NotebookParameterError) as e:
        check_notebook_parameters("04_rebalancing_report", namespace(dataset=spec))
    assert "dataset=" in str(e.value) and words in str(e.value)
    assert check_notebook_parameters("99_any", namespace(dataset=f"features:{features_folder(tmp_path / 'ok')}"))


def test_the_report_refuses_a_bad_dataset_before_any_notebook_runs(tmp_path, capsys):
    features_folder(tmp_path / "nan", nan_row=1)
    code = main(["report", "--preset", "fast", "--no-png", "-p", "dataset", f"features:{tmp_path / 'nan'}",
                 "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "figs")])
    err = capsys.readouterr().err
    assert code == 2 and "test/text.npy" in err and "row 1" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("*.ipynb"))  # nothing ran
