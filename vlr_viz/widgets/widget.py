"""`ImbalanceExplorer`: the ipywidgets front end wiring the explorer's controls to `run_state` and the views."""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from .grid import NONE, FeatureGrid
from .snapshot import snapshot_html
from .state import STUDENT_RELATIONS, ExplorerResult, ExplorerState, TrainFn, run_state
from .views import figure_view, geometry_figure, metrics_html, relation_figure, show_figure

class ImbalanceExplorer:
    """ipywidgets front end: image degradation kind + severity, text degradation kind + severity, structure-loss
    weight and student relation; every change retrains (`run_state`) and refreshes the metrics table, the relation
    heatmaps and the common-space scatter. Results are memoised per state, so going back is instant.

    Args:
        grid: `FeatureGrid` of the training split; eval_grid: of the evaluation split (default: ``grid``).
        train_fn: ``train_fn(split, state) -> TrainedStudent`` with ``split = {"image", "text", "txt_to_img",
            "labels"}`` (e.g. `trainer_train_fn`).
        initial: the starting `ExplorerState`; structure_weights: the slider's stops.
        probe_size: items in the relation heatmaps; seed: feature-noise seed.
        compare_to_initial: show ``Δ`` against the first result.

    ``explorer.widget`` is the ipywidgets box to display (a notebook shows the explorer itself too).
    """

    def __init__(self, grid: FeatureGrid, train_fn: TrainFn, eval_grid: FeatureGrid | None = None,
                 initial: ExplorerState | None = None, structure_weights: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0),
                 probe_size: int = 48, seed: int = 0, compare_to_initial: bool = True, max_cached: int = 32):
        import ipywidgets as w

        self.grid, self.eval_grid, self.train_fn = grid, eval_grid or grid, train_fn
        self.probe_size, self.seed, self.max_cached = probe_size, seed, max_cached
        self.compare_to_initial = compare_to_initial
        initial = (initial or ExplorerState()).check(grid)
        weights = sorted({float(x) for x in structure_weights} | {float(initial.structure_weight)})
        style = {"description_width": "150px"}
        layout = w.Layout(width="380px")
        for modality in ("image", "text"):  # a kind dropdown and a severity slider per modality
            kind = getattr(initial, f"{modality}_kind")
            setattr(self, f"{modality}_kind", w.Dropdown(options=grid.kinds(modality), value=kind,
                                                         description=f"{modality} degradation", style=style,
                                                         layout=layout))
            severity = round(float(getattr(initial, f"{modality}_severity")), 6)
            setattr(self, f"{modality}_severity", w.SelectionSlider(
                options=grid.severities(modality, kind), value=severity, description=f"{modality} severity",
                continuous_update=False, style=style, layout=layout))
        self.structure_weight = w.SelectionSlider(options=weights, value=float(initial.structure_weight),
                                                  description="structure weight", continuous_update=False,
                                                  style=style, layout=layout)
        self.student_relation = w.Dropdown(options=list(STUDENT_RELATIONS), value=initial.student_relation,
                                           description="student relation", style=style, layout=layout)
        self.status = w.HTML()
        self.metrics = w.HTML()
        self._cache: dict[ExplorerState, ExplorerResult] = {}
        self._updating = False
        self.initial_result = self.result = self.compute(initial)
        geo = geometry_figure(self.result)
        self.reference_layout = np.asarray(geo.layout.meta["layouts"][0])
        self.relation_view, self.geometry_view = figure_view(), figure_view()
        self.relation_figure = show_figure(self.relation_view, relation_figure(self.result))
        self.geometry_figure = show_figure(self.geometry_view, geo)
        self._render()
        for kind, slider in ((self.image_kind, self.image_severity), (self.text_kind, self.text_severity)):
            kind.observe(self._on_kind, names="value")
        for ctrl in (self.image_severity, self.text_severity, self.structure_weight, self.student_relation):
            ctrl.observe(self._on_change, names="value")
        controls = w.VBox([w.HBox([self.image_kind, self.image_severity]), w.HBox([self.text_kind, self.text_severity]),
                           w.HBox([self.structure_weight, self.student_relation]), self.status])
        self.widget = w.VBox([controls, w.HBox([self.metrics, self.geometry_view]), self.relation_view])

    # pure core ----------------------------------------------------------------------------------------------------
    @property
    def state(self) -> ExplorerState:
        return ExplorerState(image_kind=self.image_kind.value, image_severity=float(self.image_severity.value),
                             text_kind=self.text_kind.value, text_severity=float(self.text_severity.value),
                             structure_weight=float(self.structure_weight.value),
                             student_relation=self.student_relation.value)

    def compute(self, state: ExplorerState) -> ExplorerResult:
        """`run_state` for ``state`` (memoised)."""
        if state not in self._cache:
            if len(self._cache) >= self.max_cached:
                self._cache.pop(next(iter(self._cache)))
            self._cache[state] = run_state(state, self.grid, self.train_fn, self.eval_grid, self.probe_size,
                                           self.seed)
        return self._cache[state]

    def sweep(self, text_kind: str, severities: Sequence[float], structure_weights: Sequence[float]):
        """What the controls do, for a static report: `compute` at every text ``severity`` of ``text_kind`` (0: no
        degradation) × structure weight; one row per state (``structure weight``, ``text severity``, ``λ`` and
        every metric of `ExplorerResult.metrics`)."""
        import pandas as pd

        rows = []
        for weight in structure_weights:
            for severity in severities:
                state = ExplorerState(text_kind=text_kind if severity > 0 else NONE, text_severity=severity,
                                      structure_weight=weight)
                result = self.compute(state)
                rows.append({"structure weight": weight, "text severity": severity, "λ": result.lam,
                             **result.metrics})
        return pd.DataFrame(rows)

    def update(self, state: ExplorerState | None = None) -> ExplorerResult:
        """Compute the result of ``state`` (default: the controls' state) and refresh every view."""
        state = self.state if state is None else state
        self.status.value = f"<i>training for {html.escape(state.describe())} …</i>"
        self.result = self.compute(state)
        self.relation_figure = show_figure(self.relation_view, relation_figure(self.result))
        self.geometry_figure = show_figure(self.geometry_view,
                                           geometry_figure(self.result, reference_layout=self.reference_layout))
        self._render()
        return self.result

    # wiring -------------------------------------------------------------------------------------------------------
    def _render(self) -> None:
        ref = self.initial_result if self.compare_to_initial and self.result is not self.initial_result else None
        self.metrics.value = metrics_html(self.result, ref)
        self.status.value = f"<small>{html.escape(self.result.state.describe())}</small>"

    def _on_kind(self, change) -> None:
        slider = self.image_severity if change["owner"] is self.image_kind else self.text_severity
        modality = "image" if change["owner"] is self.image_kind else "text"
        levels = self.grid.severities(modality, change["new"])
        self._updating = True
        try:
            slider.options = levels
            slider.value = next((s for s in levels if s > 0), levels[0])  # the mildest real degradation
            slider.disabled = change["new"] == NONE
        finally:
            self._updating = False
        self.update()

    def _on_change(self, change) -> None:
        if not self._updating:
            self.update()

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a static snapshot of the current state for clients without a kernel
        (`vlr_viz.widgets.snapshot`: metrics, common space, relations and a line saying the controls need a live
        kernel); the report's copy of the notebook keeps only the snapshot (`vlr_viz.report.offline`)."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = snapshot_html(self.result, self.reference_layout)
        return bundle
