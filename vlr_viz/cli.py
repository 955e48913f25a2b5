"""``vlr-viz``: the command line (features, train, eval, report)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def load_dataset(name: str, split: str | None = None):
    """A `PairSet` by name: ``twemoji`` or a folder holding ``captions.tsv``."""
    from .data import load_image_caption_folder, load_twemoji

    if name == "twemoji":
        return load_twemoji(split)
    if Path(name).is_dir():
        return load_image_caption_folder(name)
    raise SystemExit(f"unknown dataset {name!r}: use 'twemoji' or a folder with captions.tsv")


def cmd_features(args) -> int:
    from .cache import default_cache_dir
    from .features import load_features

    pairs = load_dataset(args.dataset, args.split)
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    feats = load_features(pairs, args.image_model, args.text_model, cache_dir=cache, progress=not args.quiet)
    print(f"dataset      {pairs.name}: {pairs.n_images} images, {pairs.n_captions} captions, "
          f"{len(pairs.label_names)} categories")
    print(f"image        {feats.image_model}: {feats.image.shape[0]} x {feats.image.shape[1]}")
    print(f"text         {feats.text_model}: {feats.text.shape[0]} x {feats.text.shape[1]}")
    print(f"seconds      {feats.seconds:.2f}")
    print(f"cache        {cache.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlr-viz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("features", help="extract and cache both teachers' features for a dataset")
    p.add_argument("--dataset", default="twemoji", help="'twemoji' or a folder with captions.tsv")
    p.add_argument("--split", default=None, choices=["train", "val", "test"])
    p.add_argument("--image-model", default="efficientnet-lite0")
    p.add_argument("--text-model", default="minilm-l6")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_features)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"vlr-viz: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
