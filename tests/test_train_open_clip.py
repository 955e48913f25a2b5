"""End-to-end student from a tiny random-weight open_clip model: training moves both towers and lowers the loss."""
import numpy as np
import pytest
import torch

from vlr_viz.losses import matching_loss, structure_loss
from vlr_viz.models.fusion import LogitScale
from vlr_viz.models.open_clip_student import (OPENAI_MEAN, OPENAI_STD, OpenCLIPStudent, preprocess_images,
                                              tiny_model_config)
from vlr_viz.train import PairFeatures, RunSpan, TrainConfig, fit, load_model

CAPTIONS = ["red apple", "green apple", "grinning face", "crying face", "dog", "cat face", "flag of france",
            "flag of japan", "rocket", "airplane", "soccer ball", "basketball"]


@pytest.fixture(scope="module")
def toy():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = len(CAPTIONS)
    images = rng.integers(0, 256, size=(n, 40, 40, 3), dtype=np.uint8)
    a = rng.normal(size=(n, 12)).astype(np.float32)
    b = (a[:, :8] + 0.3 * rng.normal(size=(n, 8))).astype(np.float32)
    return images, a, b


def test_preprocess_images():
    white = np.full((2, 20, 24, 3), 255, dtype=np.uint8)
    x = preprocess_images(white, 32)
    assert x.shape == (2, 3, 32, 32)
    expected = (1 - np.array(OPENAI_MEAN)) / np.array(OPENAI_STD)
    np.testing.assert_allclose(x[0, :, 5, 7].numpy(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_images(white.astype(np.float32), 32)


def test_tokenize_and_encode():
    torch.manual_seed(0)
    student = OpenCLIPStudent.from_config(tiny_model_config())
    tokens = student.tokenize(CAPTIONS[:3])
    assert tokens.shape == (3, 16) and tokens.dtype == torch.long
    v, t = student(preprocess_images(np.zeros((3, 8, 8, 3), np.uint8), student.image_size), tokens)
    assert v.shape == t.shape == (3, 32)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(3))
    assert not student.clip.logit_scale.requires_grad
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        OpenCLIPStudent.from_pretrained("ViT-Tiny-Nonexistent")


def test_training_steps_lower_the_loss_and_move_both_towers(toy):
    images, a, b = toy
    torch.manual_seed(0)
    student = OpenCLIPStudent.from_config(tiny_model_config())
    scale = LogitScale()
    pixels, tokens = preprocess_images(images, student.image_size), student.tokenize(CAPTIONS)
    ids = torch.arange(len(CAPTIONS))
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    opt = torch.optim.AdamW(list(student.parameters()) + list(scale.parameters()), lr=1e-3)
    losses = []
    for _ in range(12):
        v, t = student(pixels, tokens)
        kd = structure_loss(v, t, torch.from_numpy(a), torch.from_numpy(b), lam=0.5, tau2=0.07)
        loss = matching_loss(v, t, ids, logit_scale=scale())["match_loss"] + 0.5 * kd["kd_loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    moved = {n for n, p in student.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("clip.visual.") for n in moved)
    assert any(n.startswith("clip.transformer.") for n in moved) and "clip.token_embedding.weight" in moved
    assert "clip.logit_scale" not in moved


def test_fit_with_open_clip_encoder_and_reload(toy, tmp_path):
    images, a, b = toy
    torch.manual_seed(0)
    student = OpenCLIPStudent.from_config(tiny_model_config())
    pixels, tokens = preprocess_images(images, student.image_size), student.tokenize(CAPTIONS)
    feats = PairFeatures(pixels, tokens, np.arange(len(CAPTIONS)), teacher_image=a, teacher_text=b)
    cfg = TrainConfig(method="sad", epochs_stage1=1, epochs_stage2=2, batch_size=6, embed_dim=32, lr=1e-3,
                      n_probe=6, device="cpu")
    res = fit(cfg, feats, feats, progress=False, encoder=student, span=RunSpan(checkpoint_dir=tmp_path / "ck"))
    steps = res.history.step_frame()
    assert steps[steps.stage == 2]["kd_loss"].notna().all()
    assert res.history.meta["dims"]["image"] == [3, 32, 32]
    fresh = OpenCLIPStudent.from_config(tiny_model_config())
    reloaded = load_model(tmp_path / "ck", encoder=fresh)
    for k, v in res.model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[k], v)
    with pytest.raises(ValueError, match="custom encoder"):
        load_model(tmp_path / "ck")
    with pytest.raises(ValueError, match="embeds into 32 dims"):
        fit(TrainConfig(embed_dim=16, batch_size=6, device="cpu"), feats, feats, progress=False, encoder=student)
