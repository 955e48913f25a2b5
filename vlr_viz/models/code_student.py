"""The DCMQ student: a linear adaptor per modality on a common space, and one product quantizer for both.

Our reading of DCMQ (arXiv 2405.14726; docs/codes.md): the student starts FROM the teacher's common space. Each
modality's input (the teacher's L2-normalised image or text embedding) passes through its own affine map,
initialised to the identity, and is normalised again; one set of product-quantisation codebooks, initialised by
k-means on the training embeddings (what ``faiss.IndexPQ`` would train), codes both modalities, so a float query of
either modality searches the other's codes with one set of lookup tables::

    v = norm(W_v a + c_v),   t = norm(W_t b + c_t),   code(x) = argmin_k ||x_m - C_mk||² per sub-codebook m

At initialisation the student is exactly plain PQ of the teacher space; training moves the adaptors and the
codebooks together. ``CodeStudents`` holds ``G`` such students as stacked parameters (leading dimension ``G``), so
several seeds or supervisions train in one pass with the arithmetic of one (``G = 1`` is a single student).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .quantizer import ProductQuantizer, codeword_logits, gumbel_noise, gumbel_straight_through, pq_shape_for_bits

MODALITIES = ("image", "text")


class CodeStudents(nn.Module):
    """``G`` DCMQ students over a ``dim``-dimensional common space, each with ``bits``-bit codes.

    Args:
        groups: ``G``.
        dim: dimension of the common space (input and output of the adaptors; divisible by ``M``).
        bits: code length ``M · log2 K``.
        num_codewords: ``K`` per sub-codebook.
        logit_scale: initial ``s`` of the assignment logits ``-s·||x_m - C_mk||²`` (default ``10·M``, as
            :class:`~vlr_viz.models.quantizer.ProductQuantizer`); learnable.
    """

    def __init__(self, groups: int, dim: int, bits: int, num_codewords: int = 256, logit_scale: float | None = None):
        super().__init__()
        m, k = pq_shape_for_bits(bits, num_codewords)
        if dim % m:
            raise ValueError(f"bits = {bits} needs M = {m} sub-codebooks, which do not divide the common space's "
                             f"dimension {dim}")
        if groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        self.groups, self.dim, self.bits, self.num_books, self.num_codewords = groups, dim, bits, m, k
        eye = torch.eye(dim).expand(groups, dim, dim)
        self.image_weight = nn.Parameter(eye.clone())
        self.image_bias = nn.Parameter(torch.zeros(groups, dim))
        self.text_weight = nn.Parameter(eye.clone())
        self.text_bias = nn.Parameter(torch.zeros(groups, dim))
        self.codebooks = nn.Parameter(torch.zeros(groups, m, k, dim // m))
        scale = float(10.0 * m if logit_scale is None else logit_scale)
        self.log_logit_scale = nn.Parameter(torch.full((groups,), scale).log())

    def extra_repr(self) -> str:
        return f"groups={self.groups}, dim={self.dim}, bits={self.bits}, M={self.num_books}, K={self.num_codewords}"

    def embed(self, x: torch.Tensor, modality: str) -> torch.Tensor:
        """``(G, B, dim)`` normalised student embeddings of inputs ``(G, B, dim)`` (or ``(B, dim)``, shared)."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if x.shape[-1] != self.dim:
            raise ValueError(f"{modality} inputs have dimension {x.shape[-1]}, the student's common space {self.dim}")
        weight, bias = getattr(self, f"{modality}_weight"), getattr(self, f"{modality}_bias")
        x = x.expand(self.groups, *x.shape) if x.ndim == 2 else x
        return F.normalize(torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2)), dim=-1)

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """``(G, B, M, K)`` assignment logits of embeddings ``(G, B, dim)``."""
        sub = embedding.reshape(*embedding.shape[:-1], self.num_books, self.dim // self.num_books)
        return codeword_logits(sub, self.codebooks, self.log_logit_scale.exp()[:, None, None, None])

    def quantize(self, embedding: torch.Tensor, tau: float, generators=None):
        """Straight-through Gumbel quantisation of ``(G, B, dim)``: ``(quantized (G, B, dim), codes (G, B, M),
        probabilities (G, B, M, K))`` (noise-free ``softmax(logits / τ)``, what the balance term averages).
        ``generators``: one ``torch.Generator`` per group for the Gumbel noise (each group draws exactly what it
        would draw alone), or ``None``: no noise, and the probabilities are the soft assignment itself."""
        logits = self.logits(embedding)
        noise = None
        if generators is not None:
            noise = torch.stack([gumbel_noise(logits.shape[1:], g) for g in generators]).to(logits.device)
        quantized, codes, soft = gumbel_straight_through(logits, self.codebooks, tau, noise)
        probabilities = soft if noise is None else F.softmax(logits / tau, dim=-1)
        return quantized.reshape(embedding.shape), codes, probabilities

    @torch.no_grad()
    def init_codebooks(self, vectors: torch.Tensor, seeds, iters: int = 25) -> None:
        """k-means codebooks of ``vectors`` ``(N, dim)`` for each group, group ``g`` seeded by ``seeds[g]`` (groups
        with the same seed share one k-means run: it gives them the same codebooks anyway)."""
        books = {}
        for g, seed in enumerate(seeds):
            if int(seed) not in books:
                pq = ProductQuantizer(self.dim, self.num_books, self.num_codewords)
                pq.init_from_data(vectors, "kmeans", iters, generator=torch.Generator().manual_seed(int(seed)))
                books[int(seed)] = pq.codebooks.detach()
            self.codebooks[g] = books[int(seed)]

    @torch.no_grad()
    def select(self, group: int) -> "CodeStudents":
        """A ``G = 1`` copy of student ``group``."""
        one = CodeStudents(1, self.dim, self.bits, self.num_codewords)
        one.load_state_dict({k: v[group:group + 1].clone() for k, v in self.state_dict().items()})
        return one.to(self.codebooks.device)

    @torch.no_grad()
    def quantizer(self, group: int = 0) -> ProductQuantizer:
        """Student ``group``'s codebooks as an eval-mode :class:`ProductQuantizer` (encode, decode, FAISS
        search)."""
        pq = ProductQuantizer(self.dim, self.num_books, self.num_codewords, logit_scale=1.0, gumbel_noise=False)
        pq.codebooks.copy_(self.codebooks[group])
        pq.log_logit_scale.copy_(self.log_logit_scale[group])
        return pq.eval().to(self.codebooks.device)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, modality: str) -> torch.Tensor:
        """Codes ``(G, B, M)`` (uint8 for K <= 256) of inputs ``(B, dim)``: nearest codewords of the
        embeddings."""
        codes = self.logits(self.embed(x, modality)).argmax(-1)
        return codes.to(self.quantizer().code_dtype)


__all__ = ["MODALITIES", "CodeStudents"]
