"""The shape of a product-quantised code: ``M`` sub-codebooks of ``K`` codewords make a code of ``M · log2 K`` bits
(Jégou et al., 2011; `vlr_viz.models.quantizer`). Without torch, so that `vlr_viz.train.dcmq.DCMQConfig` checks a
code length without loading it."""
from __future__ import annotations

import numbers


def check_num_codewords(num_codewords: int) -> int:
    """``K`` as an int: a power of two from 2 to 65536 (the uint16 code dtype); TypeError / ValueError naming it."""
    if isinstance(num_codewords, bool) or not isinstance(num_codewords, numbers.Integral):
        raise TypeError(f"num_codewords must be an int, got {type(num_codewords).__name__}")
    k = int(num_codewords)
    if k < 2 or k & (k - 1):
        raise ValueError(f"num_codewords (K) must be a power of two >= 2, got {k}")
    if k > 65536:
        raise ValueError(f"num_codewords (K) = {k} does not fit the largest code dtype (uint16, K <= 65536)")
    return k


def pq_shape_for_bits(bits: int, num_codewords: int = 256) -> tuple[int, int]:
    """``(M, K)`` such that ``M · log2 K == bits``: e.g. ``pq_shape_for_bits(64) == (8, 256)``.

    Raises ValueError naming ``bits`` when it is not a positive multiple of ``log2 K``, and naming
    ``num_codewords`` when ``K`` is not a power of two or exceeds the uint16 code dtype.
    """
    k = check_num_codewords(num_codewords)
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits <= 0:
        raise ValueError(f"bits must be a positive int, got {bits!r}")
    per_book = k.bit_length() - 1
    if bits % per_book:
        raise ValueError(f"bits = {bits} is not a multiple of log2(num_codewords) = {per_book} (K = {k})")
    return int(bits) // per_book, k
