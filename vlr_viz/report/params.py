"""Notebook parameters given on the command line (``-p NAME VALUE``), parsed for each notebook's defaults."""
from __future__ import annotations

from typing import Any

from ..notebook.parameters import notebook_parameters, parse_cli_value
from .plan import discover_notebooks, select_notebooks


def parse_cli_parameters(pairs: list[tuple[str, str]] | None, notebooks_dir="notebooks",
                         only=None) -> dict[str, dict[str, Any]]:
    """``-p NAME VALUE`` pairs as per-notebook parameters, each value parsed for that notebook's default.

    ``NAME`` applies to every selected notebook declaring it; ``NOTEBOOK.NAME`` (``01_modal_imbalance.seed``)
    to one notebook. Global pairs are applied first, so a notebook-specific pair wins.
    """
    paths = select_notebooks(discover_notebooks(notebooks_dir), only)
    defaults = {p.stem: notebook_parameters(p) for p in paths}
    out: dict[str, dict[str, Any]] = {}
    ordered = sorted(pairs or [], key=lambda kv: "." in kv[0])
    for name, text in ordered:
        if "." in name:
            nb, pname = name.split(".", 1)
            nb = select_notebooks(paths, [nb])[0].stem
            targets = [nb] if pname in defaults[nb] else []
            if not targets:
                raise ValueError(f"-p {name}: notebook {nb} has no parameter {pname!r}; "
                                 f"known: {', '.join(sorted(defaults[nb])) or 'none'}")
        else:
            pname = name
            targets = [nb for nb in defaults if pname in defaults[nb]]
            if not targets:
                known = sorted(set().union(*[set(d) for d in defaults.values()]))
                raise ValueError(f"-p {name}: no selected notebook declares it; known: {', '.join(known) or 'none'}")
        for nb in targets:
            try:
                out.setdefault(nb, {})[pname] = parse_cli_value(text, defaults[nb][pname])
            except ValueError as e:
                raise ValueError(f"-p {name} {text}: notebook {nb}: {e}") from None
    return out
