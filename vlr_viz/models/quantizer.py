"""Product quantization with Gumbel (PQG): the quantizer that DCMQ trains, its codes and their search.

DCMQ (Distilling vision-language pretraining for efficient cross-modal retrieval, arXiv 2405.14726) learns compact
codes with product quantization whose codeword assignment is a Gumbel-softmax, plus a term that keeps the
codewords of each sub-codebook evenly used. The paper gives only the names of these parts; docs/codes.md states
the vlr_viz reading and the choices.

Product quantization (Jégou et al., 2011): a vector ``x`` of dimension ``dim`` is cut into ``M`` sub-vectors
``x_m`` of ``dim / M`` entries; sub-codebook ``C_m`` holds ``K`` codewords; a code is one codeword index per
sub-codebook, so it takes ``bits = M · log2 K`` bits, and the quantised vector is the concatenation of the chosen
codewords.

Assignment (training). ``logits[b, m, k] = -s · ||x_m - C_mk||²`` (``similarity="distance"``, default) or
``s · <x_m, C_mk>`` (``similarity="dot"``), with a positive logit scale ``s`` (learnable by default). With Gumbel
noise ``g`` the soft assignment is ``p = softmax((logits + g) / τ)`` and the hard assignment is the one-hot of
``argmax p``. Straight-through: the forward pass returns exactly the hard codewords, the backward pass uses the
gradient of the soft codewords ``p @ C_m`` (with respect to ``p``, hence to ``x`` and, through the logits, to the
codebooks) plus the gradient of the chosen codewords themselves. :func:`codeword_logits` and
:func:`gumbel_straight_through` take any leading batch dimensions, so a stack of quantizers (one per seed) trains in
one pass with the same arithmetic.

Temperature. ``τ(step) = τ_start · (τ_end / τ_start) ^ min(step / decay_steps, 1)``: exponential decay.

Codeword balance. ``H_m = entropy(mean_b softmax(logits[b, m] / τ)) / log K`` in ``[0, 1]`` per sub-codebook
(noise-free probabilities); 1 means every codeword is used equally, a loss maximises it.

Search. Inner-product similarity between a float query and a coded item: ``score(q, code) = Σ_m <q_m,
C_m[code_m]> = <q, decode(code)>`` (asymmetric distance computation, ADC). :meth:`ProductQuantizer.search` runs it
in FAISS (``faiss.IndexPQ``, :mod:`vlr_viz.models.faiss_export`): on this project's benchmark a torch implementation
of the same lookup tables was no faster than ``IndexPQ`` (0.7-1.3×), and FAISS adds persistence and the 6-12×
faster ``IndexPQFastScan``, so vlr_viz keeps no search of its own (docs/codes.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .code_shape import check_num_codewords, pq_shape_for_bits

_SIMILARITIES = ("distance", "dot")


# ---------------------------------------------------------------------------------------------------------------
# shapes, bits and code dtypes
# ---------------------------------------------------------------------------------------------------------------
def code_dtype(num_codewords: int) -> torch.dtype:
    """Smallest unsigned code dtype for ``K`` codewords: ``torch.uint8`` for ``K <= 256``, ``torch.uint16`` up to
    65536 (ValueError beyond, or when ``K`` is not a power of two)."""
    return torch.uint8 if check_num_codewords(num_codewords) <= 256 else torch.uint16


def tau_at_step(step: int, tau_start: float, tau_end: float, decay_steps: int) -> float:
    """Exponential temperature decay: ``τ_start · (τ_end/τ_start)^min(step/decay_steps, 1)``."""
    if decay_steps <= 0:
        return float(tau_end)
    frac = min(max(step, 0) / decay_steps, 1.0)
    return float(tau_start * (tau_end / tau_start) ** frac)


def balance_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Normalised entropy of the mean assignment per sub-codebook.

    Args:
        probabilities: ``(B, M, K)`` assignment probabilities (rows sum to 1; one-hot rows give usage counts).
    Returns:
        ``(M,)`` values ``H(mean_b p[b, m]) / log K`` in ``[0, 1]``; 1 for uniform codeword usage.
    """
    if probabilities.ndim != 3:
        raise ValueError(f"probabilities must have shape (B, M, K), got {tuple(probabilities.shape)}")
    mean = probabilities.mean(0)
    ent = -(mean * torch.log(mean.clamp_min(1e-12))).sum(-1)
    return ent / math.log(probabilities.shape[-1])


