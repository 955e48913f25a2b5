"""OpenClipArt: the Open Clip Art Library 0.18 (public domain) as Debian packages it, a real image-text dataset whose
text is weak by nature.

``openclipart-png`` holds the rendered drawings under ``/usr/share/openclipart/png/<category>/.../<name>.png``,
``openclipart-svg`` the same drawings under ``.../svg/<category>/.../<name>.svg``: a PNG is paired with the SVG of
the same relative path. The SVG's RDF metadata (``metadata/rdf:RDF/cc:Work``) gives the author's ``dc:title``,
``dc:description`` and ``dc:subject/rdf:Bag/rdf:li`` keywords. The category is the top-level folder.

Drawings. A PNG that is a symbolic link files a drawing already present under another path (often another
category): it is read once, at its real path. PNGs above Pillow's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, 89.5 megapixels; a decoded one takes gigabytes) are left out by rule, listed in
``meta["too_large"]`` and counted by ``--stats`` (a rule applied to every copy, not a fault of one, so no warning).
Transparency is composited onto white (`vlr_viz.data.images`).

Captions (`captions_of`), in this order, a caption with the same words (ignoring case and punctuation) as an earlier
one of the drawing dropped:

1. the title, without a ``Clipart by AUTHOR - `` byline;
2. the description's first sentence, at most `MAX_CAPTION_CHARS` characters (cut at a word);
3. ``"a drawing of k1, k2, ..."`` from the first `MAX_KEYWORDS` keywords (``_`` read as a space; placeholders
   ``hash``, ``unsorted``, hexadecimal ids and numbers left out);
4. only when none of these exists: the file name (``_`` and ``-`` read as spaces, digits dropped), always weak.

Weak text (`is_weak`): a title or description carries no content when it is empty or has no word of two letters,
holds an e-mail address, a URL or a date or time, names a collection (``collection``, ``theme``, ``icon set``,
``clipart``), is a file name (one token with ``_``, ``-``, ``.``, a digit or an inner capital: ``arki_arrow_down``,
``arrowDown``), or is a title that `SHARED_TITLE` or more drawings share (``gramastar``, ``card``: it names a
collection or series, not the drawing). Keyword captions are not weak. Weak captions are kept; ``meta`` carries
``caption_weak`` and ``caption_source`` per caption and ``weak_text`` per drawing (no caption with content).

Missing or unreadable SVG: a PNG whose SVG is missing, is not well-formed XML or has no ``cc:Work`` keeps its
place with the file-name caption (weak); the counts are in a warning and in ``meta``.

Series (`series_key`): drawings of one folder whose file names agree once digits are removed (``acquila_01``,
``acquila_02``; ``star_89pt36step``, ``star_54pt23step``) form one family, so a series never straddles a split
(`split_series`).

``python -m vlr_viz.data.openclipart --stats [PNG_ROOT SVG_ROOT]`` prints the statistics of ``docs/datasets.md``.
"""
from __future__ import annotations

import argparse
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .pairs import PairSet
from .sources import FileImages
from .splits import SPLITS, family_split

PNG_ROOT = Path("/usr/share/openclipart/png")
SVG_ROOT = Path("/usr/share/openclipart/svg")
PACKAGES = ("openclipart-png", "openclipart-svg")
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
MAX_KEYWORDS = 6
MAX_CAPTION_CHARS = 200
SHARED_TITLE = 10
"""A title given to this many drawings or more is weak: it names their collection or series."""

_BYLINE = re.compile(r"^\s*clip\s*art\s+by\s+[^-]+-\s*", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_URL = re.compile(r"(https?://|www\.)\S+|\b\S+\.(com|org|net)\b", re.I)
_DATE = re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b|\b\d{1,2}:\d{2}(:\d{2})?\b"
                   r"|\b(mon|tue|wed|thu|fri|sat|sun)\w* (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w* \d", re.I)
_COLLECTION = re.compile(r"\b(collection|themes?|icon ?sets?|clip ?arts?)\b", re.I)
_FILE_NAME = re.compile(r"^\S*([_.\d]|[a-z][A-Z]|\w-\w)\S*$")
_PLACEHOLDER = re.compile(r"^(hash|unsorted|0x[0-9a-f]+|\d+)$", re.I)


