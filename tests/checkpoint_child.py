"""Fault injection for tests/test_faults.py: train on synthetic splits with a checkpoint after every epoch, and
kill this very process with SIGKILL at a chosen point of the second save.

    python checkpoint_child.py RUN_DIR mid-write   # half of checkpoint.tmp/model.safetensors written, then killed
    python checkpoint_child.py RUN_DIR mid-swap    # checkpoint -> checkpoint.old done, checkpoint.tmp not yet in
"""
import os
import signal
import sys
from pathlib import Path

from synthetic_features import synthetic, tiny
from vlr_viz.train import RunSpan, checkpoint, fit
from vlr_viz.train.threads import torch_threads


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def inject(mode: str, folder: Path) -> None:
    if mode == "mid-write":
        real_write = checkpoint.atomic_write_bytes

        def write(path, data):
            path = Path(path)
            if path.name == "model.safetensors" and folder.exists():  # the second save: a checkpoint exists
                path.write_bytes(data[: len(data) // 2])
                die()
            real_write(path, data)

        checkpoint.atomic_write_bytes = write
    elif mode == "mid-swap":
        real_rename = os.rename

        def rename(src, dst):
            real_rename(src, dst)
            if Path(dst).name == folder.name + ".old":  # between the two renames of the swap
                die()

        os.rename = rename
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def main(run_dir: str, mode: str) -> None:
    folder = Path(run_dir) / "checkpoint"
    inject(mode, folder)
    with torch_threads(1):
        fit(tiny(), synthetic(0), synthetic(1, n_img=24, extra=4), progress=False, span=RunSpan(checkpoint_dir=folder))


if __name__ == "__main__":
    main(*sys.argv[1:])
