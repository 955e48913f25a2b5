"""Notebook parameters: read the ``parameters`` cell, check overrides, parse command-line values.

A notebook declares its parameters in one code cell tagged ``parameters`` (the papermill convention), made only
of assignments ``NAME = literal`` (or ``NAME: type = literal``) and comments. The literal defaults fix each
parameter's type; an override must have that type before any notebook runs:

* ``bool`` accepts only ``bool``; ``int`` accepts ``int`` but not ``bool``;
* ``float`` accepts ``float`` and widens an ``int`` to ``float``;
* ``str``, ``list``, ``tuple`` and ``dict`` accept only their own type;
* a ``None`` default declares an optional parameter of unstated type and accepts any literal.

Beyond its type, every value is checked against its parameter's rule (`vlr_viz.notebook.rules`: choices,
ranges, element types, rules between parameters) by `check_notebook_parameters`: the report runs it on every
selected notebook before executing any of them, and every notebook runs it on its own parameters in the cell
right after its parameters cell (``check_notebook_parameters("01_modal_imbalance", globals())``), so a value
injected by plain papermill is refused as early and in the same words as by ``vlr-viz report``, and so is a name
papermill injected that the parameters cell does not declare (`injected_parameter_names`).

Presets live in the notebook metadata: ``nb.metadata["vlr_viz"]["presets"]["fast"] = {"n_items": 200}``.
"""
from __future__ import annotations

import ast
import difflib
import json
import os
from pathlib import Path
from typing import Any

import nbformat

from ..errors import ConfigError

PARAMETERS_TAG = "parameters"
PAPERMILL_COMMENT = "# Parameters"
"""The first line of the cell papermill injects after the parameters cell."""


def _read(path: str | os.PathLike) -> nbformat.NotebookNode:
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as e:  # nbformat raises ValueError subclasses for bad JSON
        raise ValueError(f"notebook {path}: cannot be read: {e}") from e


def parameters_cell_source(nb: nbformat.NotebookNode) -> str | None:
    """Source of the first code cell tagged ``parameters``, or ``None`` when there is none."""
    for cell in nb.cells:
        if cell.cell_type == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return cell.source
    return None


def parse_parameters_source(source: str, where: str = "parameters cell") -> dict[str, Any]:
    """``{name: default}`` from a parameters cell made only of ``NAME = literal`` assignments.

    Raises ``ValueError`` naming ``where`` and the line of anything else (a call, an expression, a tuple target).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ValueError(f"{where}: syntax error at line {e.lineno}: {e.msg}") from e
    params: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value_node = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value_node = stmt.target.id, stmt.value
        else:
            raise ValueError(f"{where}: line {stmt.lineno} is not an assignment NAME = literal")
        try:
            params[name] = ast.literal_eval(value_node)
        except ValueError as e:
            raise ValueError(
                f"{where}: line {stmt.lineno}: the value of {name!r} is not a literal "
                f"({ast.get_source_segment(source, value_node)!r})"
            ) from e
    return params


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """``{name: default}`` of the notebook's ``parameters`` cell; ``{}`` when it has none."""
    source = parameters_cell_source(_read(path))
    if source is None:
        return {}
    return parse_parameters_source(source, where=f"notebook {Path(path).name}: parameters cell")


def notebook_presets(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{preset: {name: value}}`` from ``metadata["vlr_viz"]["presets"]``; ``{}`` when none is declared."""
    presets = _read(path).metadata.get("vlr_viz", {}).get("presets", {})
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise ValueError(f"notebook {Path(path).name}: metadata vlr_viz.presets must map preset names to dicts")
    return {str(k): json.loads(json.dumps(v)) for k, v in presets.items()}  # NotebookNode -> plain dicts


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_parameter_value(name: str, default: Any, value: Any, where: str = "") -> Any:
    """``value`` checked against the type of ``default`` (``int`` widened to ``float``); ``ValueError`` otherwise."""
    prefix = f"{where}: " if where else ""
    if default is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        ok = isinstance(value, float)
    else:
        ok = type(value) is type(default)
    if not ok:
        raise ConfigError(
            f"{prefix}parameter {name!r} expects {_type_name(default)} (default {default!r}), "
            f"got {_type_name(value)} {value!r}"
        )
    return value


def check_overrides(defaults: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """`check_parameter_value` for every override; unknown names raise ``ValueError`` listing the known ones."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(map(repr, unknown))}; known: {known}")
    return {k: check_parameter_value(k, defaults[k], v, where) for k, v in overrides.items()}