def is_weak(text: str, shared_by: int = 1) -> bool:
    """Whether a title or description carries no content (module docstring); ``shared_by``: how many drawings have
    this text as their title."""
    text = " ".join(text.split())
    return (not re.search(r"[^\W\d_]{2}", text) or bool(_EMAIL.search(text) or _URL.search(text))
            or bool(_DATE.search(text) or _COLLECTION.search(text) or _FILE_NAME.match(text.rstrip(".!?,;:")))
            or shared_by >= SHARED_TITLE)


def strip_byline(title: str) -> str:
    """``'Clipart by Nicu Buculei - pear'`` → ``'pear'``; whitespace collapsed."""
    return " ".join(_BYLINE.sub("", title or "").split())


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, whitespace collapsed, cut at a word to at most `MAX_CAPTION_CHARS`."""
    text = " ".join((text or "").split())
    text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(text) > MAX_CAPTION_CHARS:
        text = text[:MAX_CAPTION_CHARS].rsplit(" ", 1)[0]
    return text.strip()


def keyword_caption(keywords) -> str | None:
    """``"a drawing of k1, k2, ..."`` of the usable keywords (module docstring), or ``None`` when none is."""
    kept = []
    for k in keywords:
        k = " ".join((k or "").replace("_", " ").split()).lower()
        if k and not _PLACEHOLDER.match(k) and not _EMAIL.search(k) and k not in kept:
            kept.append(k)
    return "a drawing of " + ", ".join(kept[:MAX_KEYWORDS]) if kept else None


def file_name_caption(relative: str) -> str:
    """The file name as words: ``'animals/birds/acquila_architetto_01.png'`` → ``'acquila architetto'``."""
    words = re.sub(r"[\d_\-.]+", " ", Path(relative).stem).split()
    return " ".join(words) or Path(relative).stem


def read_svg_metadata(path: Path) -> dict | None:
    """``{"title", "description", "keywords"}`` of the SVG's ``cc:Work`` (read up to the end of ``<metadata>``), or
    ``None`` when the file is missing, is not well-formed XML or has no ``cc:Work``."""
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag.endswith("}Work"):
                return {"title": element.findtext(DC + "title") or "",
                        "description": element.findtext(DC + "description") or "",
                        "keywords": [li.text or "" for li in element.iter(RDF + "li")]}
            if element.tag.endswith("}metadata"):
                return None
    except (ET.ParseError, OSError, UnicodeDecodeError):
        return None
    return None


def captions_of(meta: dict | None, relative: str, title_count: Counter) -> list[tuple[str, str, bool]]:
    """``[(caption, source, weak), ...]`` of one drawing by the rule of the module docstring; ``title_count``: how
    many drawings carry each title."""
    out: list[tuple[str, str, bool]] = []
    if meta is not None:
        title = strip_byline(meta["title"])
        if title:
            out.append((title, "title", is_weak(title, title_count[title.lower()])))
        description = first_sentence(meta["description"])
        if description:
            out.append((description, "description", is_weak(description)))
        keywords = keyword_caption(meta["keywords"])
        if keywords:
            out.append((keywords, "keywords", False))
    seen, unique = set(), []
    for caption in out:
        words = tuple(re.findall(r"\w+", caption[0].lower()))
        if words not in seen:
            seen.add(words)
            unique.append(caption)
    return unique or [(file_name_caption(relative), "file name", True)]


def series_key(relative: str) -> str:
    """The folder and the file name without digits (and trailing ``_-.``): one key per drawing series."""
    path = Path(relative)
    return f"{path.parent}/{re.sub(r'[_.-]+$', '', re.sub(r'[0-9]', '', path.stem)).lower()}"


def _roots(png_root, svg_root) -> tuple[Path, Path]:
    png_root, svg_root = Path(png_root), Path(svg_root)
    missing = [f"{root} ({pkg})" for root, pkg in zip((png_root, svg_root), PACKAGES) if not root.is_dir()]
    if missing:
        raise DataFormatError(f"OpenClipArt not found: no folder {' and '.join(missing)}; install Debian's "
                              f"{' and '.join(PACKAGES)} (apt-get install {' '.join(PACKAGES)}) or give "
                              "openclipart:PNG_ROOT:SVG_ROOT")
    return png_root, svg_root


def _too_large(path: Path) -> bool:
    """Whether a PNG has more pixels than Pillow decodes without a decompression-bomb warning (header only)."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:
                return bool(Image.MAX_IMAGE_PIXELS) and img.size[0] * img.size[1] > Image.MAX_IMAGE_PIXELS
        except Image.DecompressionBombError:
            return True
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            raise DataFormatError(f"cannot read image {path}: {e}") from e


