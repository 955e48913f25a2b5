"""Which notebooks a report runs and with which parameters, validated before anything runs."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..notebook.parameters import check_notebook_parameters, check_overrides, notebook_parameters, notebook_presets

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
BUILTIN_PRESETS = ("fast", "full")


@dataclass
class NotebookPlan:
    """One notebook to run: its file, its defaults and the validated overrides passed to papermill."""

    name: str
    path: Path
    defaults: dict[str, Any]
    parameters: dict[str, Any]


def discover_notebooks(notebooks_dir: str | os.PathLike = "notebooks") -> list[Path]:
    """Every ``NN_*.ipynb`` of ``notebooks_dir``, in name order."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir {str(folder)!r} is not a folder")
    found = sorted(folder.resolve().glob(NOTEBOOK_GLOB))
    if not found:
        raise ValueError(f"notebooks_dir {str(folder)!r} holds no notebook named {NOTEBOOK_GLOB}")
    return found


def default_notebooks_dir() -> Path:
    """``notebooks/`` of the working directory when it exists, else the one of the source checkout holding this
    package (so ``vlr-viz explore`` works from any folder of a clone)."""
    here = Path("notebooks")
    checkout = Path(__file__).resolve().parents[2] / "notebooks"
    return here if here.is_dir() or not checkout.is_dir() else checkout


def select_notebooks(paths: list[Path], only: list[str] | str | None) -> list[Path]:
    """The notebooks named in ``only`` (full name ``01_modal_imbalance`` or number ``01``), in run order."""
    if only is None:
        return paths
    wanted = [only] if isinstance(only, str) else list(only)
    by_key = {}
    for p in paths:
        by_key[p.stem] = p
        by_key[p.stem[:2]] = p
    unknown = [w for w in wanted if Path(str(w)).stem not in by_key]
    if unknown:
        raise ValueError(f"only: unknown notebook(s) {unknown}; available: {[p.stem for p in paths]}")
    chosen = {by_key[Path(str(w)).stem] for w in wanted}
    return [p for p in paths if p in chosen]


def plan_report(preset: str = "fast", params: dict[str, Any] | None = None,
                notebooks_dir: str | os.PathLike = "notebooks", only=None) -> list[NotebookPlan]:
    """Validated per-notebook parameters; raises ``ValueError`` before anything runs.

    Each notebook's parameters are ``defaults <- preset (metadata vlr_viz.presets) <- global params <-
    per-notebook params``, every value checked for type, choices, range, elements and the rules between
    parameters (`vlr_viz.notebook.parameters.check_notebook_parameters`, the check each notebook also runs on itself).

    ``params`` maps a parameter name to a value for every selected notebook that has it (at least one must), or
    a notebook name or number (``"01_modal_imbalance"``, ``"01"``) to a dict of parameters for that notebook
    only. Notebook names start with digits, parameter names cannot, so the two never clash.
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    paths = select_notebooks(discover_notebooks(notebooks_dir), only)
    names = [p.stem for p in paths]
    defaults = {p.stem: notebook_parameters(p) for p in paths}
    presets = {p.stem: notebook_presets(p) for p in paths}

    declared = set(BUILTIN_PRESETS).union(*[set(v) for v in presets.values()])
    if not isinstance(preset, str) or preset not in declared:
        raise ValueError(f"preset {preset!r} is unknown; known: {sorted(declared)}")

    bad_keys = [k for k in params if not isinstance(k, str) or not k]
    if bad_keys:
        raise TypeError(f"params keys must be parameter or notebook names (non-empty str), got {bad_keys}")
    global_params = {k: v for k, v in params.items() if not k[0].isdigit()}
    local_params: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if not key[0].isdigit():
            continue
        matches = [p.stem for p in paths if key in (p.stem, p.stem[:2])]
        if not matches:
            raise ValueError(f"params: {key!r} is not among the selected notebooks {names}")
        if not isinstance(value, dict):
            raise ValueError(f"params[{key!r}] must be a dict of parameters, got {type(value).__name__}")
        local_params.setdefault(matches[0], {}).update(value)
    known_anywhere = set().union(*[set(d) for d in defaults.values()])
    unknown = sorted(set(global_params) - known_anywhere)
    if unknown:
        raise ValueError(f"params: unknown parameter(s) {unknown}: no selected notebook declares them; "
                         f"known: {', '.join(sorted(known_anywhere)) or 'none'}")

    plans = []
    for p in paths:
        where = f"notebook {p.name}"
        merged = dict(check_overrides(defaults[p.stem], presets[p.stem].get(preset, {}),
                                      where=f"{where}: preset {preset!r}"))
        merged.update(check_overrides(defaults[p.stem],
                                      {k: v for k, v in global_params.items() if k in defaults[p.stem]}, where))
        merged.update(check_overrides(defaults[p.stem], local_params.get(p.stem, {}), where))
        merged = check_notebook_parameters(p, merged, defaults[p.stem])  # ranges, choices, elements
        plans.append(NotebookPlan(p.stem, p, defaults[p.stem], merged))
    return plans
