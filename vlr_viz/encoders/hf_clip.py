"""A transformers CLIP model saved in a local folder (``save_pretrained`` layout): both towers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..keys import file_digest
from .base import Encoder


def _features(out) -> torch.Tensor:
    """``get_*_features`` returns a tensor in transformers 4 and a model output in some 5.x versions."""
    if isinstance(out, torch.Tensor):
        return out
    for attr in ("image_embeds", "text_embeds", "pooler_output"):
        if getattr(out, attr, None) is not None:
            return getattr(out, attr)
    raise TypeError(f"unexpected CLIP feature output {type(out).__name__}")


class HFCLIPEncoder(Encoder):
    modalities = ("image", "text")

    def __init__(self, folder: str):
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        folder_path = Path(folder)
        if not folder_path.is_dir():
            raise ValueError(f"transformers CLIP folder {folder} does not exist")
        try:
            self.model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise ValueError(f"cannot load a transformers CLIP model from {folder}: {e}") from e
        self.name = f"hf-clip:{folder_path.name}"
        self.dim = int(self.model.config.projection_dim)
        weights = sorted(folder_path.glob("*.safetensors")) or sorted(folder_path.glob("*.bin"))
        self.cache_token = f"hf-clip|{file_digest(weights[0])[:16] if weights else 'none'}|processor"

    def image_transform(self) -> "HFCLIPTransform":
        return HFCLIPTransform(self.processor)

    def embed_images(self, batch: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_image_features(pixel_values=batch))

    def _texts(self, batch: list[str]) -> torch.Tensor:
        max_len = self.model.config.text_config.max_position_embeddings
        tok = self.tokenizer(batch, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        return _features(self.model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]))


class HFCLIPTransform:
    """The model's own ``CLIPImageProcessor`` (resize the shortest edge, centre crop, normalise) on one image."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return self.processor(images=[image], return_tensors="pt")["pixel_values"][0]
