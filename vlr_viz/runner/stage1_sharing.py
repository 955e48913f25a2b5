"""Stage 1 trained once for the runs that share it, from outside `fit`: read from the store or trained, then shared.

`fit_through_stage1_store` continues a run from its stage 1 in the store (`vlr_viz.store.stage1`), or trains it whole
and stores the stage 1 it trained; `fit_sharing_stage1` trains several runs one after the other, stage 1 once per
group of `vlr_viz.train.stage1.stage1_groups`.
"""
from __future__ import annotations

from .. import distributed as dist_utils
from ..store.stage1 import Stage1Store
from ..train import trainer
from ..train.config import TrainConfig
from ..train.span import RunSpan
from ..train.stage1 import Stage1, shares_stage1, stage1_groups


def fit_through_stage1_store(config: TrainConfig, train, val, stage1_store: Stage1Store, key: str | None = None,
                             reuse: bool = True, used: list | None = None, **fit_kwargs):
    """`vlr_viz.train.trainer.fit` of ``config``, continued from its stored stage 1 when there is one (and
    ``reuse``), else trained whole with its stage 1 recorded and stored. ``key``: its `Stage1Store.keys` entry, when
    known; ``used``: a list that receives the `Stage1` the run read or trained (none for a run without both
    stages)."""
    if not shares_stage1(config) or dist_utils.is_distributed():  # each process would store its own RNG state
        return trainer.fit(config, train, val, **fit_kwargs)
    key = key or stage1_store.keys([config], train, val)[0]
    stage1 = stage1_store.get(key) if reuse else None
    if stage1 is not None:
        result = trainer.fit(config, train, val, span=RunSpan(stage1=stage1), **fit_kwargs)
    else:
        recorded: list[Stage1] = []
        result = trainer.fit(config, train, val, span=RunSpan(record_stage1=recorded), **fit_kwargs)
        stage1 = recorded[0] if recorded else None
        if stage1 is not None:
            stage1_store.put(key, stage1)
    if used is not None and stage1 is not None:
        used.append(stage1)
    return result


def fit_sharing_stage1(configs, train, val, *, probe=None, progress: bool = False, stage1_store=None) -> list:
    """`vlr_viz.train.trainer.fit` of every config, one after the other, stage 1 trained once per group of
    `stage1_groups`: the group's first run records it and the others continue from it (the same numbers).
    ``stage1_store``: a `Stage1Store` to read each group's stage 1 from, and to store
    the ones trained here in."""
    configs = list(configs)
    if dist_utils.is_distributed():  # every process would record its own copy: train the runs whole
        return [trainer.fit(c, train, val, probe=probe, progress=progress) for c in configs]
    keys = stage1_store.keys(configs, train, val) if stage1_store is not None else [None] * len(configs)
    results = [None] * len(configs)
    for group in stage1_groups(configs):
        first, used = group[0], []
        if stage1_store is not None:  # read the group's stage 1, or train and store it
            results[first] = fit_through_stage1_store(configs[first], train, val, stage1_store, keys[first],
                                                      used=used, probe=probe, progress=progress)
        else:
            results[first] = trainer.fit(configs[first], train, val, probe=probe, progress=progress,
                                 span=RunSpan(record_stage1=used if len(group) > 1 else None))
        for i in group[1:]:
            results[i] = trainer.fit(configs[i], train, val, probe=probe, progress=progress,
                                     span=RunSpan(stage1=used[0]))
    return results
