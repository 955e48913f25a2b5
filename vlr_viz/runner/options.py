"""Training options shared by ``vlr-viz train`` and ``python -m vlr_viz.runner``: one flag per `TrainConfig` field,
a named ``--recipe``, a saved ``--config``, ``--weight TERM=W`` and ``--plugin FILE`` (methods of a plug-in,
`vlr_viz.methods.load_plugin`)."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..checks import check_values
from ..data.arguments import add_dataset_arguments, dataset_options_from_args
from ..errors import ConfigError
from ..train.config import FIELD_CHECKS, TrainConfig
from ..train.recipes import recipe_config


def add_train_arguments(ap: argparse.ArgumentParser, out_required: bool = True) -> argparse.ArgumentParser:
    """The training options: data, ``--recipe``, ``--config``, ``--weight TERM=W`` and one flag per `TrainConfig`
    field (``None`` when not given, so the recipe's or the config file's value stands)."""
    ap.add_argument("--out", required=out_required, default=None, help="run folder")
    add_dataset_arguments(ap)
    ap.add_argument("--image-model", default=None, help="image encoder (default: efficientnet-lite0, the vision "
                                                          "teacher; a features: dataset brings its own)")
    ap.add_argument("--text-model", default=None, help="text encoder (default: minilm-l6, the text teacher)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--recipe", default=None,
                    help="start from a named recipe (vlr_viz.train.recipes: baseline, sad, sad-kl, "
                         "sad-kl-reliability, covlr, or any registered method); later options override it")
    ap.add_argument("--plugin", action="append", default=[], metavar="FILE",
                    help="a Python file registering training methods (vlr_viz.methods.register), loaded before "
                         "the config is built; repeatable")
    ap.add_argument("--config", default=None, help="a config.json to start from (over the recipe)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint if it exists")
    ap.add_argument("--force", action="store_true", help="train even when the run store holds this run, and "
                                                          "replace the stored one")
    ap.add_argument("--no-store", dest="store", action="store_false",
                    help="neither read nor write the run store")
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
    """``recipe <- config file <- flags <- --weight``, validated by `TrainConfig` once the ``--plugin`` files are
    loaded."""
    from ..methods import load_plugins

    load_plugins(getattr(args, "plugin", []))
    base = recipe_config(args.recipe).to_dict() if getattr(args, "recipe", None) else {}
    if args.config:
        where = f"--config {args.config}"
        try:
            saved = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{where}: cannot read a config: {e}") from None
        base.update(check_values(FIELD_CHECKS, saved, where))
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name != "weights":
            base[f.name] = value
    weights = dict(base.get("weights", {}))
    for item in args.weight:
        term, sep, w = item.partition("=")
        if not sep:
            raise ConfigError(f"--weight expects TERM=W, got {item!r}")
        try:
            weights[term] = float(w)
        except ValueError:
            raise ConfigError(f"--weight {item!r}: {w!r} is not a number") from None
    if weights:
        base["weights"] = weights
    return TrainConfig.from_dict(base)


def train_from_args(args) -> dict:
    """Run `run_training` for parsed arguments (under torchrun too); returns the run summary."""
    from .. import distributed
    from ..train.device import resolve_device
    from .run import run_training

    config = config_from_args(args)
    resolve_device(config.device)  # before any data is read: a missing GPU is reported at once
    started = distributed.init_from_env()
    try:
        return run_training(config, args.out, args.dataset, image_model=args.image_model,
                            text_model=args.text_model, cache_dir=args.cache_dir, resume=args.resume,
                            progress=not args.quiet, options=dataset_options_from_args(args), workers=args.workers,
                            store=args.store, force=args.force)
    finally:
        if started:
            import torch.distributed as dist

            dist.destroy_process_group()
