"""OpenClipArt on a fixture written here in the Debian packages' layout (``png/<category>/...``,
``svg/<category>/...``), and on the installed packages when they are there."""
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from vlr_viz.cli import main as cli_main
from vlr_viz.data import load_dataset, load_splits
from vlr_viz.data.openclipart import (PNG_ROOT, SHARED_TITLE, SVG_ROOT, is_weak, load_openclipart, main,
                                      split_series)
from vlr_viz.data.registry import parse_part
from vlr_viz.errors import DataFormatError, VlrVizError

SVG = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 20010904//EN" "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:cc="http://web.resource.org/cc/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <metadata><rdf:RDF><cc:Work rdf:about="">
    <dc:title>{title}</dc:title>
    <dc:description>{description}</dc:description>
    <dc:subject><rdf:Bag>{keywords}</rdf:Bag></dc:subject>
    <dc:creator><cc:Agent><dc:title>Some Author</dc:title></cc:Agent></dc:creator>
  </cc:Work></rdf:RDF></metadata>
  <rect width="10" height="10"/>
</svg>
"""


def _png(root, relative, image: Image.Image):
    path = root / "png" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _svg(root, relative, title="", description="", keywords=(), text=None):
    path = root / "svg" / relative.replace(".png", ".svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    path.write_text(text if text is not None else SVG.format(title=title, description=description, keywords=items))


def _palette_with_transparency():
    """2×2 palette image: index 0 transparent, index 1 red."""
    img = Image.new("P", (2, 2), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = 0
    return img


def _rgb(colour, size=(3, 2)):
    return Image.new("RGB", size, colour)


@pytest.fixture
def clipart(tmp_path):
    """The fixture drawings; returns the root holding ``png/`` and ``svg/``."""
    return lay_out_clipart(tmp_path)


def lay_out_clipart(r):
    """Write the fixture drawings under ``r`` (``png/`` and ``svg/``, the packages' layout); returns ``r``."""
    _png(r, "animals/birds/acquila_01.png", _palette_with_transparency())
    _svg(r, "animals/birds/acquila_01.png", "Eagle in flight", "A brown eagle. It flies high.",
         ["", "bird", "hash", "animal_kingdom", "0x935a874", "bird"])
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (100, 128))
    la.putpixel((1, 0), (30, 0))
    _png(r, "animals/birds/acquila_02.png", la)
    _svg(r, "animals/birds/acquila_02.png", "Eagle landing", "", ["bird"])
    rgba = Image.new("RGBA", (1, 1), (0, 0, 255, 64))
    _png(r, "computer/icons/flat/keduca.png", rgba)
    _svg(r, "computer/icons/flat/keduca.png", "Part of the Flat Icon Collection (Wed Aug 25 23:23:49 2004)", "",
         ["hash", "application", "computer"])
    _png(r, "office/arki_arrow_down.png", _rgb((1, 2, 3)))
    _svg(r, "office/arki_arrow_down.png", "arki_arrow_down")
    _png(r, "people/mail.png", _rgb((4, 5, 6)))
    _svg(r, "people/mail.png", "jane.doe@example.org", "Drawn on 2004-08-25, see http://openclipart.org")
    _png(r, "people/walker.png", _rgb((7, 8, 9)))
    _svg(r, "people/walker.png", "", "", ["person", "walking"])
    _png(r, "food/broken.png", _rgb((10, 11, 12)))
    _svg(r, "food/broken.png", text="<svg><metadata><rdf:RDF><cc:Work><dc:title>Pear</dc:title></svg")
    _png(r, "food/orphan_07.png", _rgb((13, 14, 15)))
    _png(r, "food/pear_nicu.png", _rgb((16, 17, 18)))
    _svg(r, "food/pear_nicu.png", "Clipart by Nicu Buculei - pear", "Pear.", ["fruit"])
    _png(r, "science/flask.png", _rgb((19, 20, 21)))
    _svg(r, "science/flask.png", "A chemistry flask with the required bubbles", "", ["chemistry"])
    _png(r, "transportation/car.png", _rgb((22, 23, 24)))
    _svg(r, "transportation/car.png", "Red car", "", ["car"])
    (r / "png/signs_and_symbols").mkdir(parents=True)
    os.symlink("../transportation/car.png", r / "png/signs_and_symbols/car.png")
    for k in range(SHARED_TITLE):
        _png(r, f"shapes/stars/star_{k}pt{k + 3}step.png", _rgb((30 + k, 0, 0)))
        _svg(r, f"shapes/stars/star_{k}pt{k + 3}step.png", "gramastar", "", ["stars", "geometry"])
    return r


