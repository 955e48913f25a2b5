"""Fault injection: bad inputs, corrupt and missing files, killed processes. Each case asserts that the message
names the item at fault and that no partial or silently wrong output is left behind.

Classes: the command line's error line (`VlrVizError` → one line, exit 2, ``--debug`` for the traceback); typed
config values (``--config`` JSON); notebook parameter values (``vlr-viz report -p``), refused before any notebook
runs; checkpoints (a process killed mid-write and mid-swap, then resumed; truncated and missing files); run
folders (``vlr-viz eval``); caches (not writable; a sidecar that is JSON but not a sidecar); ``--device cuda``
without CUDA; metric cut-offs; tiny embedding rows; user datasets (``captions.tsv`` read strictly, every PIL image
mode decoded correctly, paths that leave the dataset's folder). The malformed variants of every dataset form and an
extraction killed with SIGKILL are in ``test_datasets.py`` and ``test_extraction.py``.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vlr_viz.arrays import l2_normalize
from vlr_viz.cli import main
from vlr_viz.data import load_dataset
from vlr_viz.data.images import read_rgb
from vlr_viz.errors import CheckpointError, ConfigError, DataFormatError, RunFolderError, VlrVizError
from vlr_viz.eval import average_precision_at_k, ndcg_at_k, recall_at_k
from vlr_viz.eval.codes import code_recall_at_k
from vlr_viz.imbalance import chance_ndcg
from vlr_viz.keys import content_hash
from vlr_viz.store.arrays import CacheWriteWarning, CorruptCacheWarning, cached_array, load_array
from test_datasets import COLOURS, _folder, _png
from vlr_viz.notebook.parameters import check_notebook_parameters, notebook_parameters, notebook_presets
from vlr_viz.notebook.rules import parameter_checks
from vlr_viz.runner import run as run_module
from vlr_viz.train import RunSpan, fit, load_model
from vlr_viz.train.checkpoint import CheckpointRecoveredWarning, recover_checkpoint
from vlr_viz.train.threads import torch_threads

from synthetic_features import synthetic, tiny

TESTS = Path(__file__).parent
REPO = TESTS.parent
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):  # as in the child process: bit-identical training
        yield


@pytest.fixture(scope="module")
def splits():
    return synthetic(0), synthetic(1, n_img=24, extra=4)


def one_error_line(err: str, *items: str) -> str:
    """The single ``error:`` line of ``err``, after checking that it names every item."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for item in items:
        assert item in lines[0], (item, lines[0])
    return lines[0]


def states_equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.glob(folder.name + ".*"))


# ------------------------------------------------------------------------------------ the command line's errors

def write_run(folder: Path, *, with_txt: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"dataset": "twemoji"}))
    np.save(folder / "img_emb.npy", np.eye(3, dtype=np.float32))
    if with_txt:
        np.save(folder / "txt_emb.npy", np.eye(3, dtype=np.float32))
    return folder


def test_eval_on_a_run_folder_missing_txt_emb_names_it(tmp_path, capsys):
    run = write_run(tmp_path / "run", with_txt=False)
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    one_error_line(err, "vlr-viz: error:", "txt_emb.npy", str(run))
    assert "Traceback" not in err
    assert not (run / "eval.csv").exists()
    assert main(["eval", str(run), "--debug"]) == 2  # --debug anywhere on the line: the traceback too
    err = capsys.readouterr().err
    assert "Traceback" in err and "RunFolderError" in err
    one_error_line(err, "txt_emb.npy")


def test_eval_on_a_truncated_embedding_file_names_it(tmp_path, capsys):
    run = write_run(tmp_path / "run")
    (run / "txt_emb.npy").write_bytes((run / "txt_emb.npy").read_bytes()[:100])
    assert main(["eval", str(run)]) == 2
    one_error_line(capsys.readouterr().err, "txt_emb.npy", "truncated or corrupt")
    assert not (run / "eval.csv").exists()


def test_eval_on_a_folder_that_is_not_a_run_lists_what_is_missing(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    one_error_line(capsys.readouterr().err, "metrics.json, img_emb.npy, txt_emb.npy are missing")


def test_train_module_prints_one_line_and_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"lr": "fast"}')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "vlr_viz.runner", "--config", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "vlr_viz.runner: error:", "bad.json", "lr", "'fast'")
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ config values

