"""vlr_viz.widgets: the imbalance explorer (ipywidgets), its pure state → result functions and feature grid."""
from .app import build_explorer
from .explorer import (FEATURE_NOISE, NONE, STUDENT_RELATIONS, ExplorerResult, ExplorerState, FeatureGrid,
                       ImbalanceExplorer, TrainedStudent, build_feature_grid, figure_view, geometry_figure,
                       json_safe_figure, metrics_html, metrics_table, probe_indices, relation_figure, run_state,
                       show_figure, trainer_train_fn)

__all__ = [
    "FEATURE_NOISE", "NONE", "STUDENT_RELATIONS", "ExplorerResult", "ExplorerState", "FeatureGrid",
    "ImbalanceExplorer", "TrainedStudent", "build_explorer", "build_feature_grid", "figure_view", "geometry_figure",
    "json_safe_figure", "metrics_html", "metrics_table", "probe_indices", "relation_figure", "run_state",
    "show_figure", "trainer_train_fn",
]
