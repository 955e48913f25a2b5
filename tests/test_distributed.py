"""Two gloo processes on the CPU: the global-batch loss and gradients equal one process on the whole batch."""
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vlr_viz.losses import weighted_sum
from vlr_viz.train import PairFeatures, TrainConfig, fit
from vlr_viz import distributed as du
from vlr_viz.train.model import RetrievalModel, build_mlp_encoder
from vlr_viz.train.trainer import batch_terms, stage_weights

WORLD = 2


def make_data(n_img=40, extra=8):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n_img, 3))
    t2i = np.concatenate([np.arange(n_img), rng.choice(n_img, extra, replace=False)])
    image = z @ rng.normal(size=(3, 10)) + 0.1 * rng.normal(size=(n_img, 10))
    text = z[t2i] @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(t2i.size, 6))
    return PairFeatures(image.astype(np.float32), text.astype(np.float32), t2i)


def config(method):
    return TrainConfig(method=method, epochs_stage1=1, epochs_stage2=1, batch_size=16, hidden=16, embed_dim=8,
                       dropout=0.0, learn_tau2=True, lambda_param="raw", lr=3e-3, n_probe=8, device="cpu")


def one_step(method, captions):
    """Terms and parameter gradients of one stage-2 step on the given (local) captions."""
    cfg, data = config(method), make_data()
    torch.manual_seed(0)
    model = RetrievalModel(build_mlp_encoder(cfg, 10, 6), 8, 10, 6, cfg)
    du.broadcast_parameters(model)
    terms = batch_terms(model, data, captions, cfg, stage=2)
    total, _ = weighted_sum(terms, stage_weights(cfg, 2))
    total.backward()
    du.sync_gradients(list(model.encoder.parameters()),
                      [p for n, p in model.named_parameters() if not n.startswith("encoder.")])
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.item() for k, v in terms.items()}, grads


GLOBAL_BATCH = torch.tensor([3, 17, 40, 5, 41, 0, 22, 9, 30, 31, 47, 12, 8, 2, 44, 19])  # images 3, 0... repeat


def _worker(rank, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        for method in ("sad", "covlr"):
            terms, grads = one_step(method, du.shard(GLOBAL_BATCH))
            torch.save({"terms": terms, "grads": grads}, f"{out_dir}/{method}{rank}.pt")
        res = fit(config("sad"), make_data(), make_data(24, 4), progress=False)
        torch.save({k: v.clone() for k, v in res.model.state_dict().items()}, f"{out_dir}/fit{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """One spawn of two processes runs every case (starting processes is the slow part)."""
    out = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(str(out / "init"), str(out)), nprocs=WORLD, join=True)
    return out


@pytest.mark.parametrize("method", ["sad", "covlr"])
def test_step_equals_single_process(spawned, method):
    ref_terms, ref_grads = one_step(method, GLOBAL_BATCH)
    assert set(ref_grads) >= {"encoder.image_tower.net.0.weight", "fusion.lambda_weight"}
    for r in range(WORLD):
        got = torch.load(spawned / f"{method}{r}.pt", weights_only=True)
        assert got["terms"].keys() == ref_terms.keys()
        for k, v in ref_terms.items():
            assert got["terms"][k] == pytest.approx(v, rel=1e-5), k
        assert got["grads"].keys() == ref_grads.keys()
        for k, g in ref_grads.items():
            torch.testing.assert_close(got["grads"][k], g, rtol=1e-4, atol=1e-6, msg=k)


def test_fit_equals_single_process(spawned):
    torch.set_num_threads(1)
    ref = fit(config("sad"), make_data(), make_data(24, 4), progress=False).model.state_dict()
    for r in range(WORLD):
        got = torch.load(spawned / f"fit{r}.pt", weights_only=True)
        for k, v in ref.items():
            torch.testing.assert_close(got[k], v, rtol=1e-3, atol=1e-4, msg=k)


def test_shard_needs_divisible_batch():
    assert torch.equal(du.shard(torch.arange(6)), torch.arange(6))  # single process: the whole batch
    assert du.gather_with_grad(torch.ones(2)).shape == (2,)


def _write_features_dataset(folder, rng):
    """A ``features:`` dataset whose images and captions are two fixed linear views of shared latent factors (a
    learnable fixture, not data)."""
    to_image, to_text = rng.normal(size=(4, 12)), rng.normal(size=(4, 7))
    for split, n in (("train", 64), ("val", 24), ("test", 24)):
        d = folder / split
        d.mkdir(parents=True)
        z = rng.normal(size=(n, 4))
        t2i = np.repeat(np.arange(n), 2)
        np.save(d / "image.npy", (z @ to_image + 0.1 * rng.normal(size=(n, 12))).astype(np.float32))
        np.save(d / "text.npy", (z[t2i] @ to_text + 0.1 * rng.normal(size=(2 * n, 7))).astype(np.float32))
        np.save(d / "txt_to_img.npy", t2i)


def test_torchrun_on_precomputed_features_equals_one_process(tmp_path):
    """``torchrun --nproc_per_node=2 -m vlr_viz.runner --dataset features:DIR`` (gloo, CPU) selects the same epoch
    with the same validation RSUM as one process on the same global batch."""
    import json
    import os
    import subprocess
    import sys

    _write_features_dataset(tmp_path / "feats", np.random.default_rng(0))
    args = ["-m", "vlr_viz.runner", "--dataset", f"features:{tmp_path / 'feats'}", "--recipe", "sad-kl",
            "--epochs-stage1", "3", "--epochs-stage2", "3", "--batch-size", "16", "--hidden", "32", "--embed-dim",
            "16", "--dropout", "0", "--lr", "0.01", "--n-probe", "8", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    single = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            *args, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True,
                           timeout=300)
    assert multi.returncode == 0, multi.stderr
    one = json.loads((tmp_path / "one/metrics.json").read_text())
    two = json.loads((tmp_path / "two/metrics.json").read_text())
    assert two["selected_epoch"] == one["selected_epoch"]
    assert two["val_rsum"] == pytest.approx(one["val_rsum"], abs=1e-3)
    assert two["test_rsum"] == pytest.approx(one["test_rsum"], abs=1e-3)
    assert one["val_rsum"] > 250  # it learned (a random ranking of 24 images scores about 130)