@pytest.mark.parametrize("saved, named", [
    ({"lr": "fast"}, "lr must be a positive number; got str 'fast'"),
    ({"learn_tau": "no"}, "learn_tau must be true or false; got str 'no'"),
    ({"weights": "abc"}, "weights must be a mapping"),
    ({"weights": {"kd_loss": "x"}}, "weights['kd_loss'] must be a non-negative number; got str 'x'"),
    ({"weights": {"kd": 1.0}}, "unknown loss term 'kd' in weights"),
    ({"epochs_stage1": 1.5}, "epochs_stage1 must be an integer >= 0; got float 1.5"),
    ({"batch_size": True}, "batch_size must be an integer >= 2; got bool True"),
    ({"dropout": None}, "dropout must be a number in [0, 1); got NoneType None"),
    ({"method": "fast"}, "unknown method 'fast'"),
    ({"lrr": 0.1}, "unknown setting(s) 'lrr'"),
    ([1, 2], "expected a mapping of setting names to values; got list"),
])
def test_config_file_values_are_checked_before_any_work(tmp_path, capsys, monkeypatch, saved, named):
    monkeypatch.setattr("vlr_viz.features.load_features", lambda *a, **k: pytest.fail("features were loaded"))
    config = tmp_path / "run.json"
    config.write_text(json.dumps(saved))
    out = tmp_path / "out"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    one_error_line(capsys.readouterr().err, f"--config {config}", named)
    assert not out.exists()


def test_device_cuda_without_cuda_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("vlr_viz.features.load_features", lambda *a, **k: pytest.fail("features were loaded"))
    out = tmp_path / "out"
    assert main(["train", "--device", "cuda", "--out", str(out), "--quiet"]) == 2
    one_error_line(capsys.readouterr().err, "device 'cuda'", "--device cpu")
    assert not out.exists()
    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    with pytest.raises(ConfigError, match="device 'cuda' was asked for"):  # the library call says the same
        fit(tiny(device="cuda"), train, val, progress=False, span=RunSpan(checkpoint_dir=tmp_path / "ck"))
    assert not (tmp_path / "ck").exists()


# ------------------------------------------------------------------------------------ notebook parameter values

@pytest.mark.parametrize("name, value, named", [
    ("epochs_stage1", "-3", "epochs_stage1 must be an integer >= 0; got int -3"),
    ("image_degradation", "extreme", "unknown image preset 'extreme'"),
    ("structure_recipe", "nosuchrecipe", "unknown recipe 'nosuchrecipe' in structure_recipe"),
    ("seeds", "[0,'a']", "seeds[1] must be an integer >= 0; got str 'a'"),
    ("projection", "tsne", "unknown projection 'tsne'; choose one of 'umap', 'pca'"),
    ("recipes", "['baseline','nosuch']", "unknown recipe 'nosuch' in recipes[1]"),
    ("recipes", "['sad']", "recipes must include 'baseline'"),
    ("seeds", "[0, 0]", "seeds[1] repeats 0"),
    ("bits_list", "[12]", "bits_list[0]=12: bits = 12 is not a multiple"),
    ("levels", "{'clean': ['', 'nosuch']}", "levels['clean']=['', 'nosuch']: unknown text preset 'nosuch'"),
    ("severities", "[0.5, 1.5]", "severities[1] must be a number in [0, 1]; got float 1.5"),
    ("initial_text_severity", "0.3", "initial_text_severity 0.3 is not on the text_levels grid"),
    ("show_links", "1", "parameter 'show_links' expects bool"),
])
def test_report_parameters_are_refused_before_any_notebook_runs(tmp_path, capsys, name, value, named):
    out, figs = tmp_path / "out", tmp_path / "figs"
    rc = main(["report", "--notebooks", str(NOTEBOOKS), "--out", str(out), "--figures", str(figs), "--no-png",
               "-p", name, value])
    assert rc == 2
    one_error_line(capsys.readouterr().err, "notebook 0", ".ipynb", named)
    assert not out.exists() and not figs.exists()


