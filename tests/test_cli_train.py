"""``vlr-viz train``: recipes and flags reach the config, the run folder agrees with what is printed, DCMQ runs
with the default common-space teacher and with a CLIP teacher from a local folder."""
import json

import numpy as np
import pytest

from vlr_viz.cli import main
from vlr_viz.eval import recall_at_k
from vlr_viz.train import RECIPES, TrainConfig, recipe_config
from vlr_viz.train.threads import torch_threads

from tiny_models import save_tiny_hf_clip

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def test_recipe_config_merges_weights_and_overrides():
    cfg = recipe_config("sad-kl", seed=3, weights={"kd_t_loss": 0.5})
    assert (cfg.method, cfg.distance, cfg.center_teachers, cfg.tau2, cfg.seed) == ("sad", "kl", True, 0.1, 3)
    assert cfg.weights["kd_loss"] == 0.2 and cfg.weights["rep_img_loss"] == 0.0 and cfg.weights["kd_t_loss"] == 0.5
    assert cfg.weights["match_loss"] == TrainConfig().weights["match_loss"]
    assert RECIPES["sad-kl"]["weights"]["kd_loss"] == 0.2  # the table itself is not mutated
    assert recipe_config("sad") == TrainConfig(method="sad")
    with pytest.raises(ValueError, match="unknown recipe 'sad-mse'"):
        recipe_config("sad-mse")


