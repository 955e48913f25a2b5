"""Independent training runs on all CPU cores: a pool of worker processes, each training one run at a time.

The default student is a pair of small towers whose matrix products keep one core busy; a second thread in the same
run gains little, while a second *run* on the other core doubles the throughput. `train_into_store` therefore
trains the runs a `~vlr_viz.store.runs.RunStore` lacks in ``workers`` spawned processes
(`vlr_viz.processes.SpawnPool`: a script calling it needs no ``__main__`` guard), one torch thread each by default,
and each worker writes its result straight into the store, which is how the parent reads it back. A run trained in
a worker is the same computation as in the parent with the same thread count, so it gives the same numbers (a test
compares them bit for bit).

Where the work goes: the features are sent to each worker once (its initializer), each task carries only a config;
runs that share their stage 1 (`vlr_viz.train.stage1`: the recipes of one seed and condition) continue from it
side by side, read from the store (`vlr_viz.store.stage1`) or trained once by a short first task that
stores it; a run alone in its group stores the stage 1 it trains on the way; the longest runs go first (each
method's ``relative_cost``: CoVLR's meta step makes a run about 2.7× as long), so the last runs to finish are short
ones. Every worker loads the plug-ins this process loaded (`vlr_viz.methods.loaded_plugins`), so it knows their
methods.
``VLR_VIZ_TRAIN_WORKERS`` overrides the default number of workers (the CPU cores this process may use).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..methods import get_method, load_plugins, loaded_plugins
from ..processes import SpawnPool
from ..store.runs import RunStore, _entry
from ..store.stage1 import Stage1Store
from ..train import trainer
from ..train.config import TrainConfig
from ..train.span import RunSpan
from ..train.stage1 import stage1_groups
from .stage1_sharing import fit_through_stage1_store

_WORKER: dict = {}


def default_workers() -> int:
    """``$VLR_VIZ_TRAIN_WORKERS`` when set, else the number of CPU cores this process may run on."""
    value = os.environ.get("VLR_VIZ_TRAIN_WORKERS")
    if value:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"VLR_VIZ_TRAIN_WORKERS must be a positive integer, got {value!r}")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _init_worker(train, val, evaluate, store_root: str, threads: int, plugins: list[str]) -> None:
    load_plugins(plugins)
    torch.set_num_threads(threads)
    _WORKER.update(train=train, val=val, evaluate=evaluate, store_root=store_root)


def _train_one(key: str, config: dict, summary: dict, stage1=None, stage1_key: str | None = None,
               reuse_stage1: bool = True) -> None:
    """Train one run in a worker (from ``stage1`` when given, else through the stage-1 store under ``stage1_key``)
    and write it into the store."""
    config, store = TrainConfig.from_dict(config), RunStore(Path(_WORKER["store_root"]))
    train, val, evaluate = _WORKER["train"], _WORKER["val"], _WORKER["evaluate"]
    if stage1 is not None:
        result = trainer.fit(config, train, val, progress=False, span=RunSpan(stage1=stage1))
    else:
        result = fit_through_stage1_store(config, train, val, Stage1Store(store), key=stage1_key,
                                          reuse=reuse_stage1, progress=False)
    store.put(key, **_entry(config, result, train, val, evaluate, summary))


def _by_cost(jobs: list) -> list:
    """``(key, config, summary)`` jobs, the longest runs first (each method's ``relative_cost``)."""
    return sorted(jobs, key=lambda job: -get_method(job[1].method).relative_cost)


def _record_stage1(config: dict, stage1_key: str):
    """Train stage 1 of ``config`` in a worker, store it under ``stage1_key`` and return its
    `~vlr_viz.train.stage1.Stage1`."""
    config, recorded = TrainConfig.from_dict(config), []
    trainer.fit(config, _WORKER["train"], _WORKER["val"], progress=False,
        span=RunSpan(until_epoch=config.epochs_stage1, record_stage1=recorded))
    Stage1Store(RunStore(Path(_WORKER["store_root"]))).put(stage1_key, recorded[0])
    return recorded[0]


def train_into_store(jobs: list[tuple[str, TrainConfig, dict]], train, val, evaluate, store_root, *,
                     workers: int, threads: int | None = None, progress: bool = False,
                     reuse_stage1: bool = True) -> None:
    """Train every ``(key, config, summary)`` of ``jobs`` in ``workers`` processes, each run written into the store
    at ``store_root`` under its key by the worker that trained it.

    ``threads``: torch threads per worker (default: this process's torch threads shared among the workers, at
    least one). ``reuse_stage1=False`` trains every stage 1 again instead of reading it from the store. The caller
    holds the store locks of the keys. The first failing run stops the pool and its error (e.g.
    `~vlr_viz.train.trainer.NonFiniteLossError`) is raised here with a note naming the run; runs finished before it
    stay in the store.
    """
    if workers < 2 or len(jobs) < 2:
        raise ValueError(f"train_into_store needs at least 2 workers and 2 runs, got {workers} and {len(jobs)}")
    threads = threads or max(1, torch.get_num_threads() // workers)
    configs = [config for _, config, _ in jobs]
    stage1_store = Stage1Store(RunStore(Path(store_root)))
    stage1_keys = dict(zip((key for key, _, _ in jobs), stage1_store.keys(configs, train, val)))
    groups = [_by_cost([jobs[i] for i in group]) for group in stage1_groups(configs)]
    stored = [stage1_store.get(stage1_keys[group[0][0]]) if reuse_stage1 else None for group in groups]
    t0 = time.perf_counter()
    with SpawnPool(min(workers, len(jobs)), initializer=_init_worker,
                   initargs=(train, val, evaluate, str(store_root), threads, loaded_plugins())) as pool:
        futures = {}

        def submit(group: list, stage1=None) -> None:
            for key, config, summary in group:
                futures[pool.submit(_train_one, key, config.to_dict(), summary, stage1 or stored_stage1.get(key),
                                    stage1_keys[key], reuse_stage1)] = (key, config, None)

        for group, stage1 in zip(groups, stored):  # the stage-1 passes first: short, they fan out to their runs
            if stage1 is None and len(group) > 1:
                key, config, _ = group[0]
                futures[pool.submit(_record_stage1, config.to_dict(), stage1_keys[key])] = (None, config, group)
        stored_stage1 = {job[0]: stage1 for group, stage1 in zip(groups, stored) if stage1 is not None for job in group}
        submit(_by_cost([job for group, stage1 in zip(groups, stored) if stage1 is not None or len(group) == 1
                         for job in group]))
        bar = tqdm(total=len(jobs), disable=not progress, desc=f"training on {min(workers, len(jobs))} processes",
                   unit="run")
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key, config, group = futures[future]
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        where = (f"in a worker process, training {config!r} (store key {key})" if group is None else
                                 f"in a worker process, training stage 1 of {config!r}, shared by the runs with "
                                 f"store keys {[job[0] for job in group]}")
                        if hasattr(error, "add_note"):  # Python 3.11+: the worker's own error, with the run
                            error.add_note(where)
                            raise error
                        raise RuntimeError(f"{type(error).__name__}: {error} ({where})") from error
                    if group is None:
                        bar.update(1)
                        continue
                    known = set(futures)
                    submit(group, future.result())
                    pending |= set(futures) - known
        finally:
            bar.set_postfix(seconds=f"{time.perf_counter() - t0:.0f}")
            bar.close()
