"""``python -m vlr_viz.runner --method sad --out runs/sad`` (also ``torchrun --nproc_per_node=N -m vlr_viz.runner``).

Every `TrainConfig` field is an option (``--epochs-stage1 10``, ``--center-teachers``, ``--no-learn-tau``,
``--weight kd_loss=0.5``); ``--recipe sad-kl`` starts from a named recipe and ``--config run.json`` from a saved
config. Writes the run folder of `run_training` and prints its summary as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .options import add_train_arguments, train_from_args


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vlr_viz.runner", description=__doc__.splitlines()[0])
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return add_train_arguments(ap)


def main(argv: list[str] | None = None) -> int:
    from ..errors import pop_debug_flag, report_errors
    argv, debug = pop_debug_flag(argv)
    args = build_parser().parse_args(argv)

    def run() -> int:
        summary = train_from_args(args)
        if int(os.environ.get("RANK", "0")) == 0:  # the process group is gone by now: torchrun's rank says it
            print(json.dumps({k: summary[k] for k in ("method", "selected_epoch", "val_rsum", "test_rsum", "lambda",
                                                      "train_seconds")}, indent=1))
        return 0

    return report_errors("vlr_viz.runner", run, debug)


if __name__ == "__main__":
    sys.exit(main())
