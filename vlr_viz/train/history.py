"""Training history: per-step and per-epoch scalars (JSON) and relation snapshots of a probe subset (.npz).

Files in a run folder (a notebook loads them with `History.load`, no training and no pickle involved):

* ``history.json``: ``{"meta": {...}, "steps": [...], "epochs": [...], "probe": {...}}``. A step row holds
  ``step, epoch, stage, lr, lam, tau, tau2, loss`` (the weighted total), every raw term (``match_loss``,
  ``kd_loss`` ...) and every weighted term (``w_match_loss`` ...). An epoch row holds the epoch means of the
  same, the validation metrics as ``val_<name>``, and ``seconds``. Epoch 0 is the model before training.
* ``snapshots.npz``: for each snapshot epoch ``e`` the arrays ``e{e:03d}_<name>`` with names
  ``S_pair, S_v, S_t, S_vt`` (student relations) and ``R_v, R_t, E`` (teacher relations; ``R_v_raw, R_t_raw``
  uncentred too when the run centres its teachers), all over τ2 on the probe pairs; plus ``probe_captions``,
  ``probe_images``, ``probe_labels``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes

SNAPSHOT_NAMES = ("S_pair", "S_v", "S_t", "S_vt", "R_v", "R_t", "E", "R_v_raw", "R_t_raw")


def _plain(x):
    """JSON-safe version of numbers / numpy scalars / arrays (non-finite floats become None)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


@dataclass
class History:
    """Scalars and snapshots of one run (see the module docstring for the file layout)."""

    meta: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    probe: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)  # epoch -> {name: array}

    def add_steps(self, rows: list[dict]) -> None:
        self.steps.extend(_plain(rows))

    def add_epoch(self, row: dict) -> None:
        self.epochs.append(_plain(row))

    def add_snapshot(self, epoch: int, arrays: dict) -> None:
        unknown = set(arrays) - set(SNAPSHOT_NAMES)
        if unknown:
            raise ValueError(f"unknown snapshot array(s) {sorted(unknown)}")
        self.snapshots[int(epoch)] = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}

    def truncate(self, epoch: int) -> None:
        """Drop everything logged after ``epoch`` (used when a run resumes from that epoch)."""
        self.steps = [s for s in self.steps if s["epoch"] <= epoch]
        self.epochs = [e for e in self.epochs if e["epoch"] <= epoch]
        self.snapshots = {e: v for e, v in self.snapshots.items() if e <= epoch}

    def step_frame(self):
        import pandas as pd

        return pd.DataFrame(self.steps)

    def epoch_frame(self):
        import pandas as pd

        return pd.DataFrame(self.epochs)

    def to_bytes(self) -> dict[str, bytes]:
        """``{"history.json": ..., "snapshots.npz": ...}``: the file contents of `save`."""
        import io

        doc = {"meta": _plain(self.meta), "steps": self.steps, "epochs": self.epochs, "probe": _plain(self.probe)}
        arrays = {f"e{e:03d}_{k}": v for e, snap in self.snapshots.items() for k, v in snap.items()}
        for k in ("captions", "images", "labels"):
            if k in self.probe:
                arrays[f"probe_{k}"] = np.asarray(self.probe[k], dtype=np.int64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return {"history.json": json.dumps(doc).encode(), "snapshots.npz": buf.getvalue()}

    def save(self, folder) -> None:
        for name, data in self.to_bytes().items():
            atomic_write_bytes(Path(folder) / name, data)

    @classmethod
    def from_bytes(cls, history_json: bytes, snapshots_npz: bytes | None = None) -> "History":
        """The `History` of `to_bytes`' file contents (``snapshots_npz=None``: no snapshots)."""
        import io

        doc = json.loads(history_json)
        snapshots: dict = {}
        if snapshots_npz is not None:
            with np.load(io.BytesIO(snapshots_npz), allow_pickle=False) as z:
                for key in z.files:
                    m = re.fullmatch(r"e(\d{3,})_(\w+)", key)
                    if m:
                        snapshots.setdefault(int(m.group(1)), {})[m.group(2)] = z[key]
        return cls(meta=doc["meta"], steps=doc["steps"], epochs=doc["epochs"], probe=doc["probe"],
                   snapshots=dict(sorted(snapshots.items())))

    @classmethod
    def load(cls, folder) -> "History":
        folder = Path(folder)
        path = folder / "snapshots.npz"
        return cls.from_bytes((folder / "history.json").read_bytes(), path.read_bytes() if path.exists() else None)
