"""End-to-end student: the image and text encoders of an open_clip model as the two towers.

Drop-in replacement for `DualEncoder` in `vlr_viz.train.fit` (``fit(..., encoder=OpenCLIPStudent(...))``):
the `PairFeatures` then carry pixels ``(N, 3, S, S)`` (see `preprocess_images`) and token ids ``(M, L)``
(see `OpenCLIPStudent.tokenize`) as student inputs, and the frozen teacher features as before.
Weights come from a local checkpoint the user gives (`from_pretrained`) or start random (`from_config`); no
hub download happens here.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def tiny_model_config(embed_dim: int = 32, width: int = 32, layers: int = 1, image_size: int = 32,
                      patch_size: int = 16, context_length: int = 16, vocab_size: int = 49408,
                      heads: int = 2) -> dict:
    """An open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``) small enough for CPU tests."""
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "layers": layers, "width": width, "patch_size": patch_size,
                       "head_width": width // heads},
        "text_cfg": {"context_length": context_length, "vocab_size": vocab_size, "width": width, "heads": heads,
                     "layers": layers},
    }


def preprocess_images(images: np.ndarray, image_size: int, mean=OPENAI_MEAN, std=OPENAI_STD) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` → float ``(N, 3, S, S)``: bicubic resize to ``image_size``, CLIP normalisation."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(image_size, image_size), mode="bicubic", align_corners=False).clamp(0, 1)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


class OpenCLIPStudent(nn.Module):
    """``forward(pixels, tokens) -> (v, t)``, both L2-normalised, from an open_clip ``CLIP`` model.

    The wrapped model's own ``logit_scale`` is frozen: the trainer keeps its temperature in `LogitScale`.
    """

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        for attr in ("encode_image", "encode_text", "visual"):
            if not hasattr(clip_model, attr):
                raise TypeError(f"clip_model must be an open_clip CLIP model (missing {attr!r})")
        self.clip = clip_model
        if isinstance(getattr(clip_model, "logit_scale", None), nn.Parameter):
            clip_model.logit_scale.requires_grad_(False)
        size = clip_model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length = int(clip_model.context_length)
        self.embed_dim = int(clip_model.text_projection.shape[1])

    @classmethod
    def from_config(cls, model_cfg: dict) -> "OpenCLIPStudent":
        """Random-weight model from an open_clip config dict (e.g. `tiny_model_config`)."""
        from open_clip.model import CLIP

        missing = {"embed_dim", "vision_cfg", "text_cfg"} - set(model_cfg)
        if missing:
            raise ValueError(f"model_cfg lacks {sorted(missing)}")
        return cls(CLIP(**model_cfg))

    @classmethod
    def from_pretrained(cls, arch: str, pretrained: str | None = None) -> "OpenCLIPStudent":
        """``open_clip.create_model(arch, pretrained=...)``; ``pretrained`` must be a local checkpoint path or None."""
        import open_clip

        if arch not in open_clip.list_models():
            raise ValueError(f"unknown open_clip architecture {arch!r}")
        return cls(open_clip.create_model(arch, pretrained=pretrained))

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        """Token ids ``(M, context_length)`` from open_clip's BPE tokenizer (ids above the vocabulary are an error)."""
        from open_clip.tokenizer import tokenize

        tokens = tokenize(list(captions), context_length=self.context_length)
        vocab = self.clip.vocab_size
        if int(tokens.max()) >= vocab:
            raise ValueError(f"token id {int(tokens.max())} exceeds the model's vocabulary of {vocab}")
        return tokens

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_image(pixels), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(tokens), dim=-1)

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor):
        return self.encode_image(pixels), self.encode_text(tokens)