def _drawings(png_root: Path) -> tuple[list[str], int, list[str]]:
    """``(relative paths of the PNG files, number of PNG links, paths left out as too large)``, sorted."""
    files, links, too_large = [], 0, []
    for folder, _, names in os.walk(png_root):
        for name in names:
            path = Path(folder) / name
            if path.suffix.lower() != ".png":
                continue
            if path.is_symlink():
                links += 1
                continue
            relative = path.relative_to(png_root).as_posix()
            (too_large if _too_large(path) else files).append(relative)
    return sorted(files), links, sorted(too_large)


def load_openclipart(png_root=PNG_ROOT, svg_root=SVG_ROOT) -> PairSet:
    """All drawings of OpenClipArt as one `PairSet` (module docstring); ``meta`` holds the counts of PNG links,
    drawings left out as too large and PNGs without a readable SVG."""
    png_root, svg_root = _roots(png_root, svg_root)
    files, links, too_large = _drawings(png_root)
    if not files:
        raise DataFormatError(f"{png_root} holds no PNG drawing; install Debian's openclipart-png or give "
                              "openclipart:PNG_ROOT:SVG_ROOT")
    metas, missing, unreadable = [], [], []
    for relative in files:
        svg = svg_root / Path(relative).with_suffix(".svg")
        meta = read_svg_metadata(svg)
        if meta is None:
            (unreadable if svg.exists() else missing).append(relative)
        metas.append(meta)
    title_count = Counter(strip_byline(m["title"]).lower() for m in metas if m is not None)
    captions, sources, weak, t2i = [], [], [], []
    for i, (relative, meta) in enumerate(zip(files, metas)):
        for text, source, flag in captions_of(meta, relative, title_count):
            captions.append(text)
            sources.append(source)
            weak.append(flag)
            t2i.append(i)
    categories = [relative.split("/")[0] if "/" in relative else "(top)" for relative in files]
    names = sorted(set(categories))
    series = [series_key(r) for r in files]
    series_ids = {k: j for j, k in enumerate(sorted(set(series)))}
    ids = ["openclipart:" + r[:-4] for r in files]
    t2i = np.asarray(t2i, dtype=np.int64)
    caption_ids = [f"{ids[i]}#{j}" for i, j in zip(t2i, _rank_within(t2i))]
    weak_image = np.ones(len(files), dtype=bool)
    np.logical_and.at(weak_image, t2i, np.asarray(weak, dtype=bool))
    problems = {"have no SVG": missing, "have an SVG that is not well-formed XML or lacks cc:Work metadata": unreadable}
    for what, paths in problems.items():
        if paths:
            warnings.warn(f"OpenClipArt: {len(paths)} PNG drawings {what} (first: {paths[0]})", stacklevel=2)
    return PairSet(images=FileImages(png_root, files), captions=captions, txt_to_img=t2i,
                   labels=np.array([names.index(c) for c in categories], dtype=np.int64), label_names=names,
                   family=np.array([series_ids[k] for k in series], dtype=np.int64), image_ids=ids,
                   caption_ids=caption_ids, name="openclipart",
                   meta={"source": f"{png_root} + {svg_root}",
                         "licence": "public domain (Open Clip Art Library 0.18, Debian openclipart-png/-svg)",
                         "caption_weak": weak, "caption_source": sources, "weak_text": weak_image.tolist(),
                         "png_links": links, "too_large": too_large, "svg_missing": missing,
                         "svg_unreadable": unreadable})


def _rank_within(t2i: np.ndarray) -> np.ndarray:
    """The index of each caption among its image's captions (``t2i`` sorted by image)."""
    starts = np.searchsorted(t2i, t2i, side="left")
    return np.arange(t2i.size) - starts


