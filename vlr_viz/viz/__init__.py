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
``tables``             `retrieval_table`, `retrieval_table_figure`, `mean_spread_table`,
                       `method_comparison_figure`, `paired_difference_figure`
``thumbnails``         `png_data_uri`, `thumbnail_uris`
``codes``              `codes_vs_bits_figure`, `codeword_usage_figure` (+ `codeword_usage`, `dead_codewords`)
=====================  ==================================================================================

Colours are fixed per category id (`category_color`) and per named series (`series_color`: teacher,
student, baseline, rebalanced, ...), so one category or one model keeps its colour in every figure.
`save_png` exports a figure through kaleido (headless Chromium).
"""
from __future__ import annotations

from pathlib import Path

from vlr_viz.cache import content_hash

# -- palette (defined before the submodules are imported: they read it) --------------------------------------------
#: Tableau 10, then the extra colours of plotly's "Safe" palette: category id ``c`` gets ``CATEGORY_PALETTE[c % n]``.
CATEGORY_PALETTE = (
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC",
    "#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288", "#AA4499", "#44AA99", "#999933", "#882255", "#661100",
)
UNKNOWN_COLOR = "#7F7F7F"

#: Series whose colour is fixed by name (lower-cased match).
SERIES_COLORS = {
    "teacher": "#595959",
    "student": "#2A7AB9",
    "baseline": "#D6604D",
    "matching": "#D6604D",
    "rebalanced": "#1B7837",
    "structure-aware": "#1B7837",
    "structure_aware": "#1B7837",
    "covlr": "#762A83",
    "sad": "#5AAE61",
    "sad-kl": "#1B7837",
    "sad-kl-reliability": "#01665E",
    "image": "#2A7AB9",
    "text": "#E08214",
    # loss terms (Paul Tol's "bright" scheme)
    "match_loss": "#4477AA",
    "rep_img_loss": "#66CCEE",
    "rep_txt_loss": "#228833",
    "kd_loss": "#EE6677",
    "kd_v_loss": "#CCBB44",
    "kd_t_loss": "#AA3377",
    "rel_loss": "#777777",
    # degradation kinds: image kinds cool, text kinds warm, feature noise grey
    "blur": "#0077BB",
    "noise": "#33BBEE",
    "downscale": "#009988",
    "occlusion": "#004488",
    "word_dropout": "#EE7733",
    "truncation": "#CC3311",
    "word_replace": "#EE3377",
    "coarsen": "#BB5566",
    "mismatch": "#DDAA33",
    "feature_noise": "#555555",
}
_SERIES_FALLBACK = ("#8C510A", "#01665E", "#C51B7D", "#4D9221", "#5E3C99", "#B35806", "#2D004B", "#7F3B08",
                    "#35978F", "#A50026")


def category_color(category_id: int) -> str:
    """Fixed colour of a category id (``-1``, unknown: grey)."""
    c = int(category_id)
    return UNKNOWN_COLOR if c < 0 else CATEGORY_PALETTE[c % len(CATEGORY_PALETTE)]


def series_color(name: str) -> str:
    """Fixed colour of a named series: known names (teacher, student, baseline, rebalanced, ...) by table, any other
    name by a stable hash of its text, so the same name has the same colour in every figure and session."""
    key = str(name).strip().lower()
    if key in SERIES_COLORS:
        return SERIES_COLORS[key]
    for known, colour in SERIES_COLORS.items():
        if key.startswith(known + " ") or key.endswith(" " + known):
            return colour
    return _SERIES_FALLBACK[int(content_hash(key)[:8], 16) % len(_SERIES_FALLBACK)]


from .codes import codes_vs_bits_figure, codeword_usage, codeword_usage_figure, dead_codewords  # noqa: E402
from .export import find_browser, save_png  # noqa: E402
from .drift import (history_frame, history_snapshots, loss_curves, relation_drift_curves,  # noqa: E402
                    snapshot_heatmaps)
from .gap import alignment_uniformity_figure, modality_gap_figure  # noqa: E402
from .geometry import common_space_figure, procrustes_align, project_2d, who_moved_most  # noqa: E402
from .imbalance import (imbalance_index_curve, lambda_severity_figure, modality_gap_bars,  # noqa: E402
                        modality_strength_bars, strength_frame)
from .relations import category_order, relation_drift_heatmap, relation_heatmaps  # noqa: E402
from .tables import (mean_spread_table, method_comparison_figure, paired_difference_figure,  # noqa: E402
                     retrieval_table, retrieval_table_figure)
from .thumbnails import png_data_uri, thumbnail_uris  # noqa: E402

__all__ = [
    "CATEGORY_PALETTE", "SERIES_COLORS", "alignment_uniformity_figure", "category_color", "category_order",
    "codes_vs_bits_figure", "codeword_usage", "codeword_usage_figure", "common_space_figure", "dead_codewords", "find_browser", "history_frame", "history_snapshots", "imbalance_index_curve",
    "lambda_severity_figure", "loss_curves", "mean_spread_table", "method_comparison_figure", "modality_gap_bars",
    "modality_gap_figure", "modality_strength_bars", "paired_difference_figure", "png_data_uri", "procrustes_align", "project_2d",
    "relation_drift_curves", "relation_drift_heatmap", "relation_heatmaps", "retrieval_table",
    "retrieval_table_figure", "save_png", "series_color", "snapshot_heatmaps", "strength_frame", "thumbnail_uris",
    "who_moved_most",
]
