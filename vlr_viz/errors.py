"""The errors vlr_viz raises for bad input: each names the item at fault (file and line, row, parameter).

`VlrVizError` subclasses ``ValueError``, so code that caught ``ValueError`` keeps working; the command line prints
any `VlrVizError` as one line and exits with code 2.
"""
from __future__ import annotations


class VlrVizError(ValueError):
    """Bad input to vlr_viz: the message names the file, row, item or parameter at fault."""


class DataFormatError(VlrVizError):
    """A dataset file (annotation JSON, TSV/CSV table, shard, feature array, image) is malformed."""
