"""Modules that moved keep their old names: importing one warns (`DeprecationWarning`) and gives the new module.

`MOVED` maps each old dotted name to its home; a finder on ``sys.meta_path`` serves the old names, so
``import vlr_viz.study`` and ``from vlr_viz.metrics_log import record`` keep working, and the old and the new name
are the same module object (monkeypatching either changes both).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "vlr_viz.metrics_log": "vlr_viz.notebook.recording",
    "vlr_viz.notebook_params": "vlr_viz.notebook.parameters",
    "vlr_viz.notebook_rules": "vlr_viz.notebook.rules",
    "vlr_viz.notebook_display": "vlr_viz.notebook.display",
    "vlr_viz.study": "vlr_viz.experiments.study",
    "vlr_viz.study_analysis": "vlr_viz.experiments.study_analysis",
    "vlr_viz.explore": "vlr_viz.report.explore",
    "vlr_viz.widgets.explorer": "vlr_viz.widgets",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # the new module is already executed


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