def _load(root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = load_dataset(f"openclipart:{root / 'png'}:{root / 'svg'}")
    return pairs, [str(w.message) for w in caught]


def _captions(pairs, image_id):
    i = pairs.image_ids.index(f"openclipart:{image_id}")
    js = np.flatnonzero(pairs.txt_to_img == i)
    return [(pairs.captions[j], pairs.meta["caption_source"][j], pairs.meta["caption_weak"][j]) for j in js]


def test_captions_come_from_title_description_and_keywords_with_weak_text_flagged(clipart):
    pairs, _ = _load(clipart)
    assert _captions(pairs, "animals/birds/acquila_01") == [
        ("Eagle in flight", "title", False), ("A brown eagle.", "description", False),
        ("a drawing of bird, animal kingdom", "keywords", False)]
    assert _captions(pairs, "computer/icons/flat/keduca") == [
        ("Part of the Flat Icon Collection (Wed Aug 25 23:23:49 2004)", "title", True),
        ("a drawing of application, computer", "keywords", False)]
    assert _captions(pairs, "office/arki_arrow_down") == [("arki_arrow_down", "title", True)]
    assert _captions(pairs, "people/mail") == [("jane.doe@example.org", "title", True),
                                               ("Drawn on 2004-08-25, see http://openclipart.org", "description",
                                                True)]
    assert _captions(pairs, "people/walker") == [("a drawing of person, walking", "keywords", False)]
    assert _captions(pairs, "food/pear_nicu") == [("pear", "title", False), ("a drawing of fruit", "keywords", False)]
    assert _captions(pairs, "science/flask")[0] == ("A chemistry flask with the required bubbles", "title", False)
    assert _captions(pairs, "shapes/stars/star_0pt3step")[0] == ("gramastar", "title", True)
    weak_images = {pairs.image_ids[i] for i in np.flatnonzero(pairs.meta["weak_text"])}
    assert weak_images == {f"openclipart:{k}" for k in ("office/arki_arrow_down", "people/mail", "food/broken",
                                                         "food/orphan_07")}


def test_a_bad_svg_or_none_keeps_the_drawing_with_its_file_name_as_weak_text_and_warns(clipart):
    pairs, messages = _load(clipart)
    assert _captions(pairs, "food/broken") == [("broken", "file name", True)]
    assert _captions(pairs, "food/orphan_07") == [("orphan", "file name", True)]
    assert pairs.meta["svg_unreadable"] == ["food/broken.png"] and pairs.meta["svg_missing"] == ["food/orphan_07.png"]
    assert any("1 PNG drawings have no SVG (first: food/orphan_07.png)" in m for m in messages)
    assert any("1 PNG drawings have an SVG that is not well-formed XML" in m for m in messages)


def test_images_are_composited_on_white_and_a_linked_png_is_read_once(clipart):
    pairs, _ = _load(clipart)
    read = lambda image_id: pairs.images.read(pairs.image_ids.index(f"openclipart:{image_id}"))
    palette = read("animals/birds/acquila_01")
    assert palette.shape == (2, 2, 3) and palette.dtype == np.uint8
    assert palette[0, 0].tolist() == [255, 255, 255] and palette[0, 1].tolist() == [255, 0, 0]
    la = read("animals/birds/acquila_02").astype(int)
    expected = round(100 * 128 / 255 + 255 * (1 - 128 / 255))  # alpha compositing on white
    assert np.abs(la[0, 0] - expected).max() <= 1 and la[0, 1].tolist() == [255, 255, 255]
    rgba = read("computer/icons/flat/keduca").astype(int)[0, 0]
    white_share = 255 * (1 - 64 / 255)  # blue at alpha 64 over white
    assert np.abs(rgba - np.array([white_share, white_share, 255])).max() <= 1
    assert "openclipart:transportation/car" in pairs.image_ids
    assert "openclipart:signs_and_symbols/car" not in pairs.image_ids and pairs.meta["png_links"] == 1


def test_categories_are_the_top_level_folders(clipart):
    pairs, _ = _load(clipart)
    assert pairs.label_names == ["animals", "computer", "food", "office", "people", "science", "shapes",
                                 "transportation"]
    category = dict(zip(pairs.image_ids, (pairs.label_names[c] for c in pairs.labels)))
    assert category["openclipart:animals/birds/acquila_02"] == "animals"
    assert category["openclipart:computer/icons/flat/keduca"] == "computer"


@pytest.mark.parametrize("seed", range(6))
def test_a_series_stays_in_one_split_and_a_large_one_in_train(clipart, seed):
    root = clipart
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = load_splits(f"openclipart:{root / 'png'}:{root / 'svg'}", val_fraction=0.15, test_fraction=0.15,
                        split_seed=seed)
    where = {i: name for name, p in s.items() for i in p.image_ids}
    assert len(where) == sum(p.n_images for p in s.values()) == 21
    assert where["openclipart:animals/birds/acquila_01"] == where["openclipart:animals/birds/acquila_02"]
    assert {where[f"openclipart:shapes/stars/star_{k}pt{k + 3}step"] for k in range(SHARED_TITLE)} == {"train"}
    assert s["test"].n_images >= 3 and s["val"].n_images >= 3
    again = load_splits(f"openclipart:{root / 'png'}:{root / 'svg'}", val_fraction=0.15, test_fraction=0.15,
                        split_seed=seed)
    assert {k: v.image_ids for k, v in again.items()} == {k: v.image_ids for k, v in s.items()}
    test = s["test"]  # per-caption flags follow their captions into a split
    full, _ = _load(root)
    flags = dict(zip(full.caption_ids, full.meta["caption_weak"]))
    assert test.meta["caption_weak"] == [flags[c] for c in test.caption_ids]


def test_split_series_sends_whole_series_to_val_and_test():
    family = np.repeat(np.arange(50), 4)
    split = split_series(family, 0.1, 0.2, seed=3)
    assert all(len(set(split[family == f])) == 1 for f in range(50))
    assert (split == "test").sum() == 40 and (split == "val").sum() == 20


def test_a_drawing_above_pillows_pixel_limit_is_left_out(clipart, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = load_openclipart(clipart / "png", clipart / "svg")
    assert not [w for w in caught if "Pillow" in str(w.message)]  # a rule, listed in meta, not a warning
    assert len(pairs.meta["too_large"]) == 18
    kept = ("animals/birds/acquila_01", "animals/birds/acquila_02", "computer/icons/flat/keduca")  # 4, 2, 1 pixels
    assert sorted(pairs.image_ids) == [f"openclipart:{k}" for k in kept]


def test_missing_packages_are_named(tmp_path, capsys):
    code = cli_main(["features", "--dataset", f"openclipart:{tmp_path / 'png'}:{tmp_path / 'svg'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"no folder {tmp_path / 'png'} (openclipart-png) and {tmp_path / 'svg'} (openclipart-svg)" in err
    assert "install Debian's openclipart-png and openclipart-svg" in err
    (tmp_path / "png").mkdir()
    with pytest.raises(DataFormatError, match=r"no folder \S+svg \(openclipart-svg\);"):
        load_splits(f"openclipart:{tmp_path / 'png'}:{tmp_path / 'svg'}")
    (tmp_path / "svg").mkdir()
    with pytest.raises(DataFormatError, match=r"png holds no PNG drawing"):
        load_splits(f"openclipart:{tmp_path / 'png'}:{tmp_path / 'svg'}")
    with pytest.raises(VlrVizError, match=r"expected openclipart:PNG_ROOT:SVG_ROOT"):
        load_splits(f"openclipart:{tmp_path / 'png'}")


def test_the_spec_stands_alone_or_with_two_roots():
    assert parse_part("openclipart") == ("openclipart", "", None)
    assert parse_part("openclipart:/a/png:/a/svg@test") == ("openclipart", "/a/png:/a/svg", "test")


@pytest.mark.parametrize("text, weak", [
    ("A chemistry flask with the required bubbles", False), ("Bacon", False), ("Oboe.", False),
    ("Spain - Catalunya", False), ("gramastar", False), ("", True), ("  ", True), ("123", True),
    ("arki_arrow_down", True), ("arrowDown", True), ("arrow-down-seagreen", True), ("smiley111", True),
    ("Lemon SVG theme", True), ("SVG Gradient Collection by Alan Horkan, 2004.", True),
    ("someone@example.com", True), ("see www.openclipart.org", True), ("Wed Aug 25 23:23:49 2004", True),
    ("2004-08-25", True), ("blueberry - iconset", True),
])
def test_the_weak_text_rule(text, weak):
    assert is_weak(text) is weak


def test_a_title_shared_by_many_drawings_is_weak():
    assert not is_weak("card", shared_by=SHARED_TITLE - 1) and is_weak("card", shared_by=SHARED_TITLE)


def test_the_statistics_command(clipart, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["--stats", str(clipart / "png"), str(clipart / "svg")]) == 0
    out = capsys.readouterr().out
    assert "drawings: 21 (PNG links read once: 1;" in out
    assert "| 1 | " in out and "| shapes | 10 | 10 | 0 | 0 | 0 |" in out
    assert "| file name | 2 | 2 | 100.0% |" in out


@pytest.mark.skipif(not (PNG_ROOT.is_dir() and SVG_ROOT.is_dir()), reason="openclipart-png/-svg not installed")
def test_the_installed_packages():
    png_paths = sum(f.endswith(".png") for _, _, fs in os.walk(PNG_ROOT) for f in fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = load_splits("openclipart")
    whole = load_dataset("openclipart")
    assert png_paths == 8121
    assert whole.n_images + whole.meta["png_links"] + len(whole.meta["too_large"]) == png_paths
    assert 6800 <= whole.n_images <= 6900 and whole.n_captions > 2 * whole.n_images - 500
    assert {"animals", "computer", "food", "people", "shapes", "signs_and_symbols", "transportation"} <= set(
        whole.label_names) and (np.bincount(whole.labels) > 0).all()
    assert 0.2 < np.mean(whole.meta["caption_weak"]) < 0.5
    ids = [set(p.image_ids) for p in s.values()]
    assert sum(map(len, ids)) == whole.n_images and not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    series = dict(zip(whole.image_ids, whole.family))
    split_of_series = {}
    for name, p in s.items():
        for i in p.image_ids:
            assert split_of_series.setdefault(series[i], name) == name
    for i in (0, whole.n_images // 2, whole.n_images - 1):
        image = whole.images.read(i)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_a_damaged_png_is_named(clipart):
    (clipart / "png/food/orphan_07.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFormatError, match=r"cannot read image \S+png/food/orphan_07.png"):
        load_openclipart(clipart / "png", clipart / "svg")
