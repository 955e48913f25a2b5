"""vlr_viz.widgets: the imbalance explorer (docs/method.md, D).

``grid``     `FeatureGrid`, `build_feature_grid`: teacher features at every degradation level, computed once
``state``    `ExplorerState` → `run_state` → `ExplorerResult` (pure, tested without a kernel); `trainer_train_fn`
``views``    metrics table and HTML, relation heatmaps, the common-space scatter, figure display in every client
``snapshot`` a static HTML snapshot of one state for clients without a kernel (the report's notebook 05)
``widget``   `ImbalanceExplorer`: the ipywidgets front end
``app``      `build_explorer`: the explorer of notebook 05 from a dataset spec and the notebook's parameters
"""
from .app import build_explorer
from .grid import FEATURE_NOISE, NONE, FeatureGrid, build_feature_grid
from .snapshot import LIVE_KERNEL_NOTE, figure_div, snapshot_html
from .state import (STUDENT_RELATIONS, ExplorerResult, ExplorerState, TrainedStudent, probe_indices, run_state,
                    trainer_train_fn)
from .views import (figure_view, figure_output, geometry_figure, metrics_html, metrics_table, relation_figure,
                    show_figure, sweep_figure)
from .widget import ImbalanceExplorer

__all__ = [
    "FEATURE_NOISE", "LIVE_KERNEL_NOTE", "NONE", "STUDENT_RELATIONS", "ExplorerResult", "ExplorerState",
    "FeatureGrid", "ImbalanceExplorer", "TrainedStudent", "build_explorer", "build_feature_grid", "figure_div",
    "figure_view", "figure_output", "geometry_figure", "metrics_html", "metrics_table", "probe_indices",
    "relation_figure", "run_state", "show_figure", "snapshot_html", "sweep_figure", "trainer_train_fn",
]
