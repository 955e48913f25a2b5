"""Damaged entries of the stores are reported and computed again, never a traceback: JSON files of the wrong shape
(a list, null or a string for an object, fields of the wrong type) and content that is wrong behind a matching
checksum (a tensor of another shape, codes out of range, a FAISS index that does not deserialise or quantises
other vectors). Entries are damaged by hand with their manifest rewritten to match, so that only the shape of
what is inside can give them away. Beside them: a checkpoint's trainer state of the wrong type is refused naming
the file and the field, and options that cannot be honoured (``vlr-viz codes --epochs 0``, a CLIP teacher on a
``features:`` dataset, a negative ``--cell-timeout``) are refused naming the option before any work."""
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load, save

from numpy_oracles import unit
from synthetic_features import synthetic, tiny
from vlr_viz.cli import main
from vlr_viz.runner.stored_fit import fit_stored
from vlr_viz.store.entry import StoredRunWarning
from vlr_viz.store.runs import RunStore


def entries(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/manifest.json"))


def rewrite(folder: Path, name: str, data: bytes) -> None:
    """Replace ``name`` of an entry by ``data`` and record its size and checksum in the manifest, as a write of
    the wrong content would."""
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def recomputed(call):
    """``call()``'s result, after checking that it reported exactly one damaged entry and nothing else."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    damaged = [w for w in caught if issubclass(w.category, StoredRunWarning)]
    assert len(damaged) == 1 and "is damaged" in str(damaged[0].message), [str(w.message) for w in caught]
    return out


# -- the run store --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def splits():
    return synthetic(0), synthetic(1)


@pytest.fixture(scope="module")
def cold(splits, tmp_path_factory):
    """A run trained into a store of its own, and a copy of its entry's files."""
    root = tmp_path_factory.mktemp("runs")
    result, _, hit = fit_stored(tiny(), *splits, store=RunStore(root))
    assert not hit
    (folder,) = entries(root)
    return result, {p.name: p.read_bytes() for p in folder.iterdir()}


def _summary(files: dict, **changes) -> bytes:
    return json.dumps({**json.loads(files["summary.json"]), **changes}).encode()


WRONG_SHAPES = ["[]", "null", '"a string"', '{"a": 3}']


@pytest.mark.parametrize("name, content", [(n, c) for n in ("summary.json", "config.json") for c in WRONG_SHAPES]
                         + [("history.json", "[]"), ("history.json", "3")])
def test_a_run_whose_json_has_the_wrong_shape_is_trained_again(name, content, splits, cold, tmp_path):
    _assert_retrained(lambda folder: rewrite(folder, name, content.encode()), splits, cold, tmp_path)


@pytest.mark.parametrize("change", [{"best_epoch": "2"}, {"seconds": "fast"}, {"best_metrics": [1, 2]},
                                    {"dims": {"image": [12], "text": [], "teacher_image": 4, "teacher_text": 4}}])
def test_a_run_whose_summary_has_fields_of_the_wrong_type_is_trained_again(change, splits, cold, tmp_path):
    _assert_retrained(lambda folder: rewrite(folder, "summary.json", _summary(cold[1], **change)), splits, cold,
                      tmp_path)


def test_a_run_whose_config_has_a_field_of_the_wrong_type_is_trained_again(splits, cold, tmp_path):
    config = {**json.loads(cold[1]["config.json"]), "epochs_stage1": "one"}
    _assert_retrained(lambda folder: rewrite(folder, "config.json", json.dumps(config).encode()), splits, cold,
                      tmp_path)


def _manifest_entry(files: dict, name: str) -> dict:
    return {"bytes": len(files[name]), "sha256": hashlib.sha256(files[name]).hexdigest()}


@pytest.mark.parametrize("manifest", [
    *WRONG_SHAPES,
    lambda f: {**{n: _manifest_entry(f, n) for n in f if n != "manifest.json"}, "best.safetensors": {"a": 3}},
    lambda f: {**{n: _manifest_entry(f, n) for n in f if n != "manifest.json"},
               "summary.json": {**_manifest_entry(f, "summary.json"), "bytes": str(len(f["summary.json"]))}},
    lambda f: {**{n: _manifest_entry(f, n) for n in f if n != "manifest.json"},
               "summary.json": {**_manifest_entry(f, "summary.json"), "sha256": None}},
    lambda f: {**{n: _manifest_entry(f, n) for n in f if n != "manifest.json"},
               "../summary.json": _manifest_entry(f, "summary.json")},
])
def test_a_run_whose_manifest_has_the_wrong_shape_is_trained_again(manifest, splits, cold, tmp_path):
    data = manifest if isinstance(manifest, str) else json.dumps(manifest(cold[1]))
    _assert_retrained(lambda folder: (folder / "manifest.json").write_text(data), splits, cold, tmp_path)


def _assert_retrained(damage, splits, cold, tmp_path):
    """Lay the cold run's entry into a fresh store, damage it, and check that the run is reported, trained again
    to the same result, and stored intact (the next call reads it)."""
    from vlr_viz.store.runs import run_key

    store = RunStore(tmp_path / "runs")
    result, files = cold
    folder = store.path(run_key(tiny(), *splits))
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert fit_stored(tiny(), *splits, store=store)[2]  # read back as laid out
    damage(folder)
    again, _, hit = recomputed(lambda: fit_stored(tiny(), *splits, store=store))
    assert not hit and again.best_epoch == result.best_epoch and again.best_metrics == result.best_metrics
    for a, b in zip(again.model.state_dict().values(), result.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert fit_stored(tiny(), *splits, store=store)[2]  # stored intact this time


@pytest.mark.slow
def test_the_train_command_trains_again_over_a_stored_run_of_the_wrong_shape(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VLR_VIZ_RUN_STORE", str(tmp_path / "runs"))
    args = ["train", "--recipe", "baseline", "--epochs-stage1", "1", "--epochs-stage2", "0", "--hidden", "16",
            "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    first = json.loads((tmp_path / "a" / "metrics.json").read_text())
    (folder,) = entries(tmp_path / "runs")
    rewrite(folder, "summary.json", b"[]")
    assert recomputed(lambda: main([*args, "--out", str(tmp_path / "b")])) == 0
    second = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert not second["from_store"] and second["run_key"] == first["run_key"] and second["test"] == first["test"]
    assert "error" not in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["from_store"]


# -- stage-1 entries ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stage1_entry(splits, tmp_path_factory):
    """A sad run trained into a store of its own: its stage-1 entry's files and key."""
    from vlr_viz.store.stage1 import Stage1Store

    store = RunStore(tmp_path_factory.mktemp("runs"))
    fit_stored(tiny(), *splits, store=store)
    stage1 = Stage1Store(store)
    key = stage1.keys([tiny()], *splits)[0]
    return key, {p.name: p.read_bytes() for p in stage1.entries.path(key).iterdir()}


def _meta(files: dict, **changes) -> bytes:
    return json.dumps({**json.loads(files["stage1.json"]), **changes}).encode()


def _epochs(files: dict, drop: str) -> list:
    return [{k: v for k, v in r.items() if k != drop} for r in json.loads(files["stage1.json"])["epochs"]]


@pytest.mark.parametrize("damage", [
    *WRONG_SHAPES, lambda f: _meta(f, step="12"), lambda f: _meta(f, tensor_order=[1, 2]),
    lambda f: _meta(f, optimizer={"w": 3}), lambda f: _meta(f, optimizer=[]), lambda f: _meta(f, best={}),
    lambda f: _meta(f, epochs=[3]), lambda f: _meta(f, epochs=_epochs(f, "tau")),
    lambda f: _meta(f, epochs=_epochs(f, "table")), lambda f: _meta(f, repeats=["a"]),
    lambda f: _meta(f, best_has_state="yes"),
])
def test_a_stage1_entry_whose_json_has_the_wrong_shape_is_reported_and_removed(damage, stage1_entry, tmp_path):
    from vlr_viz.store.stage1 import Stage1Store

    key, files = stage1_entry
    stage1 = Stage1Store(RunStore(tmp_path))
    stage1.entries.put_files(key, {n: d for n, d in files.items() if n != "manifest.json"})
    assert stage1.get(key) is not None  # intact as laid out
    rewrite(stage1.entries.path(key), "stage1.json", damage.encode() if isinstance(damage, str) else damage(files))
    assert recomputed(lambda: stage1.get(key)) is None
    assert not stage1.entries.path(key).exists()


def test_a_run_over_a_stage1_entry_of_the_wrong_shape_trains_whole(splits, stage1_entry, tmp_path):
    """A stage-2 change looks its stage 1 up, finds it damaged, reports it and trains whole: the run equals the run
    trained without any store."""
    from vlr_viz.store.stage1 import Stage1Store
    from vlr_viz.train import fit

    key, files = stage1_entry
    store = RunStore(tmp_path)
    stage1 = Stage1Store(store)
    stage1.entries.put_files(key, {n: d for n, d in files.items() if n != "manifest.json"})
    rewrite(stage1.entries.path(key), "stage1.json", _meta(files, epochs=None))
    config = tiny(tau2=0.3)  # stage 2 differs, stage 1 is the entry's
    assert stage1.keys([config], *splits)[0] == key
    result, _, hit = recomputed(lambda: fit_stored(config, *splits, store=store))
    alone = fit(config, *splits)
    assert not hit and result.best_epoch == alone.best_epoch and result.best_metrics == alone.best_metrics
    for a, b in zip(result.model.state_dict().values(), alone.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert stage1.get(key) is not None  # stored again


# -- DCMQ passes ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dcmq(tmp_path_factory):
    """Two DCMQ runs trained in one pass into a store of their own: configs, data, results, the entry's files."""
    from vlr_viz.store.dcmq import fit_dcmq_runs_stored
    from vlr_viz.train.dcmq import DCMQConfig
    from vlr_viz.train.threads import torch_threads

    data = _dcmq_splits()
    configs = [DCMQConfig(bits=16, epochs=1, kmeans_iters=2, seed=s) for s in (0, 1)]
    root = tmp_path_factory.mktemp("dcmq")
    with torch_threads(1):
        results, hit = fit_dcmq_runs_stored(configs, data["train"], data["val"], store=RunStore(root))
    (folder,) = entries(root)
    return configs, data, results, folder.name, {p.name: p.read_bytes() for p in folder.iterdir()}


def _dcmq_splits():
    from vlr_viz.experiments.dcmq import common_space_splits

    class Pairs:
        def __init__(self, n, labels):
            self.txt_to_img, self.labels = np.arange(n), labels

    emb, pairs = {}, {}
    for i, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng(i)
        labels = rng.integers(0, 4, 260)
        z = np.random.default_rng(99).normal(size=(4, 16))[labels] * 1.5 + rng.normal(size=(260, 16))
        emb[split] = (unit(z + 0.3 * rng.normal(size=z.shape)), unit(z + 0.3 * rng.normal(size=z.shape)))
        pairs[split] = Pairs(260, labels)
    return common_space_splits(emb, pairs)


def _tensors(files: dict, name: str, **changes) -> bytes:
    return save({**load(files[name]), **changes})


def _json(files: dict, name: str, **changes) -> bytes:
    return json.dumps({**json.loads(files[name]), **changes}).encode()


DCMQ_DAMAGE = {
    "configs not a list": ("configs.json", lambda f: b"{}"),
    "no configs": ("configs.json", lambda f: b"[]"),
    "configs of other runs": ("configs.json", lambda f: json.dumps(
        [{**c, "seed": c["seed"] + 5} for c in json.loads(f["configs.json"])]).encode()),
    "config not an object": ("configs.json", lambda f: b'["a", "b"]'),
    "summary a list": ("summary.json", lambda f: b"[]"),
    "summary lacks histories": ("summary.json", lambda f: json.dumps(
        {k: v for k, v in json.loads(f["summary.json"]).items() if k != "histories"}).encode()),
    "summary of one run": ("summary.json", lambda f: _json(f, "summary.json", best_epochs=[1])),
    "summary of another dim": ("summary.json", lambda f: _json(f, "summary.json", dim=8)),
    "history not a frame": ("summary.json", lambda f: _json(f, "summary.json", histories=[[], []])),
    "student tensor of another shape": ("student.safetensors", lambda f: _tensors(
        f, "student.safetensors", codebooks=torch.zeros(2, 2, 256, 4))),
    "student tensor missing": ("student.safetensors", lambda f: save(
        {k: v for k, v in load(f["student.safetensors"]).items() if k != "codebooks"})),
    "student not safetensors": ("student.safetensors", lambda f: b"not safetensors"),
    "codes of other rows": ("codes.safetensors", lambda f: _tensors(
        f, "codes.safetensors", **{"image_codes.1": load(f["codes.safetensors"])["image_codes.1"][:-1]})),
    "codes missing": ("codes.safetensors", lambda f: save(
        {k: v for k, v in load(f["codes.safetensors"]).items() if k != "text_codes.0"})),
    "usage not of the codes": ("codes.safetensors", lambda f: _tensors(
        f, "codes.safetensors", **{"codeword_usage.0": load(f["codes.safetensors"])["codeword_usage.1"]})),
    "codes out of the codebook": ("codes.safetensors", lambda f: _tensors(
        f, "codes.safetensors", **{"image_codes.0": load(f["codes.safetensors"])["image_codes.0"].long() + 256})),
}


@pytest.mark.parametrize("case", DCMQ_DAMAGE)
def test_a_damaged_dcmq_pass_behind_a_matching_checksum_is_trained_again(case, dcmq, tmp_path):
    from vlr_viz.store.dcmq import fit_dcmq_runs_stored
    from vlr_viz.train.threads import torch_threads

    configs, data, cold, key, files = dcmq
    store = RunStore(tmp_path)
    store.put_files(key, {n: d for n, d in files.items() if n != "manifest.json"})
    name, damage = DCMQ_DAMAGE[case]
    rewrite(store.path(key), name, damage(files))
    with torch_threads(1):
        again, hit = recomputed(lambda: fit_dcmq_runs_stored(configs, data["train"], data["val"], store=store))
        assert not hit and fit_dcmq_runs_stored(configs, data["train"], data["val"], store=store)[1]
    for a, b in zip(cold, again):
        assert a.best_epoch == b.best_epoch and a.val_metrics == b.val_metrics
        np.testing.assert_array_equal(a.image_codes, b.image_codes)
        np.testing.assert_array_equal(a.codeword_usage, b.codeword_usage)


def test_an_intact_dcmq_pass_reads_back_as_trained(dcmq, tmp_path):
    from vlr_viz.store.dcmq import fit_dcmq_runs_stored

    configs, data, cold, key, files = dcmq
    store = RunStore(tmp_path)
    store.put_files(key, {n: d for n, d in files.items() if n != "manifest.json"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, hit = fit_dcmq_runs_stored(configs, data["train"], data["val"], store=store)
    assert hit
    for a, b in zip(cold, again):
        np.testing.assert_array_equal(a.text_codes, b.text_codes)
        np.testing.assert_array_equal(a.codeword_usage, b.codeword_usage)


# -- FAISS quantisers -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vectors():
    return unit(np.random.default_rng(3).normal(size=(300, 16))).astype(np.float32)


def _faiss_blob(vectors, bits, kind):
    import faiss

    from vlr_viz.models.faiss_baselines import train_faiss_codes

    return faiss.serialize_index(train_faiss_codes(vectors, bits, kind).index)


FAISS_DAMAGE = {
    "bytes of no index": lambda v: np.frombuffer(b"not a FAISS index" * 8, np.uint8),
    "index cut short": lambda v: _faiss_blob(v, 16, "faiss_pq")[:2000],
    "floats, not bytes": lambda v: np.zeros(64, np.float32),
    "index of other bits": lambda v: _faiss_blob(v, 32, "faiss_pq"),
    "index of another dimension": lambda v: _faiss_blob(np.ascontiguousarray(v[:, :8]), 16, "faiss_pq"),
    "OPQ for PQ": lambda v: _faiss_blob(v, 16, "faiss_opq"),
    "flat index": lambda v: __import__("faiss").serialize_index(__import__("faiss").IndexFlatIP(16)),
}


@pytest.mark.parametrize("case", FAISS_DAMAGE)
def test_a_damaged_faiss_entry_behind_a_matching_checksum_is_trained_again(case, vectors, tmp_path):
    from vlr_viz.store.arrays import save_array
    from vlr_viz.store.faiss import stored_faiss_codes

    cold = stored_faiss_codes(vectors, 16, "faiss_pq", store_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npy")
    save_array(entry, FAISS_DAMAGE[case](vectors), {"seconds": 1.0})  # a sidecar that matches the wrong bytes
    again = recomputed(lambda: stored_faiss_codes(vectors, 16, "faiss_pq", store_dir=tmp_path))
    np.testing.assert_array_equal(again.codebooks, cold.codebooks)
    np.testing.assert_array_equal(again.encode(vectors), cold.encode(vectors))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(stored_faiss_codes(vectors, 16, "faiss_pq", store_dir=tmp_path).codebooks,
                                      cold.codebooks)


def test_a_faiss_opq_entry_holding_a_pq_index_is_trained_again(vectors, tmp_path):
    from vlr_viz.store.arrays import save_array
    from vlr_viz.store.faiss import stored_faiss_codes

    cold = stored_faiss_codes(vectors, 16, "faiss_opq", store_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npy")
    save_array(entry, _faiss_blob(vectors, 16, "faiss_pq"), {"seconds": 1.0})
    again = recomputed(lambda: stored_faiss_codes(vectors, 16, "faiss_opq", store_dir=tmp_path))
    np.testing.assert_array_equal(again.rotation, cold.rotation)


@pytest.mark.parametrize("sidecar", ["[]", '{"sha256": 3}', '{"meta": {"seconds": "fast"}}'])
def test_a_faiss_entry_whose_sidecar_has_the_wrong_shape_is_trained_again(sidecar, vectors, tmp_path):
    from vlr_viz.store.faiss import stored_faiss_codes

    cold = stored_faiss_codes(vectors, 16, "faiss_pq", store_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npy")
    side = Path(f"{entry}.json")
    if "meta" in sidecar:  # the checksum still matches: only the recorded seconds are wrong
        sidecar = json.dumps({**json.loads(side.read_text()), **json.loads(sidecar)})
    side.write_text(sidecar)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = stored_faiss_codes(vectors, 16, "faiss_pq", store_dir=tmp_path)
    assert len(caught) == 1 and any(w in str(caught[0].message) for w in ("is damaged", "is corrupt")), caught
    np.testing.assert_array_equal(again.codebooks, cold.codebooks)


@pytest.mark.parametrize("kind", ["faiss_pq", "faiss_opq"])
def test_an_intact_faiss_entry_reads_back_without_training(kind, vectors, tmp_path, monkeypatch):
    from vlr_viz.models import faiss_baselines
    from vlr_viz.store.faiss import stored_faiss_codes

    cold = stored_faiss_codes(vectors, 16, kind, store_dir=tmp_path)
    monkeypatch.setattr(faiss_baselines, "train_faiss_codes", lambda *a, **k: pytest.fail("FAISS trained again"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = stored_faiss_codes(vectors, 16, kind, store_dir=tmp_path)
    assert again.seconds == cold.seconds > 0
    np.testing.assert_array_equal(again.encode(vectors), cold.encode(vectors))


# -- checkpoints ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(splits, tmp_path_factory):
    from vlr_viz.train import RunSpan, fit

    folder = tmp_path_factory.mktemp("ck") / "checkpoint"
    fit(tiny(), *splits, span=RunSpan(checkpoint_dir=folder, until_epoch=1))
    return folder


def _legacy(checkpoint: Path, run_dir: Path, **changes) -> Path:
    """A copy of ``checkpoint`` as written before manifests, its trainer_state.json changed."""
    import shutil

    ck = run_dir / "checkpoint"
    shutil.copytree(checkpoint, ck)
    (ck / "manifest.json").unlink()
    state = json.loads((ck / "trainer_state.json").read_text())
    (ck / "trainer_state.json").write_text(json.dumps({**state, **changes}))
    return ck


@pytest.mark.parametrize("field, value", [("epoch", 1.5), ("epoch", "1"), ("epoch", None), ("epoch", True),
                                          ("epoch", -1), ("step", "12"), ("best_epoch", [1]), ("dims", []),
                                          ("optimizer", "adamw")])
def test_a_legacy_checkpoint_with_a_field_of_the_wrong_type_is_refused_naming_it(field, value, splits, checkpoint,
                                                                                 tmp_path):
    from vlr_viz.errors import CheckpointError
    from vlr_viz.train import RunSpan, fit

    ck = _legacy(checkpoint, tmp_path, **{field: value})
    with pytest.raises(CheckpointError, match=rf"checkpoint file {ck / 'trainer_state.json'} is corrupt: {field} is"):
        fit(tiny(), *splits, span=RunSpan(checkpoint_dir=ck, resume_from=ck))


def test_resuming_a_legacy_checkpoint_with_a_fractional_epoch_names_file_and_field(checkpoint, tmp_path, capsys):
    ck = _legacy(checkpoint, tmp_path, epoch=1.5)
    assert main(["train", "--recipe", "baseline", "--resume", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"vlr-viz: error: checkpoint file {ck / 'trainer_state.json'} is corrupt: epoch is 1.5, not a " \
                  "whole number >= 0"


def test_a_legacy_checkpoint_with_whole_numbers_still_resumes(splits, checkpoint, tmp_path):
    from vlr_viz.train import RunSpan, fit

    ck = _legacy(checkpoint, tmp_path)
    resumed = fit(tiny(), *splits, span=RunSpan(checkpoint_dir=ck, resume_from=ck))
    assert resumed.last_epoch == tiny().epochs


# -- vlr-viz codes: options checked before any work ----------------------------------------------------------

def _features_dataset(root: Path, n_train: int = 160) -> str:
    """A ``features:`` dataset of clustered image and caption features (two captions per image, four categories)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 6)) * 2
    for split, n in (("train", n_train), ("val", 40), ("test", 40)):
        folder = root / split
        folder.mkdir(parents=True)
        labels = np.arange(n) % 4
        z = centres[labels] + rng.normal(size=(n, 6))
        t2i = np.repeat(np.arange(n), 2)
        np.save(folder / "image.npy", (z @ rng.normal(size=(6, 16))).astype(np.float32))
        np.save(folder / "text.npy", (z[t2i] @ rng.normal(size=(6, 12)) + 0.1 * rng.normal(size=(2 * n, 12)))
                .astype(np.float32))
        np.save(folder / "txt_to_img.npy", t2i)
        np.save(folder / "labels.npy", labels)
        (folder / "meta.json").write_text(json.dumps({"image_model": "img-feats", "text_model": "txt-feats"}))
    return f"features:{root}"


@pytest.fixture
def no_dcmq_work(monkeypatch):
    """Makes any DCMQ work fail: what is refused must be refused before it."""
    from vlr_viz.experiments import dcmq

    monkeypatch.setattr(dcmq, "dcmq_pipeline", lambda *a, **k: pytest.fail("DCMQ work started"))


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_code_student_epochs_below_one_are_refused_naming_the_option(epochs, tmp_path, capsys, no_dcmq_work):
    out = tmp_path / "run"
    assert main(["codes", "--epochs", epochs, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"vlr-viz: error: --epochs must be at least 1, got {epochs}"
    assert not out.exists()


@pytest.mark.parametrize("teacher", ["hf-clip:{tmp}/clip", "open_clip:local-dir:{tmp}/clip", "open_clip:ViT-B-32"])
def test_a_clip_teacher_on_a_features_dataset_is_refused_naming_both(teacher, tmp_path, capsys, no_dcmq_work):
    dataset = _features_dataset(tmp_path / "feats")
    teacher = teacher.format(tmp=tmp_path)
    for spec in (dataset, f"{dataset}@train+{dataset}"):
        assert main(["codes", "--teacher", teacher, "--dataset", spec,
                     "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"vlr-viz: error: --teacher {teacher!r} encodes images, but --dataset {spec!r} holds "
                       "precomputed features, no images: use --teacher common_space (a student trained on them)")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_code_student_epochs_reach_the_code_student(tmp_path, monkeypatch, capsys):
    """``vlr-viz codes --epochs 3`` trains three epochs (the stored pass's history: the initialisation and epochs 1-3), on
    a ``features:`` dataset with the common-space teacher trained on it."""
    import safetensors

    monkeypatch.setenv("VLR_VIZ_RUN_STORE", str(tmp_path / "runs"))
    out = tmp_path / "run"
    assert main(["codes", "--dataset", _features_dataset(tmp_path / "feats"), "--bits", "16",
                 "--epochs", "3", "--teacher-epochs-stage1", "1", "--teacher-epochs-stage2", "1", "--cache-dir",
                 str(tmp_path / "cache"), "--out", str(out), "--quiet"]) == 0
    (entry,) = entries(tmp_path / "runs" / "dcmq")
    (history,) = json.loads((entry / "summary.json").read_text())["histories"]
    assert [int(row[history["columns"].index("epoch")]) for row in history["data"]] == [0, 1, 2, 3]
    with safetensors.safe_open(out / "student.safetensors", "pt") as f:
        assert json.loads(f.metadata()["config"])["epochs"] == 3


# -- report --cell-timeout ------------------------------------------------------------------------------------------

class ReportStarted(Exception):
    pass


@pytest.fixture
def report_calls(monkeypatch):
    """The ``cell_timeout`` of every `run_report` the command starts (each then stops with `ReportStarted`)."""
    from vlr_viz.report import cli as report_cli

    calls = []

    def started(*args, cell_timeout=None, **kwargs):
        calls.append(cell_timeout)
        raise ReportStarted

    monkeypatch.setattr(report_cli, "run_report", started)
    return calls


@pytest.mark.parametrize("value", ["-5", "-0.5", "nan", "inf", "-inf"])
def test_report_refuses_a_cell_timeout_that_is_no_time_limit(value, tmp_path, capsys, report_calls):
    assert main(["report", f"--cell-timeout={value}", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"vlr-viz: error: --cell-timeout must be a number of seconds > 0 (or 0: no limit), got " \
                  f"{float(value):g}"
    assert report_calls == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("value, passed", [("30", 30.0), ("0.5", 0.5), ("0", None)])
def test_report_passes_a_positive_cell_timeout_and_zero_as_no_limit(value, passed, tmp_path, report_calls):
    with pytest.raises(ReportStarted):
        main(["report", "--cell-timeout", value, "--out", str(tmp_path / "out")])
    assert report_calls == [passed]
