"""Stage 1 in the run store (`vlr_viz.store.stage1`): a stored stage 1 reads back exactly, a run that changes
only what stage 2 reads trains only its stage-2 epochs and equals the run trained whole, a damaged entry is reported
and trained again, and every training path (one run, runs one after the other, worker processes) uses it."""
import json
import warnings

import numpy as np
import pytest
import safetensors.torch
import torch

import vlr_viz.train.trainer as trainer
from synthetic_features import synthetic, tiny
from test_stage1 import RECIPES, _assert_same_run
from vlr_viz.processes import SpawnPool
from vlr_viz.runner.parallel import _record_stage1
from vlr_viz.runner.stored_fit import fit_batched_stored, fit_stored
from vlr_viz.store.entry import StoredRunWarning
from vlr_viz.store.runs import RunStore
from vlr_viz.store.stage1 import Stage1Store, stage1_from_files, stage1_to_files
from vlr_viz.train import RunSpan, fit
from vlr_viz.train.threads import torch_threads


@pytest.fixture(scope="module")
def splits():
    return synthetic(0), synthetic(1, n_img=24, extra=4), synthetic(2, n_img=20, extra=0)


@pytest.fixture
def epochs_trained(monkeypatch):
    """The epochs `_train_epoch` trains in this process, as ``(method, epoch)``."""
    seen, inner = [], trainer._train_epoch

    def counting(model, opt, data, config, epoch, *args):
        seen.append((config.method, epoch))
        return inner(model, opt, data, config, epoch, *args)

    monkeypatch.setattr(trainer, "_train_epoch", counting)
    return seen


def _equal_values(a, b):
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_equal_values(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal_values(x, y) for x, y in zip(a, b))
    return a == b


def _recorded_stage1(splits, epochs_stage1: int, snapshot_every: int):
    """The `Stage1` that a baseline run of ``epochs_stage1`` + 1 epochs records."""
    train, val, _ = splits
    recorded = []
    fit(tiny(epochs_stage1=epochs_stage1, epochs_stage2=1, snapshot_every=snapshot_every, method="baseline"), train,
        val, progress=False, span=RunSpan(record_stage1=recorded))
    return recorded[0]


def test_a_stored_stage1_reads_back_exactly(splits):
    s1 = _recorded_stage1(splits, 3, snapshot_every=2)
    back = stage1_from_files(stage1_to_files(s1))
    for name in ("signature", "model_state", "optimizer_state", "rng_states", "step", "best", "epochs", "data"):
        assert _equal_values(getattr(s1, name), getattr(back, name)), name
    assert {r["state"] is None for r in back.epochs} == {True, False}  # weights kept at snapshot epochs only
    assert json.loads(stage1_to_files(back)["stage1.json"]) == json.loads(stage1_to_files(s1)["stage1.json"])


def _named_tensors(stage1) -> dict:
    """Every tensor of a `Stage1` by a name of its own (an oracle independent of the entry's layout)."""
    out = {f"model/{k}": v for k, v in stage1.model_state.items()}
    out |= {f"best/{k}": v for k, v in (stage1.best["state"] or {}).items()}
    out |= {f"rng/{k}": v for k, v in stage1.rng_states.items()}
    for i, record in enumerate(stage1.epochs):
        out |= {f"epoch{i}/{k}": v for k, v in (record["state"] or {}).items()}
    for name, state in stage1.optimizer_state.items():
        out |= {f"opt/{name}/{k}": v for k, v in state.items() if torch.is_tensor(v)}
    return out


def test_a_stage1_entry_stores_each_distinct_tensor_once(splits):
    s1 = _recorded_stage1(splits, 3, snapshot_every=1)
    named = _named_tensors(s1)
    classes: list[list[torch.Tensor]] = []  # tensors grouped by equal dtype, shape and values
    for x in named.values():
        match = next((c for c in classes if c[0].dtype == x.dtype and c[0].shape == x.shape
                      and torch.equal(c[0], x)), None)
        match.append(x) if match else classes.append([x])
    assert len(classes) < len(named)  # the last weights are the last snapshot's
    files = stage1_to_files(s1)
    stored = safetensors.torch.load(files["tensors.safetensors"])
    assert len(stored) == len(classes)
    back = stage1_from_files(files)
    assert _equal_values(s1.model_state, back.model_state) and _equal_values(s1.epochs, back.epochs)
    name = next(iter(back.model_state))
    last = back.epochs[-1]["state"][name]
    assert torch.equal(back.model_state[name], last)
    back.model_state[name].add_(1.0)  # a repeat reads back as a tensor of its own
    assert not torch.equal(back.model_state[name], last)


