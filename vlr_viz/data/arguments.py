"""The command-line options that choose a dataset, shared by ``vlr-viz features``, ``vlr-viz train``, ``vlr-viz codes``,
``vlr-viz eval`` and ``python -m vlr_viz.runner``, and the run folder named after one."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import ConfigError
from .csv_table import check_csv_separator
from .registry import DatasetOptions

DATASET_HELP = ("twemoji | FOLDER (with captions.tsv) | karpathy:JSON:IMAGE_ROOT | coco:CAPTIONS_JSON:IMAGE_DIR | "
                "csv:FILE | wds:SHARD_PATTERN | features:DIR | fashion-mnist[:DIR] | openclipart[:PNG_ROOT:SVG_ROOT]; "
                "parts may end in @train/@val/@test and join with '+'")


def add_dataset_arguments(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--dataset`` and the `DatasetOptions` flags, plus ``--workers`` (decoding processes)."""
    defaults = DatasetOptions()
    ap.add_argument("--dataset", default="twemoji", help=DATASET_HELP)
    ap.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                    help="share of the images in val, for datasets without their own split")
    ap.add_argument("--test-fraction", type=float, default=defaults.test_fraction,
                    help="share of the images in test, for datasets without their own split")
    ap.add_argument("--split-seed", type=int, default=defaults.split_seed)
    ap.add_argument("--csv-img-key", default=defaults.csv_img_key, help="image column of a csv: dataset")
    ap.add_argument("--csv-caption-key", default=defaults.csv_caption_key, help="caption column of a csv: dataset")
    ap.add_argument("--csv-separator", default=defaults.csv_separator,
                    help="separator of a csv: dataset (tab); escapes such as \\t are decoded, \\\\ is a backslash")
    ap.add_argument("--allow-outside-paths", action="store_true",
                    help="read image paths that leave the dataset's folder")
    ap.add_argument("--workers", type=int, default=None,
                    help="image decoding processes (default: one per spare core, at most 4)")
    return ap


def csv_separator_from_arg(text: str) -> str:
    """The separator ``--csv-separator`` names, its backslash escapes decoded as in a Python string (``\\t`` is a
    tab, ``\\\\`` a backslash); `ConfigError` naming the option for an escape that cannot be decoded (a lone
    ``\\``) or a separator the CSV reader cannot use (`check_csv_separator`)."""
    try:  # non-Latin-1 characters pass through as \\u escapes, so every character keeps its meaning
        separator = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as e:
        raise ConfigError(f"--csv-separator {text!r}: {e.reason} (backslash escapes such as \\t are decoded; write "
                          "\\\\ for a backslash)") from None
    return check_csv_separator(separator, "--csv-separator")


def dataset_options_from_args(args) -> DatasetOptions:
    """The `DatasetOptions` of parsed arguments."""
    return DatasetOptions(val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                          split_seed=args.split_seed, csv_img_key=args.csv_img_key,
                          csv_caption_key=args.csv_caption_key,
                          csv_separator=csv_separator_from_arg(args.csv_separator),
                          allow_outside_paths=args.allow_outside_paths)


def default_run_folder(dataset: str, name: str, seed: int) -> Path:
    """``runs/<dataset>-<name>-seed<seed>``, the dataset spec reduced to a folder name (a spec such as
    ``karpathy:/data/dataset_coco.json:/data/images`` gives ``karpathy-dataset_coco.json-images``)."""
    parts = [Path(p).name or p for p in str(dataset).replace("+", ":").split(":") if p.strip("/")]
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("._-")[:80] or "dataset"
    return Path("runs") / f"{label}-{name}-seed{seed}"
