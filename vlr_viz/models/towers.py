"""Student towers: trainable heads that map frozen backbone features into the L2-normalised common space."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLPTower(nn.Module):
    """``depth`` layers: (Linear → LayerNorm → GELU → Dropout) × (depth-1), then Linear to ``out_dim``.

    ``depth=1`` is a linear projection. The output is L2-normalised when ``normalize`` is true.
    """

    def __init__(self, in_dim: int, out_dim: int = 256, hidden: int = 1024, depth: int = 2,
                 dropout: float = 0.1, normalize: bool = True):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout)]
            d = hidden
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim, self.normalize = in_dim, out_dim, normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return F.normalize(y, dim=-1) if self.normalize else y


class DualEncoder(nn.Module):
    """An image tower and a text tower sharing one common space of dimension ``embed_dim``."""

    def __init__(self, image_dim: int, text_dim: int, embed_dim: int = 256, hidden: int = 1024,
                 depth: int = 2, dropout: float = 0.1):
        super().__init__()
        self.image_tower = MLPTower(image_dim, embed_dim, hidden, depth, dropout)
        self.text_tower = MLPTower(text_dim, embed_dim, hidden, depth, dropout)
        self.embed_dim = embed_dim

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_tower(x)

    def encode_text(self, x: torch.Tensor) -> torch.Tensor:
        return self.text_tower(x)

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor):
        return self.image_tower(image_features), self.text_tower(text_features)
