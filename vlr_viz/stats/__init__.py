"""vlr_viz.stats: paired statistics for comparing methods (docs/statistics.md).

* `paired_comparison`: per-seed values of two methods → mean difference, t-interval, paired t and Wilcoxon.
* `paired_bootstrap`, `retrieval_units`: per-query values of two models on one run → bootstrap interval of the
  difference (queries resampled, the metric recomputed for both on the same resample).
* `holm`: Holm–Bonferroni adjusted p-values over the cells of a table.
* `paired_table`, `paired_cells`, `format_cell`, `table_record`: a results table of Δ vs a baseline with
  intervals and Holm, its display and its JSON record; `interval_cells` displays any frame of intervals.
* `verdict_sentences`, `method_verdicts`, `table_caption`: the words that go with such a table.
* `mean_spread_table`: mean ± sample std over seeds per group (the spread shown beside the paired table).
"""
from .bootstrap import paired_bootstrap, retrieval_units
from .multiple import holm
from .paired import paired_comparison, paired_values
from .spread import mean_spread_table
from .table import format_cell, interval_cells, paired_cells, paired_table, table_record
from .verdict import method_verdicts, table_caption, verdict_sentences

__all__ = ["format_cell", "holm", "interval_cells", "mean_spread_table", "method_verdicts", "paired_bootstrap",
           "paired_cells", "paired_comparison", "paired_table", "paired_values", "retrieval_units", "table_caption", "table_record", "verdict_sentences"]