def validate_parameters(path: str | os.PathLike, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Check ``overrides`` against the notebook's parameters cell and return them (ints widened where needed).

    Raises ``ValueError`` for an unknown name (listing the known ones) or a value of the wrong type (naming the
    parameter, the expected and the given type).
    """
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise TypeError(f"overrides must be a dict, got {_type_name(overrides)}")
    return check_overrides(notebook_parameters(path), overrides, where=f"notebook {Path(path).name}")


class NotebookParameterError(ConfigError):
    """A notebook's own parameter check failed; in a notebook it shows as its message alone (no traceback)."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an exception is shown in a cell
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


def find_notebook(notebook: str | os.PathLike, namespace: dict[str, Any] | None = None) -> Path | None:
    """The file of the notebook named ``notebook`` (``"01_modal_imbalance"``, with or without ``.ipynb``, or a
    path), or ``None``.

    Looked for in order: ``notebook`` as a path; the notebook JupyterLab says the kernel runs (``__session__``
    in ``namespace``) when it has that name; ``NAME.ipynb`` in the working directory, in its ``notebooks/`` and in
    the ``notebooks/`` of the source checkout holding this package.
    """
    path = Path(notebook)
    name = path.name if path.suffix == ".ipynb" else path.name + ".ipynb"
    candidates = [path, path.with_name(name)]
    session = (namespace or {}).get("__session__")
    if isinstance(session, str) and Path(session).name == name:
        candidates.append(Path(session))
    candidates += [Path.cwd() / name, Path.cwd() / "notebooks" / name,
                   Path(__file__).resolve().parents[2] / "notebooks" / name]
    return next((c for c in candidates if c.suffix == ".ipynb" and c.is_file()), None)


def _is_namespace(params: dict[str, Any]) -> bool:
    """A module or notebook namespace (``globals()``) rather than a dict of parameter values."""
    return "__name__" in params and "__builtins__" in params


def _papermill_text_hint(name: str, default: Any, value: Any) -> str:
    """A hint when a list, dict, bool or number arrived as its text (papermill's ``-p`` passes text)."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return ""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ""
    if isinstance(parsed, str):
        return ""
    return (f"; papermill's -p passes text: give this value as YAML, e.g. "
            f"-y '{name}: {json.dumps(parsed) if isinstance(parsed, (list, dict)) else value}'")


def injected_parameter_names(namespace: dict[str, Any]) -> list[str]:
    """The names papermill assigned in the cell it ran just before the current one, or ``[]``.

    papermill runs its injected cell (``# Parameters`` then one ``NAME = value`` line per ``-p``/``-y`` name,
    `papermill.translators.PythonTranslator.codify`) right after the parameters cell, so in the check cell that
    follows, it is the previous entry of IPython's input history ``In``.
    """
    history = namespace.get("In")
    if not isinstance(history, list) or len(history) < 2 or not isinstance(history[-2], str):
        return []
    source = history[-2]
    if not source.startswith(f"{PAPERMILL_COMMENT}\n"):
        return []
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return []
    return [t.id for stmt in body if isinstance(stmt, ast.Assign) for t in stmt.targets if isinstance(t, ast.Name)]


def _check_namespace(notebook: str | os.PathLike, namespace: dict[str, Any]) -> dict[str, Any]:
    """`check_notebook_parameters` on the parameters found in a notebook's namespace, written back checked; a
    name papermill injected that the parameters cell does not declare is refused (a misspelt ``-p``)."""
    from .rules import parameter_checks

    path = find_notebook(notebook, namespace)
    if path is not None:
        defaults = notebook_parameters(path)
        names = [n for n in defaults if n in namespace]
        unknown = [n for n in injected_parameter_names(namespace) if n not in defaults]
        if unknown:
            close = {n: difflib.get_close_matches(n, defaults, n=1) for n in unknown}
            hint = "; ".join(f"did you mean {m[0]!r} for {n!r}?" for n, m in close.items() if m)
            raise NotebookParameterError(
                f"notebook {path.name}: unknown parameter(s) {', '.join(map(repr, unknown))} passed to papermill; "
                f"known: {', '.join(sorted(defaults)) or 'none'}" + (f"; {hint}" if hint else ""))
    else:  # the file is elsewhere: every name of the namespace that has a value check
        defaults = None
        names = [n for n in parameter_checks() if n in namespace]
    values = {n: namespace[n] for n in names}
    try:
        checked = check_notebook_parameters(path if path is not None else notebook, values, defaults)
    except ConfigError as e:
        hint = next((_papermill_text_hint(n, defaults[n], v) for n, v in values.items()
                     if defaults and f"parameter {n!r} " in str(e)), "")
        raise NotebookParameterError(f"{e}{hint}") from None
    namespace.update(checked)
    return checked


def _load_plugins(plugins, check, where: str) -> list[str]:
    """The ``plugins`` parameter checked and loaded (`vlr_viz.methods.load_plugin`), as absolute paths, so that
    the methods they register pass the checks of the other parameters and a notebook run elsewhere finds them."""
    from ..methods import load_plugin, plugin_file

    try:
        plugins = check(plugins, "plugins")
        for path in plugins:
            load_plugin(path)
        return type(plugins)(str(plugin_file(path)) for path in plugins)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def check_notebook_parameters(notebook: str | os.PathLike, params: dict[str, Any],
                              defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """``params`` of a notebook checked before any work: the one check shared by the report and the notebooks.

    1. types, against the literals of the ``parameters`` cell (`check_overrides`: unknown names are refused) when
       ``notebook`` is the path of an existing notebook or ``defaults`` is given; then the ``plugins`` are loaded
       (`vlr_viz.methods.load_plugin`), so the methods they register are known to the checks that follow;
    2. each value against its parameter's check (`vlr_viz.notebook.rules.parameter_checks`: choices, ranges,
       element types); names without a check keep the type check alone;
    3. the rules between parameters (`vlr_viz.notebook.rules.CROSS_RULES`) over the defaults updated by
       ``params``.

    ``notebook``: a notebook path, or its name when only the value checks are wanted. ``params``: the values,
    or a notebook's own namespace: the cell after every notebook's parameters cell runs
    ``check_notebook_parameters("02_relation_drift", globals())``, which checks the parameters the notebook
    declares (its file found by `find_notebook`; when it cannot be found, every name that has a value check)
    with the values they hold after papermill injected its own, writes the checked values back (ints widened
    as the report does) and raises `NotebookParameterError`, shown in the notebook as one line.

    Returns the checked values (ints widened to float where a float is expected); raises `ConfigError` naming
    the notebook, the parameter and the value.
    """
    from .rules import check_cross_rules, parameter_checks

    if isinstance(params, dict) and _is_namespace(params) and defaults is None:
        return _check_namespace(notebook, params)
    path = Path(notebook)
    where = f"notebook {path.name if path.suffix == '.ipynb' else path.name + '.ipynb'}"
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: parameters must be a dict, got {_type_name(params)}")
    if defaults is None and path.suffix == ".ipynb" and path.is_file():
        defaults = notebook_parameters(path)
    checked = dict(params) if defaults is None else check_overrides(defaults, params, where)
    checks = parameter_checks()
    if "plugins" in checked:
        checked["plugins"] = _load_plugins(checked["plugins"], checks["plugins"], where)
    for name, value in checked.items():
        if name in checks:
            try:
                checked[name] = checks[name](value, name)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
    check_cross_rules({**(defaults or {}), **checked}, where)
    return checked


def parse_cli_value(text: str, default: Any) -> Any:
    """A command-line string turned into a value for a parameter whose default is ``default``.

    ``ast.literal_eval`` first (``3``, ``0.5``, ``True``, ``[1, 2]``, ``None``); for a ``str`` parameter (or a
    ``None`` default) a string that is not a literal, or a literal that is not a string, stays the raw text, so
    ``-p model minilm-l6`` and ``-p tag 123`` both give strings. Other types raise ``ValueError``.
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if isinstance(default, str) or default is None:
            return text
        raise ValueError(f"{text!r} is not a Python literal (expected {_type_name(default)})") from None
    if isinstance(default, str) and not isinstance(value, str):
        return text
    return value
