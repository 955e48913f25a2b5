"""Every dataset form on a small fixture written here, a malformed variant of each, and the spec syntax."""
import gzip
import io
import json

import numpy as np
import pytest
from PIL import Image

from vlr_viz.data import load_dataset, load_splits
from vlr_viz.data.images import read_rgb
from vlr_viz.errors import DataFormatError, VlrVizError


def _png(path, colour, size=(12, 9)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return np.asarray(Image.open(path).convert("RGB"))


COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (90, 90, 90),
           (200, 120, 40)]


# --- Karpathy split JSON -----------------------------------------------------------------------------------------
def _karpathy(tmp_path, splits=("train", "restval", "val", "val", "test", "test", "train", "train")):
    images = []
    for k, split in enumerate(splits):
        folder = "train2014" if split in ("train", "restval") else "val2014"
        _png(tmp_path / "coco" / folder / f"img{k}.jpg".replace(".jpg", ".png"), COLOURS[k])
        images.append({"filepath": folder, "filename": f"img{k}.png", "split": split, "cocoid": 100 + k,
                       "sentences": [{"raw": f"picture {k} caption {j}", "tokens": []} for j in range(2)]})
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"dataset": "coco", "images": images}))
    return path


def test_karpathy_keeps_the_files_splits_and_restval_joins_train(tmp_path):
    path = _karpathy(tmp_path)
    s = load_splits(f"karpathy:{path}:{tmp_path / 'coco'}")
    assert {k: v.n_images for k, v in s.items()} == {"train": 4, "val": 2, "test": 2}
    assert s["train"].image_ids == ["coco:100", "coco:101", "coco:106", "coco:107"]  # restval (101) joined train
    assert s["test"].captions == ["picture 4 caption 0", "picture 4 caption 1", "picture 5 caption 0",
                                  "picture 5 caption 1"]
    assert s["test"].txt_to_img.tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(s["val"].images.read(1), read_rgb(tmp_path / "coco/val2014/img3.png"))
    assert s["val"].images.read(0)[0, 0].tolist() == list(COLOURS[2])


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["images"][2].pop("filename"), r"images\[2\]: needs a 'filename'"),
    (lambda d: d["images"][1].update(split="holdout"), r"images\[1\] \(img1.png\): split 'holdout'"),
    (lambda d: d["images"][3].update(sentences=[]), r"images\[3\] \(img3.png\): needs a non-empty 'sentences'"),
    (lambda d: d["images"][0]["sentences"][1].update(raw="   "), r"images\[0\] \(img0.png\): sentences\[1\]: empty"),
    (lambda d: d["images"][4].update(filename="gone.png"), r"images\[4\] \(gone.png\): image .*gone.png does not"),
    (lambda d: d["images"][5].update(filepath="../.."), r"points outside"),
    (lambda d: d.pop("images"), "non-empty 'images' list"),
])
def test_karpathy_errors_name_the_entry(tmp_path, edit, match):
    path = _karpathy(tmp_path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=match):
        load_splits(f"karpathy:{path}:{tmp_path / 'coco'}")


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "dataset_flickr30k.json"
    path.write_text('{"images": [\n  {"filename": "a.jpg",}\n]}')
    with pytest.raises(DataFormatError, match=r"dataset_flickr30k.json:2:\d+: not valid JSON"):
        load_splits(f"karpathy:{path}:{tmp_path}")


# --- COCO captions -----------------------------------------------------------------------------------------------
def _coco(tmp_path, n=8):
    images = [{"id": 10 + k, "file_name": f"{k:012d}.png", "width": 12, "height": 9} for k in range(n)]
    for k in range(n):
        _png(tmp_path / "val2017" / f"{k:012d}.png", COLOURS[k])
    anns = [{"id": 500 + a, "image_id": 10 + a % n, "caption": f"coco caption {a}"} for a in range(2 * n)]
    images.append({"id": 99, "file_name": "no_caption.png"})
    path = tmp_path / "captions_val2017.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


