"""Training through the run store (`vlr_viz.store.runs`): a run the store holds is read back, a missing one is
trained (continuing from its stored stage 1 when there is one, `vlr_viz.runner.stage1_sharing`), on worker processes
when several are missing on a CPU (`vlr_viz.runner.parallel`), and stored. `fit` itself knows nothing of this: these
functions wrap it from outside."""
from __future__ import annotations

from contextlib import ExitStack

from .. import distributed as dist_utils
from ..store.entry import entry_lock
from ..store.runs import RunStore, _entry, _result, run_key, run_keys
from ..store.stage1 import Stage1Store
from ..train.config import TrainConfig
from ..train.device import resolve_device
from .multi_seed import fit_batched
from .parallel import default_workers, train_into_store
from .stage1_sharing import fit_through_stage1_store


def fit_stored(config: TrainConfig, train, val, evaluate=None, *, store: RunStore | None = None,
               force: bool = False, probe=None, progress: bool = False, summary: dict | None = None):
    """`fit` through the store: ``(TrainResult, (img_emb, txt_emb) of evaluate or None, hit)``.

    A hit trains nothing and rebuilds the selected model from the stored state; a miss continues from the run's
    stored stage 1 when there is one (`vlr_viz.runner.stage1_sharing`), else trains whole and stores its stage 1;
    ``force`` trains again, stage 1 included, and replaces the entry; ``store=None`` uses the default store.
    """
    store = store or RunStore()
    key = run_key(config, train, val, evaluate, probe)

    def train_now() -> dict:
        result = fit_through_stage1_store(config, train, val, Stage1Store(store), reuse=not force, probe=probe,
                                          progress=progress)
        return _entry(config, result, train, val, evaluate, summary)

    if force:
        store.put(key, **train_now())
    stored, hit = store.get_or_train(key, train_now)
    embeddings = None if evaluate is None else (stored.img_emb, stored.txt_emb)
    return _result(stored), embeddings, hit and not force


def fit_batched_stored(configs, train, val, evaluate=None, *, store: RunStore | None = None, force: bool = False,
                       progress: bool = False, summaries: list[dict] | None = None,
                       workers: int | None = None) -> list[tuple]:
    """`fit_stored` for several configs. One ``(TrainResult, embeddings, hit)`` per config, in order;
    ``summaries``: one extra summary dict per config.

    The runs the store lacks train on a CPU in ``workers`` processes at once (`vlr_viz.runner.parallel`; default: one
    per core, ``1`` trains them here one after the other), on a CUDA device together as one batched model
    (`vlr_viz.runner.multi_seed.fit_batched`, which trains CoVLR runs alone). Runs trained one by one continue from
    their stored stage 1 when there is one and store the ones they train (`vlr_viz.store.stage1`); ``force``
    trains every run whole. Every path gives the same numbers.
    """
    store = store or RunStore()
    configs = list(configs)
    summaries = summaries or [{} for _ in configs]
    keys = run_keys(configs, train, val, evaluate)
    found = [None] * len(configs) if force else [store.get(k) for k in keys]
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:
        with ExitStack() as locks:
            for key in sorted({keys[i] for i in missing}):
                locks.enter_context(entry_lock(store.root, key))
            if not force:
                for i in missing:
                    found[i] = store.get(keys[i])
                missing = [i for i in missing if found[i] is None]
            workers = default_workers() if workers is None else workers
            on_cpu = resolve_device(configs[0].device).type == "cpu" and not dist_utils.is_distributed()
            if len(missing) > 1 and workers > 1 and on_cpu:
                train_into_store([(keys[i], configs[i], summaries[i]) for i in missing], train, val, evaluate,
                                 store.root, workers=workers, progress=progress, reuse_stage1=not force)
            elif missing:
                results = fit_batched([configs[i] for i in missing], train, val, progress=progress,
                                      stage1_store=None if force else Stage1Store(store))
                for i, result in zip(missing, results):
                    store.put(keys[i], **_entry(configs[i], result, train, val, evaluate, summaries[i]))
            for i in missing:
                found[i] = store.get(keys[i])
    return [(_result(f), None if evaluate is None else (f.img_emb, f.txt_emb), i not in missing)
            for i, f in enumerate(found)]
