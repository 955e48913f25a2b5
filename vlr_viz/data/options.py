"""`DatasetOptions`: the settings of the dataset forms (fractions and seed of the split, the columns of a CSV table,
paths that leave a dataset's folder), checked when made."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import VlrVizError
from .csv_table import check_csv_separator


@dataclass(frozen=True)
class DatasetOptions:
    """Options of the dataset forms (the command line's ``--val-fraction``, ``--csv-img-key`` ...).

    Attributes:
        val_fraction, test_fraction: shares of the images in ``val`` and ``test`` for forms without their own split.
        split_seed: seed of that split.
        csv_img_key, csv_caption_key, csv_separator: the columns and separator of a ``csv:`` table (open_clip's
            ``--csv-img-key``, ``--csv-caption-key``, ``--csv-separator``).
        allow_outside_paths: read image paths of a ``captions.tsv``, Karpathy or COCO file that leave its folder.
    """

    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    csv_img_key: str = "filepath"
    csv_caption_key: str = "title"
    csv_separator: str = "\t"
    allow_outside_paths: bool = False

    def __post_init__(self):
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise VlrVizError(f"{name} must be a number in [0, 1), got {value!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise VlrVizError(f"val_fraction + test_fraction must be below 1, got "
                              f"{self.val_fraction} + {self.test_fraction}")
        if not isinstance(self.split_seed, int) or isinstance(self.split_seed, bool) or self.split_seed < 0:
            raise VlrVizError(f"split_seed must be a non-negative integer, got {self.split_seed!r}")
        check_csv_separator(self.csv_separator)