def test_coco_captions_group_by_image_and_split_by_fraction(tmp_path):
    path = _coco(tmp_path)
    whole = load_dataset(f"coco:{path}:{tmp_path / 'val2017'}")
    assert whole.n_images == 8 and whole.n_captions == 16 and whole.meta["images_without_captions"] == 1
    assert whole.captions[:2] == ["coco caption 0", "coco caption 8"] and whole.txt_to_img[:4].tolist() == [0, 0, 1, 1]
    assert whole.image_ids[0] == "coco:10" and (whole.labels == -1).all()
    s = load_splits(f"coco:{path}:{tmp_path / 'val2017'}", val_fraction=0.25, test_fraction=0.25)
    assert {k: v.n_images for k, v in s.items()} == {"train": 4, "val": 2, "test": 2}
    assert sorted(i for p in s.values() for i in p.image_ids) == sorted(whole.image_ids)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["annotations"].append({"id": 7, "image_id": 12345, "caption": "x"}),
     r"annotations\[16\] refers to image_id 12345"),
    (lambda d: d["annotations"][3].pop("caption"), r"annotations\[3\] needs an 'image_id' and a 'caption'"),
    (lambda d: d["images"][0].pop("file_name"), r"images\[0\] needs an 'id' and a 'file_name'"),
    (lambda d: d["images"][2].update(file_name="gone.png"), r"image 12 \(gone.png\): image .*gone.png does not"),
    (lambda d: d["annotations"][0].update(caption=""), r"annotation 500 of image 10: empty caption"),
])
def test_coco_errors_name_the_entry(tmp_path, edit, match):
    path = _coco(tmp_path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=match):
        load_dataset(f"coco:{path}:{tmp_path / 'val2017'}")


def test_composed_spec_keeps_each_files_split_and_carves_val(tmp_path):
    train = _coco(tmp_path / "a", n=8)
    test = _coco(tmp_path / "b", n=3)
    s = load_splits(f"coco:{train}:{tmp_path / 'a/val2017'}@train+coco:{test}:{tmp_path / 'b/val2017'}@test",
                    val_fraction=0.25)
    assert {k: v.n_images for k, v in s.items()} == {"train": 6, "val": 2, "test": 3}
    assert s["test"].images.read(2)[0, 0].tolist() == list(COLOURS[2])
    with pytest.raises(VlrVizError, match=r"has no \['test'\] split"):
        load_splits(f"coco:{train}:{tmp_path / 'a/val2017'}@train")


# --- open_clip CSV ---------------------------------------------------------------------------------------------
def test_open_clip_csv_with_default_and_custom_columns(tmp_path):
    for k in range(4):
        _png(tmp_path / "img" / f"{k}.png", COLOURS[k])
    (tmp_path / "train.tsv").write_text("filepath\ttitle\nimg/0.png\ta red one\nimg/1.png\tgreen\n"
                                        "img/0.png\tred again\nimg/2.png\tblue\nimg/3.png\tyellow\n")
    p = load_dataset(f"csv:{tmp_path / 'train.tsv'}")
    assert p.n_images == 4 and p.captions[2] == "red again" and p.txt_to_img.tolist() == [0, 1, 0, 2, 3]
    (tmp_path / "train.csv").write_text('path,text\nimg/3.png,"yellow, bright"\n' + f"{tmp_path}/img/1.png,green\n")
    p = load_dataset(f"csv:{tmp_path / 'train.csv'}", csv_img_key="path", csv_caption_key="text", csv_separator=",")
    assert p.captions == ["yellow, bright", "green"]  # quoted comma kept, absolute path accepted
    assert p.images.read(1)[0, 0].tolist() == list(COLOURS[1])
    with pytest.raises(DataFormatError, match=r"no column \['caption'\] \(columns: \['path', 'text'\]\)"):
        load_dataset(f"csv:{tmp_path / 'train.csv'}", csv_img_key="path", csv_caption_key="caption",
                     csv_separator=",")
    (tmp_path / "bad.tsv").write_text("filepath\ttitle\nimg/0.png\tok\nimg/9.png\tmissing\n")
    with pytest.raises(DataFormatError, match=r"bad.tsv:3: image .*img/9.png does not exist"):
        load_dataset(f"csv:{tmp_path / 'bad.tsv'}")


# --- webdataset shards -------------------------------------------------------------------------------------------
def _shards(tmp_path, n_shards=2, per_shard=3, drop_txt=None):
    import webdataset as wds

    arrays = []
    for s in range(n_shards):
        with wds.TarWriter(str(tmp_path / f"shard-{s:06d}.tar")) as sink:
            for k in range(per_shard):
                i = s * per_shard + k
                arr = np.full((7, 5, 3), COLOURS[i], np.uint8)
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, "PNG")
                sample = {"__key__": f"sample{i:04d}", "png": buf.getvalue(), "cls": str(i % 2)}
                if i != drop_txt:
                    sample["txt"] = f"shard caption {i}"
                sink.write(sample)
                arrays.append(arr)
    return f"{tmp_path}/shard-{{000000..{n_shards - 1:06d}}}.tar", arrays


def test_webdataset_shards_read_lazily(tmp_path):
    pattern, arrays = _shards(tmp_path)
    p = load_dataset(f"wds:{pattern}")
    assert p.n_images == 6 and p.captions[4] == "shard caption 4" and p.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert p.label_names == ["0", "1"] and p.lazy
    for i in (0, 5):
        np.testing.assert_array_equal(p.images.read(i), arrays[i])
    import pickle

    clone = pickle.loads(pickle.dumps(p.images.subset([5, 1])))  # what a DataLoader worker receives
    np.testing.assert_array_equal(clone.read(0), arrays[5])