def test_every_notebook_parameter_has_a_check_and_the_shipped_values_pass():
    checks = parameter_checks()
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        defaults = notebook_parameters(path)
        assert set(defaults) <= set(checks), (path.name, sorted(set(defaults) - set(checks)))
        assert check_notebook_parameters(path, defaults) == defaults
        for preset in notebook_presets(path).values():
            check_notebook_parameters(path, preset)


def test_a_notebook_can_check_its_own_parameters_by_name():
    defaults = notebook_parameters(NOTEBOOKS / "02_relation_drift.ipynb")
    assert check_notebook_parameters("02_relation_drift", defaults) == defaults
    with pytest.raises(ConfigError, match=r"notebook 02_relation_drift.ipynb: epochs_stage1 \+ epochs_stage2 must "
                                          r"add up to at least 1 epoch"):
        check_notebook_parameters("02_relation_drift", {**defaults, "epochs_stage1": 0, "epochs_stage2": 0})


# ------------------------------------------------------------------------------------ checkpoints

def run_child(run_dir: Path, mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(TESTS / "checkpoint_child.py"), str(run_dir), mode],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr  # killed by the injected signal, not finished


@pytest.fixture(scope="module")
def uninterrupted(splits):
    with torch_threads(1):
        return fit(tiny(), *splits, progress=False)


def test_killed_mid_swap_then_resume_restores_the_newer_checkpoint(tmp_path, splits, uninterrupted):
    ck = tmp_path / "checkpoint"
    run_child(tmp_path, "mid-swap")
    assert not ck.exists() and leftovers(ck) == ["checkpoint.old", "checkpoint.tmp"]  # the half-swapped state
    with pytest.warns(CheckpointRecoveredWarning, match="restored the checkpoint of epoch 2 from checkpoint.tmp"):
        resumed = fit(tiny(), *splits, progress=False, span=RunSpan(checkpoint_dir=ck, resume_from=ck))
    assert resumed.history.epochs[-1]["epoch"] == 3 and len(resumed.history.epochs) == 4
    assert states_equal(resumed.model.state_dict(), uninterrupted.model.state_dict())  # bit-identical
    assert resumed.history.steps == uninterrupted.history.steps
    assert leftovers(ck) == []


def test_killed_mid_write_then_resume_continues_from_the_last_complete_checkpoint(tmp_path, splits, uninterrupted):
    ck = tmp_path / "checkpoint"
    run_child(tmp_path, "mid-write")
    assert json.loads((ck / "trainer_state.json").read_text())["epoch"] == 1  # the old one, intact
    assert leftovers(ck) == ["checkpoint.tmp"]  # the half-written new one
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to repair: the partial write is simply dropped
        resumed = fit(tiny(), *splits, progress=False, span=RunSpan(checkpoint_dir=ck, resume_from=ck))
    assert states_equal(resumed.model.state_dict(), uninterrupted.model.state_dict())
    assert leftovers(ck) == []


@pytest.fixture(scope="module")
def one_epoch_checkpoint(tmp_path_factory, splits):
    folder = tmp_path_factory.mktemp("ck") / "checkpoint"
    with torch_threads(1):
        fit(tiny(), *splits, progress=False, span=RunSpan(checkpoint_dir=folder, until_epoch=1))
    return folder


def half_swapped(source: Path, run_dir: Path, tmp_complete: bool) -> Path:
    """``run_dir/checkpoint`` missing, ``.old`` a copy of ``source``, ``.tmp`` complete or not."""
    ck = run_dir / "checkpoint"
    shutil.copytree(source, run_dir / "checkpoint.old")
    shutil.copytree(source, run_dir / "checkpoint.tmp")
    if not tmp_complete:
        (run_dir / "checkpoint.tmp" / "manifest.json").unlink()
    return ck


def test_half_swapped_folder_falls_back_to_the_old_checkpoint(tmp_path, one_epoch_checkpoint):
    ck = half_swapped(one_epoch_checkpoint, tmp_path, tmp_complete=False)
    with pytest.warns(CheckpointRecoveredWarning, match="epoch 1 from checkpoint.old"):
        assert recover_checkpoint(ck) == ck
    assert (ck / "manifest.json").exists() and leftovers(ck) == []


