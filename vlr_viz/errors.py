"""The errors vlr_viz raises for bad input: each names the item at fault (file and line, row, parameter).

`VlrVizError` subclasses ``ValueError``, so code that caught ``ValueError`` keeps working; the command line prints
any `VlrVizError` as one line and exits with code 2 (`report_errors`; ``--debug`` adds the traceback).
"""
from __future__ import annotations

import sys
import traceback
from typing import Callable


class VlrVizError(ValueError):
    """Bad input to vlr_viz: the message names the file, row, item or parameter at fault."""


class DataFormatError(VlrVizError):
    """A dataset file (annotation JSON, TSV/CSV table, shard, feature array, image) is malformed."""


class ConfigError(VlrVizError):
    """A setting has the wrong type, lies outside its range or set of choices, or cannot be honoured here
    (a config file or flag, a notebook parameter, a function argument such as a metric's cut-offs, a device)."""


class RunFolderError(VlrVizError):
    """A run folder lacks a file it needs or holds one that cannot be read (truncated, corrupt)."""


class CheckpointError(RunFolderError):
    """A training checkpoint is incomplete, corrupt, or was left half-swapped by an interrupted save."""


class CacheError(VlrVizError):
    """A cache entry or its sidecar is unreadable or corrupt (the cache recomputes it and warns)."""


DEBUG_FLAG = "--debug"


def pop_debug_flag(argv: list[str] | None) -> tuple[list[str], bool]:
    """``(argv without --debug, whether it was there)``: the flag may stand anywhere on the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return [a for a in argv if a != DEBUG_FLAG], DEBUG_FLAG in argv


def report_errors(prog: str, run: Callable[[], int], debug: bool = False) -> int:
    """``run()``'s exit code; bad input (``ValueError``, so every `VlrVizError`) is printed as one line
    ``prog: error: message`` with exit code 2, an ``OSError`` (disk full, permissions) likewise with code 1.
    ``debug`` prints the traceback first."""
    try:
        return run()
    except (ValueError, OSError) as e:
        if debug:
            traceback.print_exc()
        message = " ".join(str(e).split()) or type(e).__name__
        hint = "" if debug else f" (run with {DEBUG_FLAG} for the traceback)"
        print(f"{prog}: error: {message}{hint if not isinstance(e, VlrVizError) else ''}", file=sys.stderr)
        return 1 if isinstance(e, OSError) else 2
