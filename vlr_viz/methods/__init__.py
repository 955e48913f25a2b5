"""Training methods, one object each, in a registry that needs no torch (docs/extending.md).

===========  =========================================================================================
``baseline``  `Matching`: the matching loss only (docs/method.md, A1)
``sad``       `StructureAware`: matching + representation + structure-aware distillation (A2-A6)
``covlr``     `CoVLR`: matching at θ plus the relation loss at the inner step θ' (B; `vlr_viz.losses.covlr`)
===========  =========================================================================================

A researcher adds a method in one file: a subclass of `Matching` decorated with `register`, loaded by
``vlr-viz train --plugin FILE``, a notebook's ``plugins = [FILE]`` or the ``vlr_viz.methods`` entry-point group.
"""
from .registry import (ENTRY_POINT_GROUP, get_method, load_plugin, load_plugins, loaded_plugins, method_names,
                       plugin_file, register, term_names)
from .matching import Matching, match_terms  # noqa: E402 (registers the built-ins, in this order)
from .structure_aware import StructureAware  # noqa: E402
from .covlr import CoVLR  # noqa: E402

__all__ = ["CoVLR", "ENTRY_POINT_GROUP", "Matching", "StructureAware", "get_method", "load_plugin", "load_plugins",
           "loaded_plugins", "match_terms", "method_names", "plugin_file", "register",
           "term_names"]