def test_train_command_with_a_recipe_writes_what_it_prints(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--recipe", "sad-kl", "--epochs-stage1", "1", "--epochs-stage2", "2", "--hidden", "128",
               "--weight", "kd_loss=0.3", "--seed", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"test RSUM      {metrics['test_rsum']:.2f}" in printed
    assert f"selected epoch {metrics['selected_epoch']} " in printed and "recipe sad-kl" in printed
    cfg = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert (cfg.distance, cfg.seed, cfg.epochs, cfg.hidden, cfg.weights["kd_loss"]) == ("kl", 1, 3, 128, 0.3)
    img, txt, t2i = (np.load(out / f) for f in ("img_emb.npy", "txt_emb.npy", "txt_to_img.npy"))
    assert recall_at_k(img, txt, t2i, return_ranks=False)["rsum"] == pytest.approx(metrics["test_rsum"])


def test_train_command_rejects_bad_options_by_name(tmp_path, capsys):
    assert main(["train", "--method", "sadd", "--out", str(tmp_path / "x")]) == 2
    assert "unknown method 'sadd'" in capsys.readouterr().err
    assert main(["train", "--weight", "kd_loss=lots", "--out", str(tmp_path / "x")]) == 2
    assert "'lots' is not a number" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--config" in err and "missing.json" in err
    assert not (tmp_path / "x").exists()


def test_dcmq_command_with_the_common_space_teacher(tmp_path, capsys):
    import faiss

    out = tmp_path / "dcmq"
    rc = main(["codes", "--bits", "16", "--teacher-epochs-stage1", "1", "--teacher-epochs-stage2", "1",
               "--epochs", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"codes", "faiss_pq", "faiss_opq", "float"}
    assert all(set(m) == {"rsum", "map"} and 0 < m["map"] <= 100 and 0 < m["rsum"] <= 600 for m in metrics.values())
    printed = capsys.readouterr().out
    for label, key in (("DCMQ codes", "codes"), ("FAISS PQ", "faiss_pq"), ("FAISS OPQ", "faiss_opq"),
                       ("float teacher", "float")):
        line = next(x for x in printed.splitlines() if x.startswith(label))
        assert f"{metrics[key]['rsum']:.2f}" in line and f"{metrics[key]['map']:.2f}" in line
    assert "run folder" in printed
    index = faiss.deserialize_index(np.fromfile(out / "test_text_codes.faiss", dtype=np.uint8))
    assert (index.pq.M, index.pq.nbits) == (2, 8) and index.ntotal > 0
    from safetensors import safe_open

    with safe_open(out / "student.safetensors", "pt") as f:
        assert json.loads(f.metadata()["config"])["bits"] == 16 and len(list(f.keys())) > 0


def test_dcmq_command_with_a_local_clip_teacher(tmp_path, capsys):
    folder = save_tiny_hf_clip(tmp_path / "clip")
    out = tmp_path / "dcmq-clip"
    rc = main(["codes", "--bits", "16", "--epochs", "1", "--teacher", f"hf-clip:{folder}", "--out", str(out),
               "--quiet"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"codes", "faiss_pq", "faiss_opq", "float"}
    assert "float teacher" in capsys.readouterr().out
    assert main(["codes", "--teacher", "clip-from-nowhere", "--out", str(tmp_path / "y")]) == 2
    assert "--teacher 'clip-from-nowhere'" in capsys.readouterr().err
    assert main(["codes", "--bits", "20", "--out", str(tmp_path / "z")]) == 2
    assert "bits" in capsys.readouterr().err


def test_codes_are_their_own_command_and_method_names_an_objective(tmp_path, capsys):
    """``train --method dcmq`` points to ``vlr-viz codes``; ``codes`` refuses a teacher without epochs and a
    negative seed naming the option, before any work (no run folder)."""
    assert main(["train", "--method", "dcmq", "--out", str(tmp_path / "t")]) == 2
    assert "vlr-viz codes --bits 32" in capsys.readouterr().err
    for argv, named in ((["--teacher-epochs-stage1", "0", "--teacher-epochs-stage2", "0"], "--teacher-epochs-stage1"),
                        (["--teacher-epochs-stage2", "-1"], "--teacher-epochs-stage2 must be at least 0, got -1"),
                        (["--seed", "-2"], "--seed must be at least 0, got -2")):
        assert main(["codes", *argv, "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("vlr-viz: error: ") and named in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t").exists() and not (tmp_path / "c").exists()


def test_train_and_eval_on_a_karpathy_file_end_to_end(tmp_path, capsys):
    """A Karpathy split file of 60 coloured shapes (written here): features, training and evaluation through the CLI,
    the split of the file honoured and the run evaluated on it."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    colours = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220), "yellow": (230, 210, 30)}
    shapes, images = ("square", "disc", "bar"), []
    for k in range(60):
        name, shape = list(colours)[k % 4], shapes[(k // 4) % 3]
        img = Image.new("RGB", (48, 40), (255, 255, 255))
        box = [int(v) for v in rng.integers(2, 10, 2)] + [int(v) for v in rng.integers(30, 38, 2)]
        getattr(ImageDraw.Draw(img), "ellipse" if shape == "disc" else "rectangle")(
            box if shape != "bar" else [box[0], 16, box[2], 24], fill=colours[name])
        (tmp_path / "img").mkdir(exist_ok=True)
        img.save(tmp_path / "img" / f"{k}.png")
        images.append({"filename": f"{k}.png", "split": ["train", "train", "restval", "val", "test"][k % 5],
                       "sentences": [{"raw": f"a {name} {shape}"}, {"raw": f"{shape} in {name}"}]})
    (tmp_path / "dataset_shapes.json").write_text(json.dumps({"dataset": "shapes", "images": images}))
    spec = f"karpathy:{tmp_path / 'dataset_shapes.json'}:{tmp_path / 'img'}"
    out = tmp_path / "run"
    assert main(["train", "--dataset", spec, "--recipe", "baseline", "--epochs-stage1", "6", "--epochs-stage2", "0",
                 "--batch-size", "8", "--hidden", "64", "--out", str(out), "--quiet",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == spec and np.load(out / "img_emb.npy").shape[0] == 12  # the file's 12 test images
    assert metrics["test"]["rsum"] == pytest.approx(metrics["test_rsum"])
    capsys.readouterr()
    assert main(["eval", str(out)]) == 0
    table = capsys.readouterr().out
    assert "rsum" in table and "t2t" in table and (out / "eval.csv").exists()


def test_the_train_command_reads_a_stored_run_instead_of_training(tmp_path, capsys, monkeypatch):
    from vlr_viz.train import trainer

    args = ["train", "--recipe", "baseline", "--epochs-stage1", "2", "--epochs-stage2", "0", "--hidden", "64",
            "--seed", "5", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    first = json.loads((tmp_path / "a/metrics.json").read_text())
    monkeypatch.setattr(trainer, "fit", lambda *a, **k: pytest.fail("trained although the store holds the run"))
    import vlr_viz.runner.run as run_module

    monkeypatch.setattr(run_module, "fit", trainer.fit)
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    second = json.loads((tmp_path / "b/metrics.json").read_text())
    assert not first["from_store"] and second["from_store"] and second["run_key"] == first["run_key"]
    assert second["test"] == first["test"] and second["val"] == first["val"]
    np.testing.assert_array_equal(np.load(tmp_path / "b/img_emb.npy"), np.load(tmp_path / "a/img_emb.npy"))
    with pytest.raises(BaseException, match="trained although"):
        main([*args, "--out", str(tmp_path / "c"), "--force"])
