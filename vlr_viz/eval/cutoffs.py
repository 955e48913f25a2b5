"""The one check of metric cut-offs (the ``K`` of R@K, NDCG@K, mAP@K) that every metric of vlr_viz applies."""
from __future__ import annotations

import numbers

from ..checks import describe_value
from ..errors import ConfigError

RECALL_KS = (1, 5, 10)
"""The cut-offs of Recall@K whose sum is RSUM (VSE++, Faghri et al., BMVC 2018): `recall_at_k`'s default."""


def check_cutoffs(ks, name: str = "ks") -> tuple[int, ...]:
    """``ks`` as a tuple of ints, after checking it is a non-empty sequence of distinct positive integers.

    Refused with `ConfigError` naming ``name``: a string (``"10"``) or a single number (``10``; write ``(10,)``),
    an empty sequence, a non-integer (``1.5``, ``2.0``, ``True``), a value below 1, and a repeated cut-off
    (``(1, 1)`` would count R@1 twice into RSUM). Numpy integer arrays are accepted.

    >>> check_cutoffs([1, 5, 10])
    (1, 5, 10)
    """
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise ConfigError(f"{name} must be a sequence of positive integers such as (1, 5, 10); "
                          f"got {describe_value(ks)}")
    values = list(ks)
    if not values:
        raise ConfigError(f"{name} must hold at least one cut-off; got an empty {type(ks).__name__}")
    for i, k in enumerate(values):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ConfigError(f"{name} must be positive integers; {name}[{i}] is {describe_value(k)}")
    out = tuple(int(k) for k in values)
    repeated = sorted({k for k in out if out.count(k) > 1})
    if repeated:
        raise ConfigError(f"{name} repeats the cut-off(s) {repeated}; each K may appear once")
    return out
