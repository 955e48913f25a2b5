"""The run store: a warm call trains nothing and returns identical numbers; damaged or half-written entries never
count; two processes asking for one run train it once."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from vlr_viz.runner.stored_fit import fit_stored
from vlr_viz.store.entry import StoredRunWarning
from vlr_viz.store.runs import RunStore, run_key
from vlr_viz.train import trainer as trainer_module

from synthetic_features import synthetic, tiny


@pytest.fixture
def data():
    return synthetic(0), synthetic(1, n_img=24, extra=4), synthetic(2, n_img=24, extra=4)


def config(**kw):
    return tiny(**kw)


def test_a_warm_call_trains_nothing_and_returns_the_same_run(tmp_path, data, monkeypatch):
    train, val, test = data
    store = RunStore(tmp_path / "runs")
    cold, (img, txt), hit = fit_stored(config(), train, val, test, store=store)
    assert not hit
    monkeypatch.setattr(trainer_module, "fit", lambda *a, **k: pytest.fail("a stored run was trained again"))
    warm, (img2, txt2), hit = fit_stored(config(), train, val, test, store=store)
    assert hit and warm.best_epoch == cold.best_epoch and warm.best_metrics == cold.best_metrics
    np.testing.assert_array_equal(img2, img)
    np.testing.assert_array_equal(txt2, txt)
    assert warm.history.epochs == cold.history.epochs and warm.history.snapshots.keys() == cold.history.snapshots.keys()
    for k, v in cold.model.state_dict().items():
        torch.testing.assert_close(warm.model.state_dict()[k], v, rtol=0, atol=0)
    from vlr_viz.train import encode

    np.testing.assert_array_equal(encode(warm.model, test.image, test.text)[0], img)  # the model itself came back


def test_the_key_changes_with_config_data_and_nothing_else(data):
    train, val, test = data
    key = run_key(config(), train, val, test)
    assert run_key(config(), train, val, test) == key
    assert run_key(config(seed=1), train, val, test) != key
    assert run_key(config(), val, train, test) != key
    shifted = type(train)(train.image + 1e-3, train.text, train.txt_to_img)
    assert run_key(config(), shifted, val, test) != key


def test_a_damaged_entry_is_reported_and_trained_again(tmp_path, data):
    train, val, test = data
    store = RunStore(tmp_path / "runs")
    first, emb, _ = fit_stored(config(), train, val, test, store=store)
    entry = store.path(run_key(config(), train, val, test))
    (entry / "img_emb.npy").write_bytes((entry / "img_emb.npy").read_bytes()[:-8])
    with pytest.warns(StoredRunWarning, match="img_emb.npy differs from manifest.json"):
        again, emb2, hit = fit_stored(config(), train, val, test, store=store)
    assert not hit and again.best_metrics == first.best_metrics
    np.testing.assert_array_equal(emb2[0], emb[0])


def test_an_interrupted_training_leaves_no_entry(tmp_path, data):
    store = RunStore(tmp_path / "runs")

    def dying():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_train("k", dying)
    assert store.get("k") is None and store.entries() == []


RACE = textwrap.dedent("""
    import sys, time
    from vlr_viz.store.runs import RunStore, _entry
    from synthetic_features import synthetic, tiny

    def train():
        with open(sys.argv[2], "a") as log:
            log.write("trained\\n")
        time.sleep(1.0)
        from vlr_viz.train import fit
        train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
        return _entry(tiny(), fit(tiny(), train, val, progress=False), train, val, None, None)

    run, hit = RunStore(sys.argv[1]).get_or_train("shared-key", train)
    print("hit" if hit else "trained", run.summary["best_epoch"])
