"""open_clip's training table: a CSV/TSV with an image-path column and a caption column.

Read as open_clip's ``CsvDataset`` reads it (``pandas.read_csv(path, sep=separator)``, so CSV quoting applies),
with the same options: ``img_key`` (default ``"filepath"``), ``caption_key`` (``"title"``) and ``separator``
(``"\\t"``), the command-line ``--csv-img-key``, ``--csv-caption-key`` and ``--csv-separator``. Image paths may be
absolute, as in open_clip; relative ones are taken from the table's folder. Rows naming the same image path become
captions of one image.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError, DataFormatError
from .assemble import PairRows
from .sources import FileImages


def check_csv_separator(separator, name: str = "csv_separator") -> str:
    """``separator`` after checking that ``pandas.read_csv`` can split rows with it; `ConfigError` naming ``name``
    otherwise. One character is taken as it is; several are a regular expression (pandas' python engine), so they
    must compile; a line break ends a row and cannot separate columns."""
    if not isinstance(separator, str) or not separator:
        raise ConfigError(f"{name} must be a non-empty string, got {separator!r}")
    if "\n" in separator or "\r" in separator:
        raise ConfigError(f"{name} {separator!r} holds a line break, which ends a row; it cannot separate columns")
    if len(separator) > 1:
        try:
            re.compile(separator)
        except re.error as e:
            raise ConfigError(f"{name} {separator!r}: a separator of several characters is a regular expression, "
                              f"and this one is not valid ({e}); escape its special characters with a backslash"
                              ) from None
    return separator


def load_csv_pairs(path, img_key: str = "filepath", caption_key: str = "title", separator: str = "\t",
                   allow_outside: bool = True):
    """The `PairSet` of an open_clip CSV/TSV (module docstring). Errors name the file and the row (counting the
    header as line 1): a missing column, an empty caption or image path, an image that does not exist."""
    import pandas as pd

    path = Path(path)
    try:
        engine = "c" if len(separator.encode()) == 1 else "python"  # pandas' choice, made here without a warning
        table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, encoding="utf-8", engine=engine)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataFormatError(f"cannot read table {path}: {e}") from e
    missing = [k for k in (img_key, caption_key) if k not in table.columns]
    if missing:
        raise DataFormatError(f"{path}: no column {missing} (columns: {list(table.columns)}); set --csv-img-key / "
                              f"--csv-caption-key (separator {separator!r})")
    if table.empty:
        raise DataFormatError(f"{path} holds no data rows")
    root, rows = path.parent, PairRows()
    for line, (image, caption) in enumerate(zip(table[img_key], table[caption_key]), start=2):
        where = f"{path}:{line}"
        rows.image_file(root, image.strip(), where, allow_outside)
        rows.add(image.strip(), caption, None, where)
    return rows.build(path.stem, FileImages(root, rows.image_keys), meta={"source": str(path)})
