"""Reading the text tables of user datasets strictly: every error names the file and the line.

`read_json` parses JSON annotation files; `read_tab_separated` is the reader of ``captions.tsv``: UTF-8 (a leading
byte-order mark is dropped), fields separated by tabs only, no quoting of any kind (a ``"`` is an ordinary
character), blank lines and lines starting with ``#`` skipped, and an exact number of columns per row. `inside` and
`existing_file` check the image paths the tables name.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from ..errors import DataFormatError


def read_tab_separated(path: str | os.PathLike, min_columns: int, max_columns: int,
                       header: str) -> list[tuple[int, list[str]]]:
    """``[(line number, fields)]`` of the data rows of a tab-separated file (module docstring).

    ``header`` describes the expected row (``"image<TAB>caption[<TAB>category]"``) for error messages. Raises
    `DataFormatError` naming ``path:line`` for a line that is not UTF-8 or has the wrong number of columns, and
    naming the file when it holds no data row.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataFormatError(f"cannot read {path}: {e}") from e
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    rows = []
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataFormatError(f"{path}:{line_no}: not UTF-8 text (byte {line[e.start]:#04x} at column "
                                  f"{e.start + 1})") from None
        text = text.removesuffix("\r")
        if not text.strip() or text.startswith("#"):
            continue
        fields = text.split("\t")
        if not min_columns <= len(fields) <= max_columns:
            raise DataFormatError(f"{path}:{line_no}: expected {header} ({min_columns}"
                                  f"{'' if min_columns == max_columns else f'-{max_columns}'} tab-separated columns), "
                                  f"got {len(fields)} column(s): {text[:80]!r}")
        rows.append((line_no, fields))
    if not rows:
        raise DataFormatError(f"{path} holds no data rows (expected lines of {header})")
    return rows


def inside(root: Path, relative: str, where: str, allow_outside: bool = False) -> Path:
    """``root / relative``, refusing a path that leaves ``root`` (``..``, an absolute path, a link out) unless
    ``allow_outside``; `DataFormatError` naming ``where`` otherwise."""
    target = root / relative
    if not allow_outside:
        try:
            target.resolve().relative_to(root.resolve())
        except ValueError:
            raise DataFormatError(f"{where}: image path {relative!r} points outside {root}; pass "
                                  "allow_outside=True (--allow-outside-paths) to read it") from None
        except RuntimeError:  # what `Path.resolve` raises for a symbolic link loop
            raise DataFormatError(f"{where}: image {target} is a symbolic link loop") from None
    return target


def existing_file(path: Path, where: str) -> Path:
    """``path`` after checking it names a regular file (following links); `DataFormatError` naming ``where`` and
    saying why not: it does not exist, it is a symbolic link loop, it is a folder, it cannot be read."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataFormatError(f"{where}: image {path} is a symbolic link loop") from None
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise DataFormatError(f"{where}: image {path} does not exist") from None
        raise DataFormatError(f"{where}: cannot read image {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataFormatError(f"{where}: image {path} is not a file")
    return path


def read_json(path: Path, what: str) -> object:
    """Parse a JSON file; `DataFormatError` naming the file, line and column otherwise."""
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except OSError as e:
        raise DataFormatError(f"cannot read {what} {path}: {e}") from e
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
