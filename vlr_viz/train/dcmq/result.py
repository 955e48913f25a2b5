"""`DCMQResult`: a trained DCMQ student at its selected epoch, with what the training recorded."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ...eval.codes import code_retrieval_metrics
from ...models.code_student import MODALITIES, CodeStudents
from ...models.faiss_export import faiss_index
from ...models.quantizer import ProductQuantizer
from ..data import PairFeatures
from .config import DCMQConfig


def codeword_counts(codes: np.ndarray, num_codewords: int) -> np.ndarray:
    """``(M, K)`` how often each codeword of each sub-codebook occurs in ``codes`` ``(N, M)``."""
    m = codes.shape[1]
    flat = codes.astype(np.int64) + np.arange(m) * num_codewords
    return np.bincount(flat.ravel(), minlength=m * num_codewords).reshape(m, num_codewords)


@torch.no_grad()
def split_codes(student: CodeStudents, split: PairFeatures) -> dict[str, torch.Tensor]:
    """Float embeddings ``(G, N, D)`` / ``(G, M, D)`` and codes ``(G, N, M)`` / ``(G, M, M)`` of a split's images
    and captions, for every student of the stack."""
    device = student.codebooks.device
    v = student.embed(split.image.to(device), "image")
    t = student.embed(split.text.to(device), "text")
    code_dtype = student.quantizer().code_dtype
    return {"image": v, "text": t, "image_codes": student.logits(v).argmax(-1).to(code_dtype),
            "text_codes": student.logits(t).argmax(-1).to(code_dtype)}


def split_metrics(student: CodeStudents, split: PairFeatures, ks=(1, 5, 10), map_ks=(50,),
                  metrics=code_retrieval_metrics) -> list[dict]:
    """:func:`~vlr_viz.eval.codes.code_retrieval_metrics` of every student of the stack on ``split`` (``metrics``:
    a function of its arguments, e.g. `vlr_viz.store.evaluations.stored_code_retrieval_metrics`, which reads them
    back when the same codes were evaluated before)."""
    if split.labels is None:
        raise ValueError(f"{split.name} has no labels: the code metrics need categories for mAP")
    out = split_codes(student, split)
    return [metrics(out["image"][g].cpu(), out["text"][g].cpu(), out["image_codes"][g].cpu(),
                                   out["text_codes"][g].cpu(), student.codebooks[g].detach().cpu(), split.txt_to_img,
                                   split.labels, ks, map_ks) for g in range(student.groups)]


@dataclass
class DCMQResult:
    """What :func:`~vlr_viz.train.dcmq.fit_dcmq` returns: the student at the selected epoch (eval mode), the
    training split's codes, per-epoch history (loss terms, τ, logit scale, validation metrics; epoch 0 = the
    initialisation) and ``(M, K)`` codeword usage on the training split."""

    config: DCMQConfig
    student: CodeStudents
    history: pd.DataFrame
    best_epoch: int
    image_codes: np.ndarray
    text_codes: np.ndarray
    codeword_usage: np.ndarray
    val_metrics: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def quantizer(self) -> ProductQuantizer:
        """The codebooks as an eval-mode :class:`~vlr_viz.models.quantizer.ProductQuantizer`."""
        return self.student.quantizer()

    def embed(self, split: PairFeatures) -> tuple[np.ndarray, np.ndarray]:
        """Float student embeddings ``(image (N, D), text (M, D))`` of a split: the queries of code search."""
        out = split_codes(self.student, split)
        return out["image"][0].cpu().numpy(), out["text"][0].cpu().numpy()

    def encode(self, split: PairFeatures) -> tuple[np.ndarray, np.ndarray]:
        """Codes ``(image (N, M), text (M', M))`` (uint8 for K <= 256): the gallery side of code search."""
        out = split_codes(self.student, split)
        return out["image_codes"][0].cpu().numpy(), out["text_codes"][0].cpu().numpy()

    def evaluate(self, split: PairFeatures, ks=(1, 5, 10), map_ks=(50,),
                 metrics=code_retrieval_metrics) -> dict[str, float]:
        """Cross-modal R@K / RSUM and category mAP of float queries against the coded other modality (``metrics``:
        see `split_metrics`)."""
        return split_metrics(self.student, split, ks, map_ks, metrics)[0]

    def faiss_index(self, split: PairFeatures, modality: str = "text", fast_scan: bool = False):
        """A ``faiss.IndexPQ`` of the split's ``modality`` codes (the gallery); query it with :meth:`embed`'s
        embeddings of the other modality (see :mod:`vlr_viz.models.faiss_export`)."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        codes = self.encode(split)[MODALITIES.index(modality)]
        return faiss_index(self.student.codebooks[0].detach().cpu(), codes, fast_scan=fast_scan)