def test_webdataset_errors_name_shard_and_sample(tmp_path):
    pattern, _ = _shards(tmp_path, drop_txt=4)
    with pytest.raises(DataFormatError, match=r"shard-000001.tar: sample sample0004 has no caption"):
        load_dataset(f"wds:{pattern}")
    with pytest.raises(DataFormatError, match=r"shard .*shard-000002.tar \(from .*\) does not exist"):
        load_dataset(f"wds:{tmp_path}/shard-{{000000..000007}}.tar")


# --- precomputed features ----------------------------------------------------------------------------------------
def _features_dir(tmp_path, rng, captions=True):
    for split, n in (("train", 6), ("val", 3), ("test", 4)):
        d = tmp_path / "feats" / split
        d.mkdir(parents=True)
        t2i = np.repeat(np.arange(n), 2)
        np.save(d / "image.npy", rng.standard_normal((n, 8)).astype(np.float32))
        np.save(d / "text.npy", rng.standard_normal((2 * n, 5)).astype(np.float32))
        np.save(d / "txt_to_img.npy", t2i)
        np.save(d / "labels.npy", np.arange(n) % 3)
        if captions:
            (d / "captions.txt").write_text("".join(f"caption {c} of image {i}\n" for c, i in enumerate(t2i)))
        (d / "meta.json").write_text(json.dumps({"image_model": "clip-vit-b32-image", "text_model": "clip-text"}))
    return tmp_path / "feats"


def test_precomputed_features_are_memory_mapped_and_need_no_encoder(tmp_path, rng):
    from vlr_viz.features import load_features

    folder = _features_dir(tmp_path, rng)
    s = load_splits(f"features:{folder}")
    test = s["test"]
    assert test.images is None and test.n_images == 4 and test.n_captions == 8 and test.captions[3] == \
        "caption 3 of image 1"
    f = load_features(test)
    assert isinstance(f.image, np.memmap) and f.image_model == "clip-vit-b32-image"
    np.testing.assert_array_equal(f.text, np.load(folder / "test/text.npy"))
    with pytest.raises(ValueError, match="holds precomputed features"):
        load_features(test, image_model="efficientnet-lite0")
    sub = test.subset([2, 0])
    np.testing.assert_array_equal(sub.features.image, np.load(folder / "test/image.npy")[[2, 0]])
    assert sub.txt_to_img.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("edit, match", [
    (lambda d: np.save(d / "txt_to_img.npy", np.array([0, 0, 1, 1, 2, 2, 9, 3])),
     r"txt_to_img.npy: row 6 maps caption 6 to image 9, outside the 4 rows"),
    (lambda d: np.save(d / "image.npy", np.array([[0.0] * 8, [0.0] * 8, [np.nan] + [0.0] * 7, [0.0] * 8],
                                                 np.float32)), r"image.npy contains NaN .*row 2"),
    (lambda d: (d / "captions.txt").write_text("only one line\n"), r"captions.txt has 1 lines for 8 rows"),
    (lambda d: (d / "text.npy").unlink(), r"lacks \['text.npy'\]"),
    (lambda d: np.save(d / "labels.npy", np.arange(3)), r"labels.npy must be an integer array of 4 entries"),
])
def test_precomputed_errors_name_file_and_row(tmp_path, rng, edit, match):
    folder = _features_dir(tmp_path, rng)
    edit(folder / "test")
    with pytest.raises(DataFormatError, match=match):
        load_splits(f"features:{folder}")


# --- Fashion-MNIST IDX -------------------------------------------------------------------------------------------
def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files_and_makes_template_captions(tmp_path, rng):
    x_train, y_train = rng.integers(0, 256, (24, 28, 28)), np.arange(24) % 10
    x_test, y_test = rng.integers(0, 256, (5, 28, 28)), np.array([9, 0, 1, 2, 3])
    _idx(tmp_path / "train-images-idx3-ubyte.gz", x_train)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", y_train)
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", x_test)
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y_test)
    s = load_splits(f"fashion-mnist:{tmp_path}")
    assert {k: v.n_images for k, v in s.items()} == {"train": 22, "val": 2, "test": 5}
    test = s["test"]
    assert test.captions[0] == "a greyscale photo of an ankle boot" and test.label_names[test.labels[0]] == "ankle boot"
    img = test.images.read(0)
    assert img.shape == (28, 28, 3) and (img == x_test[0][:, :, None]).all()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x09\x01" + b"\x00" * 8))
    with pytest.raises(DataFormatError, match=r"t10k-labels-idx1-ubyte.gz is not an IDX file"):
        load_splits(f"fashion-mnist:{tmp_path}", split_seed=1)


