"""``python -m vlr_viz.train --method sad --out runs/sad`` (also under ``torchrun --nproc_per_node=N -m vlr_viz.train``).

Every `TrainConfig` field is an option (``--epochs-stage1 10``, ``--center-teachers``, ``--no-learn-tau``,
``--weight kd_loss=0.5``); ``--config run.json`` starts from a saved config. Writes the run folder of
`run_training` and prints its summary as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vlr_viz.train", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="run folder")
    ap.add_argument("--dataset", default="twemoji")
    ap.add_argument("--image-model", default="efficientnet-lite0")
    ap.add_argument("--text-model", default="minilm-l6")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--config", default=None, help="a config.json to start from")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint if it exists")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--weight", action="append", default=[], metavar="TERM=W", help="loss weight, repeatable")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "weights":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            ap.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {"int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
            ap.add_argument(flag, dest=f.name, type=kind, default=None)
    return ap


def config_from_args(args) -> TrainConfig:
    base = json.loads(Path(args.config).read_text()) if args.config else {}
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            base[f.name] = value
    weights = dict(base.get("weights", {}))
    for item in args.weight:
        term, sep, w = item.partition("=")
        if not sep:
            raise ValueError(f"--weight expects TERM=W, got {item!r}")
        weights[term] = float(w)
    if weights:
        base["weights"] = weights
    return TrainConfig.from_dict(base)


def main(argv: list[str] | None = None) -> int:
    from . import distributed
    from .run import run_training

    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        started = distributed.init_from_env()
        main_rank = distributed.is_main()
        try:
            summary = run_training(config, args.out, args.dataset, image_model=args.image_model,
                                   text_model=args.text_model, cache_dir=args.cache_dir, resume=args.resume,
                                   progress=not args.quiet)
        finally:
            if started:
                import torch.distributed as dist

                dist.destroy_process_group()
    except ValueError as e:
        print(f"vlr_viz.train: error: {e}", file=sys.stderr)
        return 2
    if main_rank:
        print(json.dumps({k: summary[k] for k in ("method", "selected_epoch", "val_rsum", "test_rsum", "lambda",
                                                  "train_seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