# ---------------------------------------------------------------------------------------------------------------
# codes, and the assignment arithmetic (any leading batch dimensions)
# ---------------------------------------------------------------------------------------------------------------
def _check_codes(codes: torch.Tensor, num_books: int, num_codewords: int) -> torch.Tensor:
    codes = torch.as_tensor(codes)
    if codes.ndim != 2 or codes.shape[1] != num_books:
        raise ValueError(f"codes must have shape (G, {num_books}), got {tuple(codes.shape)}")
    if codes.shape[0] == 0:
        raise ValueError("codes: the gallery is empty (0 items)")
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise TypeError(f"codes must be an integer tensor, got {codes.dtype}")
    long = codes.long()
    if long.min() < 0 or long.max() >= num_codewords:
        raise ValueError(f"codes must lie in [0, {num_codewords}), got range [{int(long.min())}, {int(long.max())}]")
    return long


def decode_codes(codes: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """Concatenated codewords ``(G, dim)`` of codes ``(G, M)`` (integer, any unsigned dtype)."""
    m, k, sub = codebooks.shape
    long = _check_codes(codes, m, k).to(codebooks.device)
    return codebooks[torch.arange(m, device=codebooks.device), long].reshape(long.shape[0], m * sub)


def codeword_logits(sub: torch.Tensor, codebooks: torch.Tensor, scale, similarity: str = "distance") -> torch.Tensor:
    """``(..., B, M, K)`` scaled similarity of sub-vectors ``(..., B, M, d)`` to codebooks ``(..., M, K, d)``;
    ``scale`` broadcasts against the codebooks' leading dimensions (a scalar, or ``(..., 1, 1, 1)``).

    ``"distance"``: ``scale·(2<x_m, C_mk> - ||C_mk||²)`` = ``-scale·||x_m - C_mk||²`` up to the term
    ``scale·||x_m||²``, constant over the codewords of one sub-codebook, which softmax and argmax ignore (leaving it
    out saves two passes over the largest tensor of a training step). ``"dot"``: ``scale·<x_m, C_mk>``.
    """
    if similarity == "dot":
        return torch.einsum("...bmd,...mkd->...bmk", sub, scale * codebooks)
    bias = (scale * (codebooks ** 2)).sum(-1).unsqueeze(-3)  # (..., 1, M, K)
    return torch.einsum("...bmd,...mkd->...bmk", sub, 2 * scale * codebooks) - bias


def gumbel_noise(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log u)``, ``u ~ U(0, 1)`` drawn on the CPU from ``generator``."""
    u = torch.rand(shape, generator=generator).clamp_(1e-10, 1 - 1e-7)
    return u.log_().neg_().log_().neg_().to(device)


def gumbel_straight_through(logits: torch.Tensor, codebooks: torch.Tensor, tau: float,
                            noise: torch.Tensor | None = None):
    """Straight-through Gumbel-softmax assignment (module docstring).

    Args:
        logits: ``(..., B, M, K)``; codebooks: ``(..., M, K, d)``; tau: temperature; noise: Gumbel noise of the
            logits' shape, or ``None`` (noise-free: the hard code is the nearest codeword).
    Returns:
        ``(quantized (..., B, M, d), codes (..., B, M), soft (..., B, M, K))``: ``quantized`` equals the chosen
        codewords exactly in the forward pass.

    One product ``P @ C`` with ``P = hard + (soft - sg(soft))`` (``sg``: stop-gradient) gives both parts of the
    straight-through gradient: the value of ``P`` is the one-hot ``hard``, so ``∂/∂C = hardᵀ·g`` (the chosen
    codewords), and ``∂/∂soft = g·Cᵀ``. A matrix product also keeps the backward pass reproducible at any thread
    count, where the backward of ``codebooks[arange(M), codes]`` is an accumulating index_put whose CPU kernel adds
    in thread order.
    """
    noisy = logits if noise is None else logits + noise
    soft = F.softmax(noisy / tau, dim=-1)
    codes = noisy.argmax(-1)
    hard = torch.zeros_like(soft).scatter_(-1, codes.unsqueeze(-1), 1.0)
    assignment = hard + (soft - soft.detach())
    return torch.einsum("...bmk,...mkd->...bmd", assignment, codebooks), codes, soft


# ---------------------------------------------------------------------------------------------------------------
# codebook initialisation
# ---------------------------------------------------------------------------------------------------------------
def kmeans_codebooks(sub: torch.Tensor, num_codewords: int, iters: int = 25, seed: int = 0) -> torch.Tensor:
    """k-means codebooks ``(M, K, d)`` of sub-vectors ``(N, M, d)`` (``N >= K``), one FAISS ``faiss.Kmeans`` per
    sub-codebook (``iters`` Lloyd iterations from ``K`` random training points, seeded; one FAISS thread, so the
    codebooks do not depend on the machine's core count or on FAISS work in other threads): exactly how
    ``faiss.IndexPQ`` trains its codebooks."""
    import faiss

    from .faiss_export import faiss_threads

    n, m, d = sub.shape
    if n < num_codewords:
        raise ValueError(f"k-means needs at least K = {num_codewords} training vectors, got {n}")
    books = []
    with faiss_threads(1):
        for book in range(m):
            km = faiss.Kmeans(d, num_codewords, niter=iters, seed=seed + book, min_points_per_centroid=1,
                              max_points_per_centroid=1 << 30, verbose=False)
            km.train(np.ascontiguousarray(sub[:, book].numpy(), dtype=np.float32))
            books.append(torch.from_numpy(km.centroids.copy()))
    return torch.stack(books)


# ---------------------------------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class QuantizerOutput:
    """What :meth:`ProductQuantizer.forward` returns.

    Attributes:
        quantized: ``(B, dim)`` hard codewords in the forward pass, straight-through gradient in the backward pass.
        codes: ``(B, M)`` int64 index of the chosen codeword per sub-codebook (decode(codes) == quantized).
        soft: ``(B, M, K)`` Gumbel-softmax assignment ``softmax((logits + g) / τ)``.
        probabilities: ``(B, M, K)`` noise-free ``softmax(logits / τ)`` (what the balance term averages).
        logits: ``(B, M, K)``.
        balance: ``(M,)`` normalised entropy of the mean of ``probabilities`` per sub-codebook, in ``[0, 1]``.
        tau: the temperature used.
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    soft: torch.Tensor
    probabilities: torch.Tensor
    logits: torch.Tensor
    balance: torch.Tensor
    tau: float


class ProductQuantizer(nn.Module):
    """Product quantizer with Gumbel-softmax straight-through assignment (PQG).

    Args:
        dim: input dimension; must be divisible by ``num_books``.
        num_books: ``M`` sub-codebooks.
        num_codewords: ``K`` codewords per sub-codebook, a power of two ``<= 65536`` (uint8 codes up to 256).
        bits: optional check: must equal ``M · log2 K`` (use :meth:`from_bits` to derive ``M`` from it).
        similarity: ``"distance"`` (logits = -s·squared Euclidean distance; argmax = nearest codeword) or ``"dot"``
            (logits = s·inner product).
        logit_scale: initial ``s`` (> 0). Inputs from an L2-normalised tower have sub-vectors of squared norm about
            ``1/M``, so the default ``10·M`` puts the logits of near and far codewords several units apart.
        learn_logit_scale: train ``log s`` with the rest.
        tau_start, tau_end, tau_decay_steps: Gumbel-softmax temperature schedule (see :func:`tau_at_step`);
            :meth:`step_tau` advances it, ``forward(tau=...)`` overrides it.
        gumbel_noise: add Gumbel noise in training mode (no noise in eval mode or in :meth:`encode`).
        generator: ``torch.Generator`` for the codebook initialisation and the Gumbel noise.
    """

    def __init__(self, dim: int, num_books: int, num_codewords: int = 256, *, bits: int | None = None,
                 similarity: str = "distance", logit_scale: float | None = None, learn_logit_scale: bool = True,
                 tau_start: float = 1.0, tau_end: float = 0.2, tau_decay_steps: int = 1000,
                 gumbel_noise: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        k = check_num_codewords(num_codewords)
        if isinstance(num_books, bool) or not isinstance(num_books, (int, np.integer)) or num_books < 1:
            raise ValueError(f"num_books (M) must be a positive int, got {num_books!r}")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if dim % num_books:
            raise ValueError(f"dim = {dim} is not divisible by num_books (M) = {num_books}")
        per_book = k.bit_length() - 1
        if bits is not None and bits != num_books * per_book:
            raise ValueError(f"bits = {bits} != num_books · log2(num_codewords) = {num_books} · {per_book}")
        if similarity not in _SIMILARITIES:
            raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")
        if not (tau_start > 0 and tau_end > 0):
            raise ValueError(f"tau_start and tau_end must be > 0, got {tau_start}, {tau_end}")
        scale = float(10.0 * num_books if logit_scale is None else logit_scale)
        if scale <= 0:
            raise ValueError(f"logit_scale must be > 0, got {scale}")
        self.dim, self.num_books, self.num_codewords = int(dim), int(num_books), k
        self.sub_dim = self.dim // self.num_books
        self.similarity = similarity
        self.tau_start, self.tau_end, self.tau_decay_steps = float(tau_start), float(tau_end), int(tau_decay_steps)
        self.gumbel_noise = gumbel_noise
        self.generator = generator
        init = torch.randn(self.num_books, k, self.sub_dim, generator=generator) / math.sqrt(self.dim)
        self.codebooks = nn.Parameter(init)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(scale)), requires_grad=learn_logit_scale)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @classmethod
    def from_bits(cls, dim: int, bits: int, num_codewords: int = 256, **kwargs) -> "ProductQuantizer":
        """Quantizer with ``M = bits / log2 K`` sub-codebooks."""
        m, k = pq_shape_for_bits(bits, num_codewords)
        return cls(dim, m, k, bits=bits, **kwargs)

    # -- properties -----------------------------------------------------------------------------------------
    @property
    def bits(self) -> int:
        return self.num_books * (self.num_codewords.bit_length() - 1)

    @property
    def code_dtype(self) -> torch.dtype:
        return code_dtype(self.num_codewords)

    @property
    def tau(self) -> float:
        """Temperature at the current schedule step."""
        return tau_at_step(int(self.step), self.tau_start, self.tau_end, self.tau_decay_steps)

    def step_tau(self, n: int = 1) -> float:
        """Advance the temperature schedule by ``n`` steps; returns the new τ."""
        self.step += n
        return self.tau

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, num_books={self.num_books}, num_codewords={self.num_codewords}, bits={self.bits}, "
                f"similarity={self.similarity!r}")

    # -- core -----------------------------------------------------------------------------------------------
    def _split(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}), got {tuple(x.shape)}")
        return x.reshape(x.shape[0], self.num_books, self.sub_dim)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, M, K)`` scaled similarity of each sub-vector to each codeword of its sub-codebook."""
        return codeword_logits(self._split(x), self.codebooks, self.log_logit_scale.exp(), self.similarity)

    def forward(self, x: torch.Tensor, tau: float | None = None) -> QuantizerOutput:
        tau = self.tau if tau is None else float(tau)
        logits = self.logits(x)
        noise = (gumbel_noise(logits.shape, self.generator, logits.device)
                 if self.training and self.gumbel_noise else None)
        quantized, codes, soft = gumbel_straight_through(logits, self.codebooks, tau, noise)
        probabilities = F.softmax(logits / tau, dim=-1)
        return QuantizerOutput(quantized.reshape(x.shape[0], self.dim), codes, soft, probabilities, logits,
                               balance_entropy(probabilities), tau)

    # -- codes and search -----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Codes ``(B, M)`` in :attr:`code_dtype` (uint8 for K <= 256): noise-free argmax of the logits."""
        x = torch.as_tensor(x, dtype=self.codebooks.dtype, device=self.codebooks.device)
        self._split(x)
        parts = [self.logits(x[i:i + batch_size]).argmax(-1) for i in range(0, x.shape[0], batch_size)]
        codes = torch.cat(parts) if parts else torch.empty(0, self.num_books, dtype=torch.long)
        return codes.to(self.code_dtype)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, dim)`` concatenated codewords of ``codes`` ``(B, M)``."""
        return decode_codes(codes, self.codebooks.detach())

    def search(self, queries, codes, k: int, fast_scan: bool = False):
        """Top-``k`` coded items per float query by ADC inner product, searched in FAISS
        (:func:`vlr_viz.models.faiss_export.faiss_index`): ``(scores, indices)`` numpy arrays, each ``(Q, k)``.

        Build the index once with ``faiss_index(quantizer.codebooks, codes)`` to search one gallery many times.
        """
        from .faiss_export import faiss_index, faiss_search

        codes = _check_codes(codes, self.num_books, self.num_codewords)
        index = faiss_index(self.codebooks.detach().cpu(), codes.cpu().numpy(), fast_scan=fast_scan)
        return faiss_search(index, queries, k)

    # -- initialisation -------------------------------------------------------------------------------------
    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, method: str = "kmeans", kmeans_iters: int = 25,
                       generator: torch.Generator | None = None) -> "ProductQuantizer":
        """Set every sub-codebook from training vectors ``x`` ``(N, dim)``.

        ``method="kmeans"``: :func:`kmeans_codebooks` (the codebooks ``faiss.IndexPQ`` would train, seeded from
        ``generator``); ``"sample"``: K random training sub-vectors. With ``N < K`` the missing codewords are random
        training sub-vectors plus Gaussian jitter of 1 % of their norm (either method).
        """
        if method not in ("kmeans", "sample"):
            raise ValueError(f"method must be 'kmeans' or 'sample', got {method!r}")
        gen = generator or self.generator or torch.Generator().manual_seed(0)
        sub = self._split(torch.as_tensor(x, dtype=torch.float32).cpu())
        n, k = sub.shape[0], self.num_codewords
        if n == 0:
            raise ValueError("x: cannot initialise codebooks from 0 vectors")
        pts = sub.transpose(0, 1)  # (M, N, d)
        if n < k:
            order = torch.randperm(n, generator=gen)
            extra = pts[:, torch.randint(n, (k - n,), generator=gen)]
            jitter = torch.randn(extra.shape, generator=gen) / math.sqrt(self.sub_dim)
            books = torch.cat([pts[:, order], extra + 0.01 * extra.norm(dim=2, keepdim=True) * jitter], dim=1)
        elif method == "sample":
            books = pts[:, torch.randperm(n, generator=gen)[:k]]
        else:
            books = kmeans_codebooks(sub, k, kmeans_iters, seed=int(torch.randint(1 << 30, (1,), generator=gen)))
        self.codebooks.copy_(books.to(self.codebooks))
        return self

    @torch.no_grad()
    def codeword_usage(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, K)`` counts of the codewords that :meth:`encode` picks for ``x``."""
        codes = self.encode(x).long()
        usage = torch.zeros(self.num_books, self.num_codewords, dtype=torch.long)
        return usage.scatter_add_(1, codes.T.cpu(), torch.ones_like(codes.T.cpu()))
