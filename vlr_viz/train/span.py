"""`RunSpan`: which part of a run `vlr_viz.train.trainer.fit` trains and what it keeps of it.

A run starts at its first epoch, from a checkpoint (``resume_from``) or from a shared stage 1 (``stage1``,
`vlr_viz.train.stage1`); it stops after its last epoch or after ``until_epoch``; it leaves behind a checkpoint after
every epoch (``checkpoint_dir``, `vlr_viz.train.checkpoint`) and its stage 1 (``record_stage1``). ``fit(config,
train, val)`` without a span trains the whole run and keeps nothing but its result.
"""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike


@dataclass(frozen=True)
class RunSpan:
    """Where a run starts, where it stops and what it leaves behind (module docstring).

    Attributes:
        checkpoint_dir: write a checkpoint there after every epoch (the last good one survives a crash).
        resume_from: a checkpoint folder of the same config and data to continue from.
        until_epoch: stop after this epoch (a later call with ``resume_from`` finishes the run identically); `fit`
            checks it against the config's epochs.
        stage1: a `vlr_viz.train.stage1.Stage1` of a run with the same `stage1_signature`: start from the end of
            its stage 1 instead of training it again (the same numbers as training it: stage 1 is matching only).
        record_stage1: a list that receives the `~vlr_viz.train.stage1.Stage1` of this run at the end of stage 1
            (of a run trained from its first epoch).

    Raises:
        ValueError: both ``stage1`` and ``resume_from`` (a run starts from one of them), or a ``record_stage1``
            that is not a list.
    """

    checkpoint_dir: str | PathLike | None = None
    resume_from: str | PathLike | None = None
    until_epoch: int | None = None
    stage1: object | None = None
    record_stage1: list | None = None

    def __post_init__(self):
        if self.stage1 is not None and self.resume_from is not None:
            raise ValueError("pass either stage1 or resume_from, not both")
        if self.record_stage1 is not None and not isinstance(self.record_stage1, list):
            raise ValueError(f"record_stage1 must be a list that receives the stage 1, got "
                             f"{type(self.record_stage1).__name__}")
