"""open_clip models from a local checkpoint: both towers, for users who have CLIP weights on disk.

``open_clip:<arch>`` with ``checkpoint=<file>`` (``.pt``/``.bin``/``.safetensors``), optionally ``model_config=<json>``
to register an architecture open_clip does not ship; or ``open_clip:local-dir:<folder>`` holding
``open_clip_config.json`` and the weights. Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..keys import file_digest
from .base import Encoder


def _tokenizer(arch: str):
    import open_clip

    return open_clip.get_tokenizer(arch)


class OpenCLIPEncoder(Encoder):
    modalities = ("image", "text")

    def __init__(self, arch: str, checkpoint: str | None = None, model_config: str | None = None):
        import open_clip

        if model_config is not None:
            if not Path(model_config).exists():
                raise ValueError(f"model_config {model_config} does not exist")
            open_clip.add_model_config(model_config)
        local_dir = arch.startswith("local-dir:")
        if local_dir:
            folder = Path(arch.split(":", 1)[1])
            if not (folder / "open_clip_config.json").exists():
                raise ValueError(f"{folder} holds no open_clip_config.json")
            weights = sorted(folder.glob("open_clip_*.safetensors")) + sorted(folder.glob("open_clip_*.bin"))
            if not weights:
                raise ValueError(f"{folder} holds no open_clip_pytorch_model.bin/.safetensors weights")
            checkpoint = str(weights[0])
        else:
            if arch not in open_clip.list_models():
                raise ValueError(f"unknown open_clip architecture {arch!r}; pass model_config=<json> to register it")
            if checkpoint is None:
                raise ValueError(f"open_clip:{arch} needs checkpoint=<path to weights> (no downloads here)")
            if not Path(checkpoint).exists():
                raise ValueError(f"checkpoint {checkpoint} does not exist")
        try:
            if local_dir:
                self.model = open_clip.create_model(arch, load_weights=True, pretrained_text=False)
            else:
                self.model = open_clip.create_model(arch, pretrained=checkpoint, pretrained_text=False)
        except (RuntimeError, KeyError) as e:
            raise ValueError(f"checkpoint {checkpoint} does not match open_clip architecture {arch}: {e}") from e
        self.model.eval()
        self.tokenizer = _tokenizer(arch)
        self.name = f"open_clip:{arch}"
        from open_clip.transform import PreprocessCfg

        self.preprocess_cfg = PreprocessCfg(**self.model.visual.preprocess_cfg)
        with torch.inference_mode():
            self.dim = int(self.model.encode_text(self.tokenizer(["a"])).shape[-1])
        cfg = self.preprocess_cfg
        self.cache_token = (f"{self.name}|{file_digest(checkpoint)[:16]}|size{cfg.size}|{cfg.resize_mode}|"
                            f"{cfg.interpolation}|{tuple(cfg.mean)}|{tuple(cfg.std)}")

    def image_transform(self) -> "OpenCLIPTransform":
        return OpenCLIPTransform(self.preprocess_cfg)

    def embed_images(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(batch)

    def _texts(self, batch: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(batch))


class OpenCLIPTransform:
    """open_clip's own evaluation preprocessing (``image_transform_v2(model.visual.preprocess_cfg)``: resize the
    shorter side, centre crop, normalise) applied to a uint8 array."""

    def __init__(self, cfg):
        from open_clip.transform import image_transform_v2

        self.transform = image_transform_v2(cfg, is_train=False)

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return self.transform(Image.fromarray(image))
