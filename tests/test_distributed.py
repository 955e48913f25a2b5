"""Two gloo processes on the CPU: the global-batch loss and gradients equal one process on the whole batch."""
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vlr_viz.losses import weighted_sum
from vlr_viz.train import PairFeatures, TrainConfig, fit
from vlr_viz.train import distributed as du
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