def test_half_swapped_folder_with_nothing_usable_is_refused_and_kept(tmp_path, one_epoch_checkpoint, splits):
    ck = half_swapped(one_epoch_checkpoint, tmp_path, tmp_complete=False)
    (tmp_path / "checkpoint.old" / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(CheckpointError, match=r"checkpoint .* is missing after an interrupted save.*"
                                              r"model.safetensors is truncated.*nothing was deleted"):
        fit(tiny(), *splits, progress=False, span=RunSpan(checkpoint_dir=ck, resume_from=ck))
    assert not ck.exists() and leftovers(ck) == ["checkpoint.old", "checkpoint.tmp"]


def test_run_training_repairs_the_checkpoint_before_reading_any_data(tmp_path, one_epoch_checkpoint, monkeypatch):
    """The path of ``vlr-viz train --resume``: it used to retrain from scratch and delete checkpoint.old."""
    class DataRead(Exception):
        pass

    def no_data(dataset, options=None):
        raise DataRead

    monkeypatch.setattr(run_module, "_splits", no_data)
    ck = half_swapped(one_epoch_checkpoint, tmp_path, tmp_complete=False)
    with pytest.warns(CheckpointRecoveredWarning), pytest.raises(DataRead):
        run_module.run_training(tiny(), tmp_path, "custom", resume=True)
    assert json.loads((ck / "trainer_state.json").read_text())["epoch"] == 1
    (ck / "optimizer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="optimizer.safetensors is missing"):  # refused before any data
        run_module.run_training(tiny(), tmp_path, "custom", resume=True)


@pytest.mark.parametrize("damage, named", [
    (lambda ck: (ck / "model.safetensors").write_bytes((ck / "model.safetensors").read_bytes()[:200]),
     r"model.safetensors is truncated or corrupt"),
    (lambda ck: (ck / "optimizer.safetensors").unlink(), r"optimizer.safetensors is missing"),
    (lambda ck: (ck / "trainer_state.json").write_text((ck / "trainer_state.json").read_text()[:50]),
     r"trainer_state.json is truncated or corrupt"),
])
@pytest.mark.parametrize("with_manifest", [True, False])  # False: a checkpoint written before manifests
def test_damaged_checkpoint_file_is_named_on_resume(tmp_path, one_epoch_checkpoint, splits, damage, named,
                                                    with_manifest):
    ck = tmp_path / "checkpoint"
    shutil.copytree(one_epoch_checkpoint, ck)
    if not with_manifest:
        (ck / "manifest.json").unlink()
    damage(ck)
    before = sorted((p.name, p.stat().st_size) for p in ck.iterdir())
    with pytest.raises(CheckpointError, match=named):
        fit(tiny(), *splits, progress=False, span=RunSpan(checkpoint_dir=ck, resume_from=ck))
    assert sorted((p.name, p.stat().st_size) for p in ck.iterdir()) == before  # nothing overwritten
    assert leftovers(ck) == []
    if "optimizer" not in named:  # loading the model for inference names the file too
        with pytest.raises(CheckpointError, match=named):
            load_model(ck, which="last")


# ------------------------------------------------------------------------------------ caches

def test_unwritable_cache_returns_the_array_and_warns(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr("vlr_viz.atomic.tempfile.mkstemp", read_only)  # what a read-only folder does (even as root)
    key = content_hash("entry")
    with pytest.warns(CacheWriteWarning, match=f"f-{key}.npy.*Permission denied.*returned uncached"):
        array, hit = cached_array(tmp_path, "f", key, lambda: np.arange(5.0))
    assert not hit and array.tolist() == [0, 1, 2, 3, 4]
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_cache_folder_that_cannot_exist_returns_the_array_and_warns(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(CacheWriteWarning, match="could not be stored"):
        array, hit = cached_array(blocker / "cache", "f", content_hash(1), lambda: np.ones(3))
    assert not hit and array.tolist() == [1, 1, 1]


@pytest.mark.parametrize("sidecar", ["[1, 2]", '"text"', "{}", '{"sha256": 5, "shape": [3], "dtype": "float64"}',
                                     '{"sha256": "ab", "shape": ["3"], "dtype": "float64"}'])
def test_sidecar_that_is_json_but_not_a_sidecar_is_recomputed(tmp_path, sidecar):
    key = content_hash("k")
    cached_array(tmp_path, "f", key, lambda: np.arange(3.0))
    side = tmp_path / f"f-{key}.npy.json"
    side.write_text(sidecar)
    with pytest.warns(CorruptCacheWarning, match=f"{side.name} is corrupt"):
        array, hit = cached_array(tmp_path, "f", key, lambda: np.arange(3.0))
    assert not hit and array.tolist() == [0, 1, 2]
    assert load_array(tmp_path / f"f-{key}.npy").tolist() == [0, 1, 2]  # rewritten whole


# ------------------------------------------------------------------------------------ metric cut-offs

def _metric_calls():
    eye = np.eye(4, dtype=np.float32)
    scores = np.arange(12.0).reshape(3, 4)
    relevant = np.eye(3, 4, dtype=bool)
    codebooks = np.eye(4, dtype=np.float32)[None]  # one sub-codebook of 4 codewords in 4-d
    codes = np.arange(4, dtype=np.uint8)[:, None]
    return {
        "recall_at_k": lambda ks: recall_at_k(eye, eye, np.arange(4), ks=ks, return_ranks=False),
        "ndcg_at_k": lambda ks: ndcg_at_k(scores, relevant.astype(float), ks=ks),
        "average_precision_at_k": lambda ks: average_precision_at_k(scores, relevant, ks=ks),
        "chance_ndcg": lambda ks: chance_ndcg(relevant.astype(float), ks=ks),
        "code_recall_at_k": lambda ks: code_recall_at_k(eye, eye, codes, codes, codebooks, np.arange(4), ks=ks),
    }


@pytest.mark.parametrize("metric", list(_metric_calls()))
@pytest.mark.parametrize("ks, named", [
    ((1, 1), r"ks repeats the cut-off\(s\) \[1\]"),
    ((1.5,), r"ks\[0\] is float 1.5"),
    ((2.0,), r"ks\[0\] is float 2.0"),
    ((True,), r"ks\[0\] is bool True"),
    ((0,), r"ks\[0\] is int 0"),
    ("10", r"ks must be a sequence of positive integers.*got str '10'"),
    (10, r"ks must be a sequence.*got int 10"),
    ((), "ks must hold at least one cut-off"),
])
def test_bad_cutoffs_are_refused_by_every_metric(metric, ks, named):
    with pytest.raises(ConfigError, match=named):
        _metric_calls()[metric](ks)


@pytest.mark.parametrize("metric", list(_metric_calls()))
def test_integer_cutoffs_of_any_integer_type_agree(metric):
    call = _metric_calls()[metric]
    assert call(np.array([1, 2])) == call((np.int64(1), 2)) == call([1, 2])


def test_rsum_counts_each_cutoff_once():
    eye = np.eye(4, dtype=np.float32)
    m = recall_at_k(eye, eye, np.arange(4), ks=(1, 2), return_ranks=False)
    assert m["rsum"] == 400.0  # 4 recalls of 100: R@1 and R@2 in each direction


# ------------------------------------------------------------------------------------ tiny embedding rows

@pytest.mark.parametrize("scale, dtype", [(1e-30, np.float32), (1e-300, np.float64), (1e30, np.float32)])
def test_tiny_or_huge_rows_rank_like_the_same_rows_at_unit_scale(rng, scale, dtype):
    img = rng.normal(size=(30, 8)).astype(np.float32)
    txt = (img + rng.normal(size=(30, 8))).astype(np.float32)
    reference = recall_at_k(img, txt, np.arange(30))
    scaled = recall_at_k((img.astype(dtype) * dtype(scale)), txt, np.arange(30))
    assert scaled["rsum"] == reference["rsum"]
    assert (scaled["i2t_ranks"] == reference["i2t_ranks"]).all()
    assert (scaled["t2i_ranks"] == reference["t2i_ranks"]).all()
    unit = l2_normalize(img.astype(dtype) * dtype(scale))
    np.testing.assert_allclose(np.linalg.norm(unit.astype(np.float64), axis=1), 1.0, rtol=1e-6)


def test_an_all_zero_row_is_still_refused_by_row(rng):
    img = rng.normal(size=(4, 3))
    img[2] = 0.0
    with pytest.raises(ValueError, match="img_emb row 2 has zero norm"):
        recall_at_k(img, rng.normal(size=(4, 3)), np.arange(4))


def test_errors_are_value_errors_of_one_family():
    for cls in (ConfigError, RunFolderError, CheckpointError):
        assert issubclass(cls, VlrVizError) and issubclass(cls, ValueError)


# --- user datasets: captions.tsv read strictly, every image mode, paths ------------------------------------------
@pytest.mark.parametrize("table, match", [
    (b'a.png\t"an unclosed quote\nb.png\tsecond\n', None),
    (b"\xef\xbb\xbfa.png\tbom first line\nb.png\tok\n", None),
    (b"a.png\tok\nb.png\tcaf\xe9\n", r"captions.tsv:2: not UTF-8 text \(byte 0xe9 at column 10\)"),
    (b"a.png\tok\tcat\textra\n", r"captions.tsv:1: expected .* got 4 column"),
    (b"a.png\tone\tcats\nb.png\tx\na.png\ttwo\tdogs\n", r"captions.tsv:3: image a.png has category 'dogs' here but "
                                                       r"'cats' at .*captions.tsv:1"),
    (b"# only a comment\n\n", r"captions.tsv holds no data rows"),
    (b"", r"captions.tsv holds no data rows"),
    (b"../outside.png\tescape\n", r"captions.tsv:1: image path '../outside.png' points outside"),
])
def test_captions_tsv_is_read_strictly(tmp_path, table, match):
    folder = _folder(tmp_path / "data", table)
    _png(tmp_path / "outside.png", COLOURS[3])
    if match is None:
        p = load_dataset(str(folder))
        assert p.n_captions == 2 and p.image_ids == ["a.png", "b.png"]
        assert p.captions[0] in ('"an unclosed quote', "bom first line")  # quotes kept, BOM dropped
    else:
        with pytest.raises(DataFormatError, match=match):
            load_dataset(str(folder))


def test_outside_paths_need_the_explicit_option(tmp_path):
    folder = _folder(tmp_path / "data", b"../outside.png\tescape\na.png\tinside\n")
    _png(tmp_path / "outside.png", COLOURS[3])
    p = load_dataset(str(folder), allow_outside_paths=True)
    assert p.images.read(0)[0, 0].tolist() == list(COLOURS[3])


@pytest.mark.parametrize("make, expected", [
    (lambda: Image.fromarray(np.array([[0, 65535, 32896]], np.uint16)), [0, 255, 128]),  # I;16: scaled, not white
    (lambda: Image.fromarray(np.array([[0, 65535, 257]], np.int32), mode="I"), [0, 255, 1]),
    (lambda: Image.fromarray(np.array([[0.0, 1.0, 0.5]], np.float32), mode="F"), [0, 255, 128]),
    (lambda: Image.new("CMYK", (3, 1), (0, 0, 0, 0)), [255, 255, 255]),
])
def test_every_pil_mode_becomes_correct_8_bit_rgb(tmp_path, make, expected):
    img = make()
    path = tmp_path / ("x.tiff" if img.mode in ("F", "I", "CMYK") else "x.png")
    img.save(path)
    rgb = read_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    assert rgb[0, :, 0].tolist() == expected and (rgb[..., 0] == rgb[..., 2]).all()


def test_transparent_palette_and_grey_alpha_composite_onto_white(tmp_path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    pal.info["transparency"] = 1
    pal.save(tmp_path / "p.png", transparency=1)
    assert read_rgb(tmp_path / "p.png").tolist() == [[[255, 0, 0], [255, 255, 255]]]
    Image.fromarray(np.array([[[0, 0], [0, 255]]], np.uint8), mode="LA").save(tmp_path / "la.png")
    assert read_rgb(tmp_path / "la.png").tolist() == [[[255, 255, 255], [0, 0, 0]]]
