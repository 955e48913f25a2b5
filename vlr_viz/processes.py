"""`SpawnPool`: a pool of spawned worker processes that never runs the caller's main module again.

A spawned process normally re-imports the parent's ``__main__`` (the script, or the module of ``python -m``) so that
functions defined there can be unpickled; a script without an ``if __name__ == "__main__":`` guard is then run
again in every worker, and fails there. The workers of this package run functions of ``vlr_viz`` only, so
`SpawnPool` hides ``__main__``'s file and spec while it starts them: a plain script, a notebook kernel or a Voilà
page can call code that trains or executes notebooks on several processes. Used by `vlr_viz.runner.parallel` (runs)
and `vlr_viz.report.run` (notebooks side by side).
"""
from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import torch.multiprocessing  # registers torch's reductions: tensors reach the workers through shared memory

_MISSING = object()


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """While inside, ``__main__`` has no ``__file__`` and no ``__spec__``, so a process spawned now does not import it
    (`multiprocessing.spawn.get_preparation_data`); both are restored on exit."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name, _MISSING) for name in ("__file__", "__spec__")}
    try:
        if main is not None:
            if saved["__file__"] is not _MISSING:
                del main.__file__
            main.__spec__ = None
        yield
    finally:
        if main is not None:
            for name, value in saved.items():
                if value is _MISSING:
                    if hasattr(main, name):
                        delattr(main, name)
                else:
                    setattr(main, name, value)


class SpawnPool(ProcessPoolExecutor):
    """A `ProcessPoolExecutor` of spawned processes (never forked: torch's thread pools and a kernel's sockets do
    not survive a fork) that starts its workers without the caller's main module (module docstring)."""

    def __init__(self, max_workers: int, initializer=None, initargs: tuple = ()):
        super().__init__(max_workers=max_workers, mp_context=torch.multiprocessing.get_context("spawn"),
                         initializer=initializer, initargs=initargs)

    def submit(self, fn, /, *args, **kwargs):
        with main_module_hidden():  # workers start in submit (spawned pools grow on demand)
            return super().submit(fn, *args, **kwargs)