def test_an_entry_without_repeats_still_reads(splits):
    """Entries written before repeats were stored once hold every tensor under its own name."""
    s1 = _recorded_stage1(splits, 2, snapshot_every=1)
    files = stage1_to_files(s1)
    meta = json.loads(files["stage1.json"])
    full = {**safetensors.torch.load(files["tensors.safetensors"])}
    for name, first in meta.pop("repeats").items():
        full[name] = full[first].clone()
    old = {"tensors.safetensors": safetensors.torch.save(full), "stage1.json": json.dumps(meta).encode()}
    back = stage1_from_files(old)
    for name in ("model_state", "optimizer_state", "rng_states", "best", "epochs"):
        assert _equal_values(getattr(s1, name), getattr(back, name)), name


@pytest.mark.parametrize("recipe", ["sad-kl", "covlr"])
def test_a_stage2_change_trains_only_stage2_and_equals_the_run_trained_whole(recipe, splits, tmp_path,
                                                                               epochs_trained):
    train, val, test = splits
    store = RunStore(tmp_path)
    base = tiny(epochs_stage1=2, epochs_stage2=2, method="baseline")
    first, _, hit = fit_stored(base, train, val, test, store=store, progress=False)
    assert not hit and epochs_trained == [("baseline", 1), ("baseline", 2), ("baseline", 3), ("baseline", 4)]
    assert len(list((tmp_path / "stage1").glob("*/manifest.json"))) == 1

    config = tiny(epochs_stage1=2, epochs_stage2=2, **RECIPES[recipe])
    epochs_trained.clear()
    continued, _, hit = fit_stored(config, train, val, test, store=store, progress=False)
    assert not hit and epochs_trained == [(config.method, 3), (config.method, 4)]
    epochs_trained.clear()
    whole = fit(config, train, val, progress=False)
    assert len(epochs_trained) == 4
    _assert_same_run(continued, whole)
    assert len(list((tmp_path / "stage1").glob("*/manifest.json"))) == 1  # the same stage 1 served both


def test_the_progress_bar_says_a_run_continues_from_a_stored_stage1(splits, tmp_path, capsys):
    train, val, test = splits
    store = RunStore(tmp_path)
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=2, method="baseline"), train, val, test, store=store,
               progress=True)
    whole = capsys.readouterr().err
    assert "baseline: 100%" in whole and "4/4" in whole and "reused" not in whole
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=2, **RECIPES["sad-kl"]), train, val, test, store=store,
               progress=True)
    continued = capsys.readouterr().err
    assert "sad (stage 1 reused):  50%" in continued and "2/4" in continued and "4/4" in continued


def test_a_stage1_setting_keys_its_own_entry(splits, tmp_path, epochs_trained):
    train, val, test = splits
    store = RunStore(tmp_path)
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=1), train, val, test, store=store, progress=False)
    epochs_trained.clear()
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=1, lr=1e-2), train, val, test, store=store, progress=False)
    assert [e for _, e in epochs_trained] == [1, 2, 3]
    epochs_trained.clear()
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=1), synthetic(3), val, test, store=store, progress=False)
    assert [e for _, e in epochs_trained] == [1, 2, 3]  # other training features: another stage 1
    assert len(list((tmp_path / "stage1").glob("*/manifest.json"))) == 3


def test_force_trains_stage1_again(splits, tmp_path, epochs_trained):
    train, val, test = splits
    store = RunStore(tmp_path)
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=1, method="baseline"), train, val, test, store=store,
               progress=False)
    config = tiny(epochs_stage1=2, epochs_stage2=1, **RECIPES["sad-kl"])
    for batched in (False, True):
        epochs_trained.clear()
        if batched:
            fit_batched_stored([config], train, val, test, store=store, force=True, workers=1, progress=False)
        else:
            fit_stored(config, train, val, test, store=store, force=True, progress=False)
        assert [e for _, e in epochs_trained] == [1, 2, 3]