def split_series(family: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """The split of each drawing: whole series to test, then val, until each holds its fraction of all drawings
    (`family_split`), except that a series of more than ``max(2, half the smaller target)`` drawings stays in
    train, so that one series (the ``gramastar`` stars) cannot make up a split."""
    family = np.asarray(family)
    n = family.size
    n_val, n_test = (0 if f == 0 else max(1, round(f * n)) for f in (val_fraction, test_fraction))
    _, inverse, sizes = np.unique(family, return_inverse=True, return_counts=True)
    small = np.flatnonzero(sizes[inverse] <= max(2, min(t for t in (n_val, n_test, n) if t) // 2))
    if n_val + n_test >= small.size:
        raise DataFormatError(f"OpenClipArt: {small.size} drawings outside large series cannot give {n_test} test and "
                              f"{n_val} val drawings and leave some for training")
    out = np.full(n, "train", dtype=object)
    for split, idx in family_split(family[small], n_test, n_val, seed=seed).items():
        out[small[idx]] = split
    return out.astype(str)


def statistics(pairs: PairSet, image_split: np.ndarray) -> str:
    """Markdown tables: captions per drawing, weak text, split sizes and categories."""
    per_image = np.bincount(pairs.txt_to_img, minlength=pairs.n_images)
    weak = np.asarray(pairs.meta["caption_weak"])
    sources = np.asarray(pairs.meta["caption_source"])
    weak_image = np.asarray(pairs.meta["weak_text"])
    lines = [f"drawings: {pairs.n_images:,} (PNG links read once: {pairs.meta['png_links']:,}; left out as too "
             f"large: {len(pairs.meta['too_large'])}; without SVG: {len(pairs.meta['svg_missing'])}; SVG unreadable: "
             f"{len(pairs.meta['svg_unreadable'])}),\ncaptions: {pairs.n_captions:,}, series: "
             f"{np.unique(pairs.family).size:,}", "",
             "| captions per drawing | drawings |", "|---|---|"]
    for label, mask in (("1", per_image == 1), ("2", per_image == 2), ("3 or more", per_image >= 3)):
        lines.append(f"| {label} | {int(mask.sum()):,} |")
    lines += ["", "| caption source | captions | weak | weak share |", "|---|---|---|---|"]
    for source in ("title", "description", "keywords", "file name"):
        m = sources == source
        share = weak[m].mean() if m.any() else 0.0
        lines.append(f"| {source} | {int(m.sum()):,} | {int(weak[m].sum()):,} | {share:.1%} |")
    lines.append(f"| all | {weak.size:,} | {int(weak.sum()):,} | {weak.mean():.1%} |")
    lines += ["", f"drawings with weak text only (no caption with content): {int(weak_image.sum()):,} "
                  f"({weak_image.mean():.1%})", "",
              "| category | drawings | train | val | test | weak-text drawings |", "|---|---|---|---|---|---|"]
    for c, name in enumerate(pairs.label_names):
        m = pairs.labels == c
        counts = " | ".join(f"{int((image_split[m] == s).sum()):,}" for s in SPLITS)
        lines.append(f"| {name} | {int(m.sum()):,} | {counts} | {int(weak_image[m].sum()):,} |")
    counts = " | ".join(f"**{int((image_split == s).sum()):,}**" for s in SPLITS)
    lines.append(f"| **total** | **{pairs.n_images:,}** | {counts} | **{int(weak_image.sum()):,}** |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from ..errors import report_errors
    from .options import DatasetOptions

    ap = argparse.ArgumentParser(prog="python -m vlr_viz.data.openclipart",
                                 description="OpenClipArt's drawings, captions, weak text, splits and categories")
    ap.add_argument("--stats", action="store_true", help="print the dataset's statistics as markdown tables")
    ap.add_argument("png_root", nargs="?", default=str(PNG_ROOT))
    ap.add_argument("svg_root", nargs="?", default=str(SVG_ROOT))
    args = ap.parse_args(argv)

    def run() -> int:
        pairs = load_openclipart(args.png_root, args.svg_root)
        options = DatasetOptions()
        split = split_series(pairs.family, options.val_fraction, options.test_fraction, options.split_seed)
        print(statistics(pairs, split) if args.stats else f"{pairs.n_images} drawings, {pairs.n_captions} captions")
        return 0

    return report_errors(ap.prog, run)


if __name__ == "__main__":
    raise SystemExit(main())
