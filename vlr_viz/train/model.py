"""`RetrievalModel`: the student encoder plus every learnable piece of the objectives, in one state dict."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models.fusion import LogitScale, TeacherFusion
from ..models.towers import DualEncoder
from .config import TrainConfig


class RetrievalModel(nn.Module):
    """Student ``encoder`` (``forward(image, text) -> (v, t)``), ``logit_scale`` (1/τ), ``fusion`` (λ, τ2), and
    the representation-distillation maps ``proj_image_teacher`` (Da → D) and ``proj_text_teacher`` (Db → D)."""

    def __init__(self, encoder: nn.Module, embed_dim: int, teacher_image_dim: int, teacher_text_dim: int,
                 config: TrainConfig, init_lambda: float | None = None):
        super().__init__()
        self.encoder = encoder
        self.logit_scale = LogitScale(config.init_tau, learnable=config.learn_tau)
        lam0 = config.init_lambda if init_lambda is None else init_lambda
        self.fusion = TeacherFusion(config.lambda_param, lam0, config.tau2,
                                    learn_lambda=config.lambda_mode == "learned", learn_tau2=config.learn_tau2)
        self.proj_image_teacher = nn.Linear(teacher_image_dim, embed_dim)
        self.proj_text_teacher = nn.Linear(teacher_text_dim, embed_dim)

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        return self.encoder(image, text)

    def scalars(self) -> dict[str, float]:
        """Current λ, τ, τ2."""
        with torch.no_grad():
            return {"lam": self.fusion.lam.item(), "tau": self.logit_scale.tau.item(), "tau2": self.fusion.tau2.item()}


def build_mlp_encoder(config: TrainConfig, image_dim: int, text_dim: int) -> DualEncoder:
    return DualEncoder(image_dim, text_dim, config.embed_dim, config.hidden, config.depth, config.dropout)


def model_from_state(config: TrainConfig, dims: dict, state: dict, encoder: nn.Module | None = None
                     ) -> RetrievalModel:
    """A `RetrievalModel` (MLP towers unless ``encoder`` is given) with ``state`` loaded, in eval mode on the CPU.

    ``dims``: `PairFeatures.dims` of the data it was trained on. The new modules are built on the meta device and
    take ``state``'s tensors as their parameters (nothing is initialised only to be overwritten)."""
    if encoder is None and (len(dims["image"]) != 1 or len(dims["text"]) != 1):
        raise ValueError("this run has a custom encoder: pass encoder=")
    with torch.device("meta"):
        if encoder is None:
            encoder = build_mlp_encoder(config, dims["image"][0], dims["text"][0])
        model = RetrievalModel(encoder, config.embed_dim, dims["teacher_image"], dims["teacher_text"], config)
    model.load_state_dict(state, assign=True)
    return model.eval()


@torch.no_grad()
def encode(model: RetrievalModel, image, text, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings ``(N, D)`` and ``(M, D)`` (float32 numpy) of all images and captions, in eval mode (a side given
    as ``None`` comes back as ``None``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    enc = model.encoder

    def embed(x, fn):
        if x is None:
            return None
        return torch.cat([fn(x[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, x.shape[0], batch_size)]).numpy()

    try:
        return embed(image, enc.encode_image), embed(text, enc.encode_text)
    finally:
        model.train(was_training)