def _folder(tmp_path, table: bytes, images=("a.png", "b.png")):
    """A folder dataset: the given images (one colour each) and ``table`` as its captions.tsv."""
    for k, name in enumerate(images):
        _png(tmp_path / name, COLOURS[k])
    (tmp_path / "captions.tsv").write_bytes(table)
    return tmp_path


# --- the spec syntax ---------------------------------------------------------------------------------------------
def test_unknown_specs_and_bad_options_are_named(tmp_path):
    with pytest.raises(VlrVizError, match=r"unknown dataset 'imagenet'.*karpathy:JSON:IMAGE_ROOT"):
        load_splits("imagenet")
    with pytest.raises(VlrVizError, match=r"expected karpathy:JSON:IMAGE_ROOT"):
        load_splits("karpathy:only.json")
    with pytest.raises(VlrVizError, match=r"test_fraction must be a number in \[0, 1\)"):
        load_splits("twemoji", test_fraction=1.5)
    with pytest.raises(VlrVizError, match=r"split must be one of"):
        load_dataset("twemoji", "holdout")


def test_a_changed_file_is_read_again(tmp_path):
    folder = _folder(tmp_path, b"a.png\tfirst\nb.png\tsecond\n")
    assert load_dataset(str(folder)).captions[0] == "first"
    (folder / "captions.tsv").write_bytes(b"a.png\tchanged and longer\nb.png\tsecond\n")
    assert load_dataset(str(folder)).captions[0] == "changed and longer"


def test_feature_noise_degrades_precomputed_and_encoded_features_alike(tmp_path, rng):
    from vlr_viz.features import load_features
    from vlr_viz.imbalance import degrade_pairs, feature_noise

    test = load_splits(f"features:{_features_dir(tmp_path, rng)}")["test"]
    clean = load_features(test)
    noisy = load_features(degrade_pairs(test, image="moderate", text=("feature_noise", 0.3), seed=2))
    np.testing.assert_array_equal(noisy.image, feature_noise(clean.image, 0.5, seed=2, item_keys=test.image_ids))
    np.testing.assert_array_equal(noisy.text, feature_noise(clean.text, 0.3, seed=2, item_keys=test.caption_ids))
    assert noisy.image_model.endswith("|feature_noise@0.50")
    with pytest.raises(ValueError, match=r"unknown image degradation kind 'occlusion' \(this dataset holds only "
                                         r"precomputed features\)"):
        degrade_pairs(test, image=("occlusion", 0.5))


def test_feature_noise_on_an_image_dataset_applies_after_encoding(tmp_path):
    from vlr_viz.features import load_features
    from vlr_viz.imbalance import degrade_pairs, feature_noise

    pairs = load_dataset("twemoji", "test").subset(range(12))
    clean = load_features(pairs, cache_dir=tmp_path, progress=False)
    degraded = degrade_pairs(pairs, image=None, text=("feature_noise", 0.8), seed=1)
    np.testing.assert_array_equal(degraded.images, pairs.images)  # inputs untouched
    noisy = load_features(degraded, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(noisy.image, clean.image)
    np.testing.assert_array_equal(noisy.text, feature_noise(clean.text, 0.8, seed=1, item_keys=pairs.caption_ids))


def test_a_dataset_without_caption_texts_is_evaluated_on_categories(tmp_path, rng):
    from vlr_viz.eval import evaluate
    from vlr_viz.features import load_features

    test = load_splits(f"features:{_features_dir(tmp_path, rng, captions=False)}")["test"]
    f = load_features(test)
    emb_img, emb_txt = f.image[:, :5], f.text
    table = evaluate(emb_img, emb_txt, test, ks=(1, 2), ndcg_ks=(2,), knn_k=2)
    assert set(table.relevance) == {"pair", "category"}  # no ROUGE-L without the caption texts
    assert {"i2t", "t2i", "cross", "i2i", "t2t", "mixed"} <= set(table.task)
    map_row = table[(table.task == "i2i") & (table.metric == "map")].value.item()
    assert 0 < map_row <= 100


def test_an_image_too_large_for_pillow_is_named_not_a_traceback(tmp_path, monkeypatch):
    from vlr_viz.data.images import decode_image

    _png(tmp_path / "pics/big.png", COLOURS[0], size=(20, 10))
    (tmp_path / "pics/captions.tsv").write_text("big.png\ta red square\n")
    pairs = load_dataset(str(tmp_path / "pics"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # 200 pixels: over twice the limit, a decompression bomb
    with pytest.raises(DataFormatError, match=r"cannot read image \S+pics/big.png: Image size \(200 pixels\)"):
        pairs.images.read(0)
    with pytest.raises(DataFormatError, match=r"cannot read image shard.tar:big.png: Image size \(200 pixels\)"):
        decode_image((tmp_path / "pics/big.png").read_bytes(), "shard.tar:big.png")
