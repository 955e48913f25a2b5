"""Training on the real Twemoji teacher features: every method far above chance; the CLI writes a run folder."""
import json

import numpy as np
import pytest
import torch

from vlr_viz.eval import recall_at_k
from vlr_viz.train import History, PairFeatures, TrainConfig, encode, fit, load_model
from vlr_viz.runner.__main__ import main as train_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def splits():
    from vlr_viz.data import load_twemoji
    from vlr_viz.features import load_features
    from vlr_viz.store.arrays import array_cache

    torch.set_num_threads(1)
    out = {}
    for s in ("train", "val", "test"):
        pairs = load_twemoji(split=s, cache=array_cache())
        out[s] = PairFeatures.from_features(load_features(pairs, progress=False), pairs, name=s)
    return out


def chance_rsum(n_images):
    """One caption per image: R@K of a random ranking is K / N in each direction."""
    return 2 * sum(100.0 * k / n_images for k in (1, 5, 10))


@pytest.mark.parametrize("method", ["baseline", "sad", "covlr"])
def test_methods_far_above_chance(splits, method):
    cfg = TrainConfig(method=method, epochs_stage1=3, epochs_stage2=3, hidden=512, device="cpu", snapshot_every=0)
    res = fit(cfg, splits["train"], splits["val"], progress=False)
    test = splits["test"]
    img, txt = encode(res.model, test.image, test.text)
    rsum = recall_at_k(img, txt, test.txt_to_img.numpy(), return_ranks=False)["rsum"]
    assert chance_rsum(test.n_images) == pytest.approx(3.17, abs=0.01)
    assert rsum > 25 * chance_rsum(test.n_images), rsum
    assert res.best_metrics["rsum"] > 150  # validation split (500 pairs)


def test_cli_writes_a_run_folder(splits, tmp_path, capsys):
    out = tmp_path / "run"
    rc = train_main(["--method", "sad", "--out", str(out), "--epochs-stage1", "2", "--epochs-stage2", "1",
                     "--hidden", "256", "--weight", "kd_loss=0.5", "--center-teachers", "--device", "cpu", "--quiet"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert printed["test_rsum"] == pytest.approx(metrics["test_rsum"])
    cfg = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert cfg.weights["kd_loss"] == 0.5 and cfg.center_teachers and cfg.epochs == 3
    img, txt = np.load(out / "img_emb.npy"), np.load(out / "txt_emb.npy")
    t2i = np.load(out / "txt_to_img.npy")
    assert img.shape == (splits["test"].n_images, 256) and txt.shape[0] == t2i.size
    again = recall_at_k(img, txt, t2i, return_ranks=False)
    assert again["rsum"] == pytest.approx(metrics["test_rsum"])
    hist = History.load(out)
    assert metrics["selected_epoch"] == hist.meta["best_epoch"]
    ep = hist.epoch_frame().set_index("epoch")
    assert metrics["val_rsum"] == pytest.approx(ep.loc[metrics["selected_epoch"], "val_rsum"])
    model = load_model(out / "checkpoint")
    img2, _ = encode(model, splits["test"].image, splits["test"].text)
    np.testing.assert_allclose(img2, img, atol=1e-5)
    assert train_main(["--method", "sad", "--out", str(out), "--weight", "kd"]) == 2
