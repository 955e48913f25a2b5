"""A user's own image-caption pairs: a folder of images and a ``captions.tsv`` beside them."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from .assemble import PairRows
from .sources import FileImages
from .tables import read_tab_separated


def load_image_caption_folder(folder, size: int | None = None, captions_file: str = "captions.tsv",
                              allow_outside: bool = False):
    """Load ``folder/captions.tsv`` with rows ``image_file<TAB>caption[<TAB>category]``.

    The table is read strictly (`vlr_viz.data.tables.read_tab_separated`: UTF-8, tabs only, no quoting). Several
    rows may name the same image (several captions per image). Images stay on disk and are decoded when encoded
    (``size=None``), at their own resolution; ``size=S`` instead reads them all now, resized to ``S×S``. Image
    paths must stay inside ``folder`` unless ``allow_outside``. Errors name the file and line: a malformed row, an
    empty caption, a missing image, a category that contradicts an earlier row for the same image.
    """
    folder = Path(folder)
    table = folder / captions_file
    if not table.is_file():
        raise DataFormatError(f"{table} does not exist")
    rows = PairRows()
    for line_no, fields in read_tab_separated(table, 2, 3, "image<TAB>caption[<TAB>category]"):
        where = f"{table}:{line_no}"
        image = fields[0].strip()
        rows.image_file(folder, image, where, allow_outside)
        rows.add(image, fields[1], fields[2].strip() if len(fields) > 2 else None, where)
    source = FileImages(folder, rows.image_keys)
    images = source if size is None else source.to_array(size)
    return rows.build(folder.name, images, meta={"source": str(table)})
