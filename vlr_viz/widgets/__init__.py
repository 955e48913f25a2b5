"""vlr_viz.widgets: the imbalance explorer (ipywidgets), its pure state → result functions and feature grid."""
from .explorer import (FEATURE_NOISE, NONE, STUDENT_RELATIONS, ExplorerResult, ExplorerState, FeatureGrid,
                       ImbalanceExplorer, TrainedStudent, build_feature_grid, geometry_figure, metrics_html,
                       metrics_table, probe_indices, relation_figure, run_state, sync_figure, trainer_train_fn)

__all__ = [
    "FEATURE_NOISE", "NONE", "STUDENT_RELATIONS", "ExplorerResult", "ExplorerState", "FeatureGrid",
    "ImbalanceExplorer", "TrainedStudent", "build_feature_grid", "geometry_figure", "metrics_html", "metrics_table",
    "probe_indices", "relation_figure", "run_state", "sync_figure", "trainer_train_fn",
]
