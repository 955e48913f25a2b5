import numpy as np
import pytest
from PIL import Image

from vlr_viz.data import PairSet, family_split, load_image_caption_folder
from vlr_viz.data.twemoji import family_key


def test_twemoji_is_the_real_emoji_set(twemoji):
    assert twemoji.n_images == twemoji.n_captions > 3900
    assert twemoji.images.shape[1:] == (72, 72, 3) and twemoji.images.dtype == np.uint8
    assert len(set(twemoji.captions)) == twemoji.n_captions  # distinct names
    i = twemoji.captions.index("grinning face")
    assert twemoji.label_names[twemoji.labels[i]] == "Smileys & Emotion"
    assert (twemoji.images[i] < 250).any(-1).mean() > 0.3  # a drawn glyph, not a blank tile
    assert (twemoji.images[:, 0, 0] == 255).all(axis=1).mean() > 0.9  # alpha flattened onto white corners
    assert len(set(twemoji.image_ids)) == twemoji.n_images


def test_family_groups_variants():
    assert family_key("👋🏽") == family_key("👋")
    assert family_key("👨‍🌾") == family_key("👩‍🌾") == family_key("🧑🏿‍🌾")
    assert family_key("🙆‍♂️") == family_key("🙆")
    assert family_key("👋") != family_key("🌾")


def test_splits_respect_families(twemoji, twemoji_splits):
    ids = {s: set(p.image_ids) for s, p in twemoji_splits.items()}
    assert sum(map(len, ids.values())) == twemoji.n_images
    fam = dict(zip(twemoji.image_ids, twemoji.family))
    fams = {s: {fam[i] for i in v} for s, v in ids.items()}
    assert not fams["train"] & fams["test"] and not fams["train"] & fams["val"] and not fams["val"] & fams["test"]
    assert 1000 <= twemoji_splits["test"].n_images < 1150 and 500 <= twemoji_splits["val"].n_images < 650


def test_family_split_is_deterministic_and_whole():
    family = np.repeat(np.arange(50), np.arange(50) % 4 + 1)
    a, b = family_split(family, 20, 10, seed=3), family_split(family, 20, 10, seed=3)
    assert all((a[s] == b[s]).all() for s in a)
    for s in a:
        for f in np.unique(family[a[s]]):
            assert set(np.flatnonzero(family == f)) <= set(a[s])
    with pytest.raises(ValueError, match="no training items"):
        family_split(family, 100, 50)


def _pairs(**over):
    kw = dict(images=np.zeros((3, 4, 4, 3), np.uint8), captions=["a", "b", "c", "d"], txt_to_img=[0, 0, 1, 2],
              labels=[0, 1, -1], label_names=["x", "y"], family=[0, 1, 2], image_ids=["i0", "i1", "i2"],
              caption_ids=["c0", "c1", "c2", "c3"])
    kw.update(over)
    return PairSet(**kw)


def test_pairset_several_captions_and_subset():
    p = _pairs()
    assert p.first_caption_of_image().tolist() == [0, 2, 3]
    assert p.image_names() == ["a", "c", "d"]  # one name per image (notebook 03's table of who moved)
    assert _pairs(txt_to_img=[0, 0, 0, 2]).image_names() == ["a", "i1", "d"]  # no caption: its id
    q = p.subset([2, 0])
    assert q.captions == ["d", "a", "b"] and q.txt_to_img.tolist() == [0, 1, 1] and q.image_ids == ["i2", "i0"]
    p.meta.update(chars=["x", "y", "z"], source="hand-made")
    q = p.subset([2, 0])
    assert q.meta == {"chars": ["z", "x"], "source": "hand-made"} and p.meta["chars"] == ["x", "y", "z"]


@pytest.mark.parametrize("over,match", [
    (dict(txt_to_img=[0, 0, 1]), "txt_to_img has 3 entries but there are 4 captions"),
    (dict(txt_to_img=[0, 0, 1, 7]), r"txt_to_img\[3\] = 7 is out of range"),
    (dict(captions=["a", " ", "c", "d"]), "caption 1 .*c1.* is empty"),
    (dict(labels=[0, 1]), "3 images but 2 labels"),
])
def test_pairset_bad_input_names_the_item(over, match):
    with pytest.raises(ValueError, match=match):
        _pairs(**over)


def _write_folder(tmp_path, rows, images=("a.png", "b.png")):
    for n in images:
        Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(tmp_path / n)
    (tmp_path / "captions.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    return tmp_path


def test_folder_loader_reads_multi_caption_pairs(tmp_path):
    folder = _write_folder(tmp_path, [("a.png", "red square", "shape"), ("b.png", "another"), ("a.png", "a red tile")])
    p = load_image_caption_folder(folder, size=8)
    assert p.images.shape == (2, 8, 8, 3) and p.txt_to_img.tolist() == [0, 1, 0]
    assert p.labels.tolist() == [0, -1] and p.label_names == ["shape"]
    assert tuple(p.images[0, 0, 0]) == (255, 127, 127)  # half-transparent red on white


def test_folder_loader_errors_name_the_item(tmp_path):
    folder = _write_folder(tmp_path, [("a.png", "ok"), ("b.png", "  ")])
    with pytest.raises(ValueError, match=r"captions.tsv:2: empty caption for image b.png"):
        load_image_caption_folder(folder)
    folder = _write_folder(tmp_path, [("a.png", "ok"), ("b.png", "fine")])
    data = (folder / "b.png").read_bytes()
    (folder / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read image .*b.png"):
        load_image_caption_folder(folder, size=8)  # read now
    lazy = load_image_caption_folder(folder)  # read when encoded
    with pytest.raises(ValueError, match=r"cannot read image .*b.png"):
        lazy.images.to_array()
    (folder / "captions.tsv").write_text("a.png\tok\nmissing.png\tgone\n")
    with pytest.raises(ValueError, match="missing.png"):
        load_image_caption_folder(folder)


def test_first_caption_of_image_matches_a_plain_loop():
    from vlr_viz.arrays import first_caption_of_image

    t2i = np.array([2, 0, 2, 1, 0, 4])
    expected = [next((c for c, i in enumerate(t2i) if i == img), -1) for img in range(6)]
    assert expected == [1, 3, 0, -1, 5, -1]
    assert first_caption_of_image(t2i, 6).tolist() == expected
    assert first_caption_of_image(t2i).tolist() == expected[:5]  # default: as many images as the map names
