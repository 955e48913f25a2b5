"""Mean and sample standard deviation over seeds per group: the spread beside the paired differences of
`vlr_viz.stats.table` (a table of means ± std shows where runs vary; only the paired table says whether a method
differs from the baseline)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd


def mean_spread_table(df: pd.DataFrame, by: Sequence[str] = ("method", "level"), value: str = "value",
                      decimals: int = 2) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof 1; NaN for a single row) and count of ``value`` per group ``by``,
    plus a ``"mean ± std"`` text column; groups keep their order of first appearance."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + [value] if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}")
    if not pd.api.types.is_numeric_dtype(df[value]):
        raise ValueError(f"column {value!r} must be numeric")
    out = df.groupby(by, sort=False, dropna=False)[value].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"count": "n"})
    out["mean ± std"] = [f"{m:.{decimals}f}" if pd.isna(s) else f"{m:.{decimals}f} ± {s:.{decimals}f}"
                         for m, s in zip(out["mean"], out["std"])]
    return out