def test_a_damaged_stage1_entry_is_reported_and_trained_again(splits, tmp_path, epochs_trained):
    train, val, test = splits
    store = RunStore(tmp_path)
    fit_stored(tiny(epochs_stage1=2, epochs_stage2=1, method="baseline"), train, val, test, store=store,
               progress=False)
    [entry] = [p.parent for p in (tmp_path / "stage1").glob("*/manifest.json")]
    tensors = entry / "tensors.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-9] + b"corrupted")
    config = tiny(epochs_stage1=2, epochs_stage2=1, **RECIPES["sad-kl"])
    epochs_trained.clear()
    with pytest.warns(StoredRunWarning, match=f"{entry}.*tensors.safetensors differs"):
        damaged, _, _ = fit_stored(config, train, val, test, store=store, progress=False)
    assert [e for _, e in epochs_trained] == [1, 2, 3]
    _assert_same_run(damaged, fit(config, train, val, progress=False))
    stage1 = Stage1Store(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stage1.get(stage1.keys([config], train, val)[0]) is not None  # stored again, intact


def test_an_entry_that_is_no_stage1_is_reported(splits, tmp_path):
    train, val, _ = splits
    stage1 = Stage1Store(RunStore(tmp_path))
    key = stage1.keys([tiny(epochs_stage1=1, epochs_stage2=1)], train, val)[0]
    stage1.entries.put_files(key, {"tensors.safetensors": b"{}", "stage1.json": b"[]"})
    with pytest.warns(StoredRunWarning, match="is damaged"):
        assert stage1.get(key) is None
    assert not stage1.entries.path(key).exists()


def test_runs_trained_one_after_the_other_share_a_stored_stage1(splits, tmp_path, epochs_trained):
    train, val, test = splits
    store = RunStore(tmp_path)
    configs = [tiny(epochs_stage1=2, epochs_stage2=1, seed=s, **RECIPES[r]) for s in (0, 1)
               for r in ("baseline", "sad")]
    fit_batched_stored(configs, train, val, test, store=store, workers=1, progress=False)
    assert sorted(epochs_trained) == sorted([(m, e) for m in ("baseline", "sad") for e in (1, 2, 3)
                                             if m == "baseline" or e == 3] * 2)
    epochs_trained.clear()
    kl = [tiny(epochs_stage1=2, epochs_stage2=1, seed=s, **RECIPES["sad-kl"]) for s in (0, 1)]
    runs = fit_batched_stored(kl, train, val, test, store=store, workers=1, progress=False)
    assert epochs_trained == [("sad", 3), ("sad", 3)]
    for config, (result, _, hit) in zip(kl, runs):
        assert not hit
        _assert_same_run(result, fit(config, train, val, progress=False))


class _Recording(SpawnPool):
    submitted: list = []

    def submit(self, fn, /, *args, **kwargs):
        _Recording.submitted.append((fn.__name__, args[0]["method"] if fn is _record_stage1 else args[1]["method"],
                                     None if fn is _record_stage1 else args[3] is not None))
        return super().submit(fn, *args, **kwargs)


@pytest.mark.slow
def test_worker_processes_store_and_read_stage1(splits, tmp_path, monkeypatch):
    import vlr_viz.runner.parallel as parallel

    train, val, test = splits
    monkeypatch.setattr(parallel, "SpawnPool", _Recording)
    store = RunStore(tmp_path)
    shared = [tiny(epochs_stage1=2, epochs_stage2=1, **RECIPES[r]) for r in ("baseline", "sad")]
    alone = tiny(epochs_stage1=2, epochs_stage2=1, seed=5, **RECIPES["sad"])
    fit_batched_stored([*shared, alone], train, val, test, store=store, workers=2, progress=False)
    assert sorted(_Recording.submitted) == [("_record_stage1", "baseline", None), ("_train_one", "baseline", True),
                                            ("_train_one", "sad", False), ("_train_one", "sad", True)]
    assert len(list((tmp_path / "stage1").glob("*/manifest.json"))) == 2  # the shared one, and the lone run's

    _Recording.submitted.clear()
    kl = [tiny(epochs_stage1=2, epochs_stage2=1, seed=s, **RECIPES["sad-kl"]) for s in (0, 5)]
    runs = fit_batched_stored(kl, train, val, test, store=store, workers=2, progress=False)
    assert sorted(_Recording.submitted) == [("_train_one", "sad", True), ("_train_one", "sad", True)]
    with torch_threads(1):  # as in each of the two workers
        for config, (result, _, _) in zip(kl, runs):
            _assert_same_run(result, fit(config, train, val, progress=False))


def test_runs_rm_all_clears_stored_stage1(splits, tmp_path):
    train, val, test = splits
    store = RunStore(tmp_path)
    fit_stored(tiny(epochs_stage1=1, epochs_stage2=1), train, val, test, store=store, progress=False)
    assert list((tmp_path / "stage1").glob("*/manifest.json"))
    store.remove()
    assert not (tmp_path / "stage1").exists()
