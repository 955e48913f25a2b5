"""vlr_viz.viz: plotly figure builders (each returns a ``plotly.graph_objects.Figure`` and never shows it).

=====================  ==================================================================================
module                 builders
=====================  ==================================================================================
``relations``          `relation_heatmaps`, `relation_drift_heatmap`, `category_order`
``drift``              `relation_drift_curves`, `loss_curves` (+ the training-history adapter)
``geometry``           `project_2d`, `procrustes_align`, `common_space_figure`, `who_moved_most`
``imbalance``          `modality_strength_bars`, `imbalance_index_curve`, `modality_gap_bars`,
                       `lambda_severity_figure`
``gap``                `modality_gap_figure`, `alignment_uniformity_figure`
``natural``            `natural_imbalance_figure`
``tables``             `retrieval_table`, `retrieval_table_figure`, `method_comparison_figure`,
                       `paired_difference_figure`
``thumbnails``         `png_data_uri`, `thumbnail_uris`
``codes``              `codes_vs_bits_figure`, `codeword_usage_figure` (+ `codeword_usage`, `dead_codewords`)
=====================  ==================================================================================

Colours are fixed per category id (`category_color`) and per named series (`series_color`: teacher,
student, baseline, rebalanced, ...), so one category or one model keeps its colour in every figure.
`save_png` exports a figure through kaleido (headless Chromium).
"""
from __future__ import annotations

from .colors import (CATEGORY_PALETTE, SERIES_COLORS, UNKNOWN_COLOR, category_color,  # noqa: F401
                     series_color, series_label)
from .codes import codes_vs_bits_figure, codeword_usage, codeword_usage_figure, dead_codewords
from .export import find_browser, save_png
from .drift import (history_frame, history_snapshots, loss_curves, relation_drift_curves,
                    snapshot_heatmaps)
from .gap import alignment_uniformity_figure, modality_gap_figure
from .geometry import common_space_figure, procrustes_align, project_2d, who_moved_most
from .imbalance import (imbalance_index_curve, lambda_severity_figure, modality_gap_bars,
                        modality_strength_bars, strength_frame)
from .natural import natural_imbalance_figure
from .relations import category_order, relation_drift_heatmap, relation_heatmaps
from .tables import method_comparison_figure, paired_difference_figure, retrieval_table, retrieval_table_figure
from .thumbnails import png_data_uri, thumbnail_uris

__all__ = [
    "CATEGORY_PALETTE", "SERIES_COLORS", "alignment_uniformity_figure", "category_color", "category_order",
    "codes_vs_bits_figure", "codeword_usage", "codeword_usage_figure", "common_space_figure", "dead_codewords", "find_browser", "history_frame", "history_snapshots", "imbalance_index_curve",
    "lambda_severity_figure", "loss_curves", "method_comparison_figure", "modality_gap_bars",
    "modality_gap_figure", "modality_strength_bars", "natural_imbalance_figure", "paired_difference_figure", "png_data_uri", "procrustes_align", "project_2d",
    "relation_drift_curves", "relation_drift_heatmap", "relation_heatmaps", "retrieval_table",
    "retrieval_table_figure", "save_png", "series_color", "series_label", "snapshot_heatmaps", "strength_frame",
    "thumbnail_uris",
    "who_moved_most",
]
