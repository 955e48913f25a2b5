"""The imbalance explorer of one dataset in one call: teacher features on a degradation grid for the training and
test splits, the vlr_viz trainer as ``train_fn``, and the widget (what notebook 05 and ``vlr-viz explore`` show).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .grid import build_feature_grid
from .state import ExplorerState, trainer_train_fn
from .widget import ImbalanceExplorer


def build_explorer(dataset: str = "twemoji", image_levels: Mapping[str, Sequence[float]] | None = None,
                   text_levels: Mapping[str, Sequence[float]] | None = None, initial_text_kind: str = "none",
                   initial_text_severity: float = 0.0,
                   structure_weights: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0), epochs_stage1: int = 1,
                   epochs_stage2: int = 3, hidden: int = 256, seed: int = 0, cache_dir=None) -> ImbalanceExplorer:
    """An `ImbalanceExplorer` trained on the ``train`` split of ``dataset`` and shown on its ``test`` split.

    Every ``{kind: [severities]}`` of ``image_levels`` / ``text_levels`` is encoded once by the teachers
    (`vlr_viz.features.load_features`, cached on disk, so a second start is instant); the explorer opens on
    ``initial_text_kind`` at ``initial_text_severity`` (``"none"``: clean text) and structure weight 2 (added to
    the slider's ``structure_weights`` when missing); the student trains with `trainer_train_fn`
    (``epochs_stage1`` + ``epochs_stage2`` epochs, ``hidden`` units).
    """
    from vlr_viz.data import load_dataset
    from vlr_viz.features import load_features
    from vlr_viz.store.arrays import array_cache

    def encode(pairs):
        return load_features(pairs, progress=False, **({"cache_dir": cache_dir} if cache_dir else {}))

    grids = {split: build_feature_grid(load_dataset(dataset, split, cache=array_cache()), encode, image_levels,
                                       text_levels, seed=seed)
             for split in ("train", "test")}
    train_fn = trainer_train_fn(epochs_stage1=epochs_stage1, epochs_stage2=epochs_stage2, hidden=hidden, seed=seed)
    initial = ExplorerState(text_kind=initial_text_kind, text_severity=initial_text_severity)
    return ImbalanceExplorer(grids["train"], train_fn, eval_grid=grids["test"], initial=initial,
                             structure_weights=structure_weights, seed=seed)
