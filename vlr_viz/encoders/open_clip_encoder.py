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

from ..cache import file_digest
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
        size = self.model.visual.image_size
        self.image_size = size if isinstance(size, int) else size[0]
        cfg = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        self.mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))).view(1, 3, 1, 1)
        with torch.inference_mode():
            self.dim = int(self.model.encode_text(self.tokenizer(["a"])).shape[-1])
        self.cache_token = f"{self.name}|{file_digest(checkpoint)[:16]}|size{self.image_size}|bicubic|clipnorm"

    def _images(self, batch: np.ndarray) -> torch.Tensor:
        resized = [np.asarray(Image.fromarray(im).resize((self.image_size, self.image_size), Image.BICUBIC))
                   for im in batch]
        x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float() / 255.0
        return self.model.encode_image((x - self.mean) / self.std)

    def _texts(self, batch: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(batch))