""")


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.path.join(os.getcwd(), "tests"),
                                                        *sys.path]), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", RACE, str(tmp_path / "runs"), str(tmp_path / "log")]
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert (tmp_path / "log").read_text().count("trained") == 1
    assert sorted(o[0].split()[0] for o in outs) == ["hit", "trained"]
    assert len(RunStore(tmp_path / "runs").entries()) == 1 and not list((tmp_path / "runs").glob("*.tmp"))


def test_runs_command_lists_and_removes(tmp_path, data, capsys, monkeypatch):
    from vlr_viz.cli import main

    train, val, test = data
    monkeypatch.setenv("VLR_VIZ_RUN_STORE", str(tmp_path / "runs"))
    fit_stored(config(), train, val, test, summary={"recipe": "sad"})
    fit_stored(config(seed=3), train, val, test, summary={"recipe": "sad"})
    assert main(["runs", "ls"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("sad") >= 2 and "2 stored runs" in listing
    stage1 = sorted((tmp_path / "runs" / "stage1").glob("*/manifest.json"))
    size = sum(f.stat().st_size for f in (tmp_path / "runs" / "stage1").rglob("*") if f.is_file())
    assert len(stage1) == 2 and f"stage1 2 entries {size / 2**20:.1f} MiB" in listing  # one stage 1 per seed
    key = RunStore().entries()[0]["key"]
    assert main(["runs", "rm", key]) == 0 and len(RunStore().entries()) == 1
    assert main(["runs", "rm", "--all"]) == 0 and RunStore().entries() == []


def test_seeds_through_the_store_train_only_what_is_missing(tmp_path, data, monkeypatch):
    from dataclasses import replace

    from vlr_viz.runner import stored_fit
    from vlr_viz.runner.stored_fit import fit_batched_stored

    train, val, test = data
    store = RunStore(tmp_path / "runs")
    one, _, _ = fit_stored(config(seed=3), train, val, test, store=store)
    trained = []
    real = stored_fit.fit_batched
    monkeypatch.setattr(stored_fit, "fit_batched", lambda configs, *a, **k: trained.append(
        [c.seed for c in configs]) or real(configs, *a, **k))
    seeds = [replace(config(), seed=s) for s in (1, 3, 5)]
    out = fit_batched_stored(seeds, train, val, test, store=store, workers=1)
    assert trained == [[1, 5]] and [hit for _, _, hit in out] == [False, True, False]
    assert out[1][0].best_metrics == one.best_metrics
    again = fit_batched_stored(seeds, train, val, test, store=store, workers=1)
    assert trained == [[1, 5]] and all(hit for _, _, hit in again)
    for (a, ea, _), (b, eb, _) in zip(out, again):
        assert a.best_metrics == b.best_metrics
        np.testing.assert_array_equal(ea[0], eb[0])


def test_runs_trained_in_worker_processes_equal_runs_trained_here(tmp_path, data, monkeypatch):
    """Two spawned workers (one torch thread each) train the missing runs into the store: the same states,
    embeddings and selected epochs, bit for bit, as the same runs trained one after the other in this process, and
    as each run trained whole (the recipes of one seed share their stage 1 in both places)."""
    from dataclasses import replace

    from vlr_viz.runner import stored_fit
    from vlr_viz.runner.stored_fit import fit_batched_stored
    from vlr_viz.train import fit
    from vlr_viz.train.threads import torch_threads

    train, val, test = data
    configs = [replace(config(method=m), seed=s) for m in ("baseline", "sad", "covlr") for s in (0, 1)]
    here_store, pool_store = RunStore(tmp_path / "here"), RunStore(tmp_path / "pool")
    with torch_threads(1):
        here = fit_batched_stored(configs, train, val, test, store=here_store, workers=1)
        fit_batched_stored(configs[:1], train, val, test, store=pool_store, workers=2)  # one run: trained here
        monkeypatch.setattr(stored_fit, "fit_batched", lambda *a, **k: pytest.fail("trained in this process"))
        pooled = fit_batched_stored(configs, train, val, test, store=pool_store, workers=2)
        whole = [fit(c, train, val, progress=False) for c in configs]
    assert [hit for _, _, hit in pooled] == [True] + [False] * 5
    assert sorted(e["key"] for e in here_store.entries()) == sorted(e["key"] for e in pool_store.entries())
    for (a, ea, _), (b, eb, _), c, w in zip(here, pooled, configs, whole):
        assert (b.config.method, b.config.seed) == (c.method, c.seed)
        assert a.best_epoch == b.best_epoch == w.best_epoch and a.best_metrics == b.best_metrics == w.best_metrics
        assert a.history.steps == b.history.steps == w.history.steps
        np.testing.assert_array_equal(ea[0], eb[0])
        np.testing.assert_array_equal(ea[1], eb[1])
        for k, v in a.model.state_dict().items():
            torch.testing.assert_close(b.model.state_dict()[k], v, rtol=0, atol=0)
            torch.testing.assert_close(w.model.state_dict()[k], v, rtol=0, atol=0)


def test_a_run_failing_in_a_worker_raises_its_own_error_naming_the_run(tmp_path, data):
    """A learning rate of 1e38 makes every run's loss NaN at its second step: the worker's `NonFiniteLossError`
    reaches the caller with the run named, no entry is written for a failed run, and no half-written folder stays."""
    from vlr_viz.runner.stored_fit import fit_batched_stored
    from vlr_viz.train import NonFiniteLossError

    train, val, test = data
    store = RunStore(tmp_path / "runs")
    with pytest.raises(NonFiniteLossError, match="non-finite loss at epoch 1, step 1") as info:
        fit_batched_stored([config(seed=0, lr=1e38), config(seed=1, lr=1e38)], train, val, test, store=store,
                           workers=2)
    assert any("store key" in note and "seed=" in note for note in getattr(info.value, "__notes__", []))
    assert store.entries() == [] and not list(store.root.glob("*.tmp"))


def test_evaluations_are_stored_exactly_and_damage_is_recomputed(tmp_path, twemoji_splits, monkeypatch):
    """`stored_evaluate` returns `evaluate`'s table value for value, reads it back without ranking anything, keys
    on the options, and recomputes an entry that does not parse."""
    from vlr_viz.eval import evaluate
    from vlr_viz.store import evaluations as stored_module
    from vlr_viz.store.arrays import CorruptCacheWarning

    test = twemoji_splits["test"]
    rng = np.random.default_rng(0)
    # random embeddings: the store is under test, not a model
    img, txt = rng.normal(size=(test.n_images, 16)), rng.normal(size=(test.n_captions, 16))
    rel = rng.random((test.n_captions, test.n_images))
    expected = evaluate(img, txt, test, relevance=rel, empty_queries="zero")
    cold = stored_module.stored_evaluate(img, txt, test, relevance=rel, empty_queries="zero", store_dir=tmp_path)
    pd.testing.assert_frame_equal(cold, expected, check_exact=True)
    monkeypatch.setattr(stored_module, "evaluate", lambda *a, **k: pytest.fail("a stored evaluation was recomputed"))
    warm = stored_module.stored_evaluate(img, txt, test, relevance=rel, empty_queries="zero", store_dir=tmp_path)
    pd.testing.assert_frame_equal(warm, expected, check_exact=True)
    assert warm.attrs == expected.attrs == {"empty_queries": "zero"}
    monkeypatch.setattr(stored_module, "evaluate", evaluate)
    skip = stored_module.stored_evaluate(img, txt, test, relevance=rel, store_dir=tmp_path)
    assert skip.attrs["empty_queries"] == "skip" and len(list(tmp_path.glob("*.json"))) == 2
    for path in tmp_path.glob("*.json"):
        path.write_text(path.read_text()[:100])
    with pytest.warns(CorruptCacheWarning, match="is damaged"):
        again = stored_module.stored_evaluate(img, txt, test, relevance=rel, empty_queries="zero", store_dir=tmp_path)
    pd.testing.assert_frame_equal(again, expected, check_exact=True)


def test_a_script_without_a_main_guard_trains_on_worker_processes_and_runs_once(tmp_path):
    """Spawned workers do not import the caller's main module (`vlr_viz.processes.SpawnPool`): a plain script that
    trains on two workers is not run again by them (it logs one line), and its runs train and are stored."""
    tests = os.path.dirname(os.path.abspath(__file__))
    log, store = tmp_path / "script.log", tmp_path / "store"
    script = tmp_path / "plain_script.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {tests!r})
        from synthetic_features import synthetic, tiny
        from vlr_viz.runner.stored_fit import fit_batched_stored
        from vlr_viz.store.runs import RunStore

        with open({str(log)!r}, "a") as f:
            f.write("the script ran\\n")
        out = fit_batched_stored([tiny(seed=0), tiny(seed=1)], synthetic(0), synthetic(1, n_img=24, extra=4),
                                 store=RunStore({str(store)!r}), workers=2)
        print("trained", [hit for _, _, hit in out], [r.best_epoch > 0 for r, _, _ in out])
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "trained [False, False] [True, True]" in proc.stdout
    assert log.read_text() == "the script ran\n"
    assert len(RunStore(store).entries()) == 2
