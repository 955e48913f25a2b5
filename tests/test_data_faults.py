"""Faults of the dataset loaders, each on a small fixture written here: shards cut short, COCO ids that collide or
are not ids, symbolic link loops, malformed precomputed-feature folders, and settings that cannot be honoured.
Each case asserts the one line a user gets (the item at fault named), or the right result."""
import argparse
import gzip
import json
import os
import re
import tarfile
import warnings

import numpy as np
import pytest

from vlr_viz.cli import main
from vlr_viz.data import DatasetOptions, load_dataset, load_splits
from vlr_viz.data.arguments import add_dataset_arguments, dataset_options_from_args
from vlr_viz.data.splits import SmallSplitWarning, family_split, fraction_split
from vlr_viz.errors import ConfigError, DataFormatError
from vlr_viz.eval import recall_at_k

from test_datasets import COLOURS, _coco, _features_dir, _folder, _karpathy, _png, _shards


def cli_error(capsys, *args: str) -> str:
    """The one error line of ``vlr-viz ARGS``, after checking the exit code is 2 and no traceback was printed."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


# --- webdataset shards -------------------------------------------------------------------------------------------
def _shard(tmp_path):
    """One whole shard of 6 samples (``png``, ``txt``, ``cls`` each), its bytes and its members."""
    _shards(tmp_path, n_shards=1, per_shard=6)
    path = tmp_path / "shard-000000.tar"
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    return path, path.read_bytes(), members


CUTS = {  # where a shard is cut, from its members (18: 3 per sample)
    "at a member boundary": lambda m: m[9].offset,
    "inside a header": lambda m: m[9].offset + 100,
    "inside a member's data": lambda m: m[9].offset_data + 10,
    "inside the last member's data": lambda m: m[-1].offset_data + 1,
    "before the end-of-archive marker": lambda m: m[-1].offset_data + 512,
}


@pytest.mark.parametrize("cut", list(CUTS))
def test_a_shard_cut_short_is_refused_naming_it(tmp_path, cut):
    path, raw, members = _shard(tmp_path)
    assert len(members) == 18 and load_dataset(f"wds:{path}").n_images == 6
    path.write_bytes(raw[:CUTS[cut](members)])
    with pytest.raises(DataFormatError, match=r"shard .*shard-000000.tar is cut short or damaged"):
        load_dataset(f"wds:{path}")


def test_a_shard_cut_inside_its_end_marker_loses_nothing_and_loads(tmp_path):
    path, raw, members = _shard(tmp_path)
    path.write_bytes(raw[:members[-1].offset_data + 512 + 100])  # the last data block whole, then 100 zero bytes
    pairs = load_dataset(f"wds:{path}")
    assert pairs.n_images == 6 and pairs.captions[5] == "shard caption 5"


def test_a_shard_with_a_damaged_header_is_refused_naming_the_byte(tmp_path):
    path, raw, members = _shard(tmp_path)
    offset = members[6].offset
    damaged = bytearray(raw)
    damaged[offset + 148:offset + 156] = b"9999999\0"  # the header's checksum field
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataFormatError, match=rf"shard-000000.tar is cut short or damaged: no tar header or "
                                              rf"end-of-archive marker at byte {offset} \(after 6 members"):
        load_dataset(f"wds:{path}")


def test_a_compressed_shard_loads_whole_and_is_refused_cut_short(tmp_path):
    path, raw, _ = _shard(tmp_path)
    packed = tmp_path / "shard-000000.tar.gz"
    packed.write_bytes(gzip.compress(raw))
    assert load_dataset(f"wds:{packed}").n_images == 6
    packed.write_bytes(gzip.compress(raw)[:len(gzip.compress(raw)) // 2])
    with pytest.raises(DataFormatError, match=r"shard .*shard-000000.tar.gz is cut short or damaged"):
        load_dataset(f"wds:{packed}")


@pytest.mark.parametrize("content", [b"", b"just some text, not an archive\n" * 40, gzip.compress(b"not a tar" * 99)],
                         ids=["empty", "text", "gzip of text"])
def test_a_file_that_is_not_a_tar_is_one_line_naming_it(tmp_path, capsys, content):
    path = tmp_path / "notes.tar"
    path.write_bytes(content)
    line = cli_error(capsys, "features", "--dataset", f"wds:{path}", "--quiet")
    assert f"shard {path} is not a tar archive" in line


# --- COCO captions -----------------------------------------------------------------------------------------------
def _coco_doc(tmp_path, doc):
    path = tmp_path / "captions_val2017.json"
    path.write_text(json.dumps(doc))
    return f"coco:{path}:{tmp_path / 'val2017'}"


def test_two_coco_images_with_one_id_are_refused_naming_both(tmp_path):
    doc = json.loads(_coco(tmp_path).read_text())
    doc["images"][5]["id"] = doc["images"][2]["id"]  # 000000000005.png would take the captions of ...02.png
    with pytest.raises(DataFormatError, match=r"captions_val2017.json: images\[2\] \(000000000002.png\) and "
                                              r"images\[5\] \(000000000005.png\) share the id 12"):
        load_dataset(_coco_doc(tmp_path, doc))


@pytest.mark.parametrize("edit, named", [
    (lambda d: d["images"][3].update(id=[13]), r"images\[3\] \(000000000003.png\): id \[13\] is not an integer"),
    (lambda d: d["images"][0].update(id={"n": 10}), r"images\[0\] \(000000000000.png\): id \{\"n\": 10\} is not"),
    (lambda d: d["images"][1].update(id=None), r"images\[1\] \(000000000001.png\): id null is not"),
    (lambda d: d["images"][1].update(id=True), r"images\[1\] \(000000000001.png\): id true is not"),
    (lambda d: d["annotations"][4].update(image_id=[14]), r"annotations\[4\]: image_id \[14\] is not an integer"),
    (lambda d: d["annotations"][6].update(image_id={"id": 16}), r"annotations\[6\]: image_id \{\"id\": 16\} is not"),
    (lambda d: d["annotations"][7].update(id=[507]), r"annotations\[7\]: id \[507\] is not an integer"),
], ids=["list", "object", "null", "bool", "image_id list", "image_id object", "annotation id list"])
def test_coco_ids_that_are_not_ids_are_one_line_naming_the_entry(tmp_path, capsys, edit, named):
    doc = json.loads(_coco(tmp_path).read_text())
    edit(doc)
    line = cli_error(capsys, "features", "--dataset", _coco_doc(tmp_path, doc), "--quiet")
    assert re.search(named, line), line


def test_coco_string_ids_beside_integer_ids_are_read(tmp_path):
    doc = json.loads(_coco(tmp_path).read_text())
    doc["images"][1]["id"] = "b"
    doc["images"][0]["id"] = "a"
    for ann in doc["annotations"]:
        ann["image_id"] = {10: "a", 11: "b"}.get(ann["image_id"], ann["image_id"])
    pairs = load_dataset(_coco_doc(tmp_path, doc))
    assert pairs.image_ids[:6] == ["coco:12", "coco:13", "coco:14", "coco:15", "coco:16", "coco:17"]
    assert pairs.image_ids[6:] == ["coco:a", "coco:b"] and pairs.n_captions == 16
    assert pairs.captions[pairs.txt_to_img.tolist().index(6)] == "coco caption 0"  # image 'a' keeps its captions
    assert pairs.images.read(6)[0, 0].tolist() == list(COLOURS[0])


# --- symbolic link loops -----------------------------------------------------------------------------------------
def _loop(path):
    """``path`` made a symbolic link to itself."""
    path.unlink(missing_ok=True)
    os.symlink(path.name, path)
    return path


def _loop_in_folder(tmp_path):
    _folder(tmp_path, b"a.png\tfirst\nb.png\tsecond\n")
    _loop(tmp_path / "b.png")
    return str(tmp_path), r"captions.tsv:2: image .*b.png is a symbolic link loop"


def _loop_in_karpathy(tmp_path):
    path = _karpathy(tmp_path)
    _loop(tmp_path / "coco/val2014/img3.png")
    return f"karpathy:{path}:{tmp_path / 'coco'}", r"dataset_coco.json: images\[3\] \(img3.png\): image .*img3.png " \
                                                  r"is a symbolic link loop"


def _loop_in_coco(tmp_path):
    path = _coco(tmp_path)
    _loop(tmp_path / "val2017/000000000004.png")
    return f"coco:{path}:{tmp_path / 'val2017'}", r"captions_val2017.json: image 14 \(000000000004.png\): image " \
                                                 r".*000000000004.png is a symbolic link loop"


def _loop_in_a_folder_on_the_path(tmp_path):
    _folder(tmp_path, b"a.png\tfirst\nsub/b.png\tsecond\n")
    _loop(tmp_path / "sub")
    return str(tmp_path), r"captions.tsv:2: image .*sub/b.png is a symbolic link loop"


def _loop_in_csv(tmp_path):
    _folder(tmp_path, b"")
    (tmp_path / "train.tsv").write_text("filepath\ttitle\na.png\tred\nb.png\tgreen\n")
    _loop(tmp_path / "a.png")
    return f"csv:{tmp_path / 'train.tsv'}", r"train.tsv:2: image .*a.png is a symbolic link loop"


@pytest.mark.parametrize("make", [_loop_in_folder, _loop_in_karpathy, _loop_in_coco, _loop_in_a_folder_on_the_path,
                                  _loop_in_csv], ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("outside", [False, True], ids=["inside only", "--allow-outside-paths"])
def test_an_image_that_is_a_symbolic_link_loop_is_one_line_naming_the_row(tmp_path, capsys, make, outside):
    spec, named = make(tmp_path)
    line = cli_error(capsys, "features", "--dataset", spec, "--quiet", *(["--allow-outside-paths"] if outside else []))
    assert re.search(named, line), line


# --- precomputed features ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, named", [
    (b"[]", r"meta.json: expected a JSON object .* got \[\]"),
    (b'"clip"', r"meta.json: expected a JSON object .* got \"clip\""),
    (b"null", r"meta.json: expected a JSON object .* got null"),
    (b'{"image_model": ["clip"]}', r"meta.json: image_model must be a non-empty string, got \[\"clip\"\]"),
    (b'{"image_model": "clip", "text_model": ""}', r"meta.json: text_model must be a non-empty string"),
    ('{"image_model": "clip-ç"}'.encode("latin-1"), r"meta.json: not UTF-8 text"),
    (b'{"image_model": ', r"meta.json:1:\d+: not valid JSON"),
], ids=["list", "string", "null", "list model", "empty model", "latin-1", "cut short"])
def test_a_meta_json_that_is_not_an_object_of_names_is_one_line_naming_it(tmp_path, rng, capsys, content, named):
    folder = _features_dir(tmp_path, rng)
    (folder / "val/meta.json").write_bytes(content)
    line = cli_error(capsys, "features", "--dataset", f"features:{folder}", "--quiet")
    assert re.search(r"feats/val/" + named, line), line


def test_a_utf8_meta_json_names_the_encoders(tmp_path, rng):
    folder = _features_dir(tmp_path, rng)
    (folder / "test/meta.json").write_text('{"image_model": "clip-ç", "text_model": "t"}', encoding="utf-8")
    assert load_splits(f"features:{folder}")["test"].features.image_model == "clip-ç"


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_images_without_captions_are_refused_at_load_naming_file_and_split(tmp_path, rng, capsys, split):
    folder = _features_dir(tmp_path, rng)
    n = np.load(folder / split / "image.npy").shape[0]
    t2i = np.repeat(np.arange(n), 2)
    t2i[t2i == 1] = 0  # image 1 loses its two captions to image 0
    np.save(folder / split / "txt_to_img.npy", t2i)
    line = cli_error(capsys, "features", "--dataset", f"features:{folder}", "--quiet")
    assert f"{folder / split / 'txt_to_img.npy'}: 1 of the {n} images of split '{split}' have no caption" in line


def test_split_all_on_features_says_what_the_form_lacks_and_one_split_loads(tmp_path, rng, capsys):
    folder = _features_dir(tmp_path, rng)
    line = cli_error(capsys, "features", "--dataset", f"features:{folder}", "--split", "all", "--quiet")
    assert f"dataset 'features:{folder}' holds only precomputed features" in line and "--split all" in line
    assert "'+'" not in line
    assert main(["features", "--dataset", f"features:{folder}", "--split", "val", "--quiet", "--cache-dir",
                 str(tmp_path / "cache")]) == 0
    assert "val: 3 images, 6 captions" in capsys.readouterr().out


# --- settings that cannot be honoured ----------------------------------------------------------------------------
def _dataset_args(*argv: str) -> DatasetOptions:
    """The `DatasetOptions` the command line builds from ``argv`` (its own parser and handoff)."""
    return dataset_options_from_args(add_dataset_arguments(argparse.ArgumentParser()).parse_args(list(argv)))


@pytest.mark.parametrize("typed, named", [
    ("\\", r"--csv-separator '\\\\': \\ at end of string .*write \\\\ for a backslash"),
    ("a\\x4", r"--csv-separator 'a\\\\x4': truncated \\xXX escape"),
    ("\\n", r"--csv-separator '\\n' holds a line break"),
    ("x\\r", r"--csv-separator 'x\\r' holds a line break"),
    ("((", r"--csv-separator '\(\(': a separator of several characters is a regular expression, and this one is not "
           r"valid"),
    ("", r"--csv-separator must be a non-empty string"),
], ids=["lone backslash", "bad escape", "newline", "carriage return", "bad regex", "empty"])
def test_a_csv_separator_the_reader_cannot_use_is_one_line_naming_the_option(tmp_path, capsys, typed, named):
    _folder(tmp_path, b"")
    (tmp_path / "t.csv").write_text("filepath,title\na.png,red\n")
    line = cli_error(capsys, "features", "--dataset", f"csv:{tmp_path / 't.csv'}", "--csv-separator", typed, "--quiet")
    assert re.search(named, line), line


@pytest.mark.parametrize("typed, separator", [("\\\\", "\\"), ("é", "é"), ("\\t", "\t"), ("::", "::"), (";", ";")])
def test_a_csv_separator_the_reader_can_use_splits_the_table(tmp_path, typed, separator):
    _folder(tmp_path, b"")
    (tmp_path / "t.csv").write_text(f"filepath{separator}title\na.png{separator}red one\nb.png{separator}green\n",
                                    encoding="utf-8")
    options = _dataset_args("--csv-separator", typed, "--csv-img-key", "filepath")
    assert options.csv_separator == separator
    pairs = load_dataset(f"csv:{tmp_path / 't.csv'}", options=options)
    assert pairs.captions == ["red one", "green"] and pairs.images.read(1)[0, 0].tolist() == list(COLOURS[1])


def test_a_csv_separator_with_a_line_break_is_refused_by_the_library_too():
    with pytest.raises(ConfigError, match=r"csv_separator '\\n' holds a line break"):
        DatasetOptions(csv_separator="\n")


@pytest.mark.parametrize("spec, named", [
    ("{base}+", r"part 2 of 2, after the last '\+', is empty"),
    ("+{base}", r"part 1 of 2, before the first '\+', is empty"),
    ("{base}++{base}", r"part 2 of 3, between '\+' 1 and 2, is empty"),
    ("{base}@train+ +{base}@test", r"part 2 of 3, between '\+' 1 and 2, is empty"),
    ("{base}+@test", r"part 2 of 2, after the last '\+', \('@test'\) names a split but no dataset"),
], ids=["trailing", "leading", "double", "blank", "split only"])
def test_an_empty_part_of_a_joined_spec_is_one_line_naming_it_and_the_spec(tmp_path, capsys, spec, named):
    spec = spec.format(base=_folder(tmp_path, b"a.png\tfirst\nb.png\tsecond\n"))
    line = cli_error(capsys, "features", "--dataset", spec, "--quiet")
    assert f"dataset {spec.strip()!r}: " in line and re.search(named, line), line


def _numbered_folder(tmp_path, n):
    """A folder dataset of ``n`` images, one caption each."""
    for k in range(n):
        _png(tmp_path / f"{k}.png", COLOURS[k % len(COLOURS)], size=(4, 4))
    (tmp_path / "captions.tsv").write_text("".join(f"{k}.png\tpicture {k}\n" for k in range(n)))
    return str(tmp_path)


def test_fractions_that_leave_no_training_image_are_one_line_naming_them(tmp_path, capsys):
    folder = _numbered_folder(tmp_path, 2)
    line = cli_error(capsys, "features", "--dataset", folder, "--quiet")
    assert f"dataset {folder!r} has 2 images: val_fraction 0.1 takes 1 and test_fraction 0.1 takes 1, which " \
           "leaves none for train" in line
    line = cli_error(capsys, "features", "--dataset", folder, "--val-fraction", "0", "--quiet")
    assert f"dataset {folder!r} has no ['val'] split (val_fraction 0.0, test_fraction 0.1)" in line


def test_carving_val_from_a_one_image_train_part_is_one_line_naming_it(tmp_path, capsys):
    train = _numbered_folder(tmp_path / "a", 1)
    test = _numbered_folder(tmp_path / "b", 12)
    spec = f"{train}@train+{test}@test"
    line = cli_error(capsys, "features", "--dataset", spec, "--quiet")
    assert f"dataset {spec!r}: its train split has 1 image: val_fraction 0.1 takes 1, which leaves none" in line


def test_fractions_whose_whole_families_leave_no_training_image_are_refused_naming_them():
    family = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2])  # two families of four near-duplicates, one singleton
    refused = 0
    for seed in range(8):
        oracle = family_split(family, 3, 3, seed=seed)  # the split that fractions of 0.3 ask for: 3 and 3 items
        if oracle["train"].size:
            assert all((fraction_split(family, 0.3, 0.3, seed=seed)[s] == oracle[s]).all() for s in oracle)
        else:
            refused += 1
            with pytest.raises(ConfigError, match=r"the dataset has 9 images in 3 families: val_fraction 0.3 takes 3 "
                                                  r"and test_fraction 0.3 takes 3, and as families are kept whole"):
                fraction_split(family, 0.3, 0.3, seed=seed)
    assert 0 < refused < 8


def test_val_and_test_too_small_for_recall_at_10_are_named_with_their_size_and_fractions(tmp_path):
    folder = _numbered_folder(tmp_path, 30)
    with pytest.warns(SmallSplitWarning) as caught:
        splits = load_splits(folder)
    assert {s: p.n_images for s, p in splits.items()} == {"train": 24, "val": 3, "test": 3}  # round(0.1 * 30)
    assert sorted(str(w.message) for w in caught) == [
        f"dataset {folder!r}: its {s} split holds 3 images (val_fraction 0.1, test_fraction 0.1), fewer than the 10 "
        f"that R@10 ranks, so evaluating it fails; raise {s}_fraction (--{s}-fraction) or add images"
        for s in ("test", "val")]
    with pytest.raises(ConfigError, match=r"ks contains 10 but the gallery has only 3 items \(3 images, 3 captions\)"):
        recall_at_k(np.eye(3), np.eye(3), [0, 1, 2])  # what evaluating the val split then meets


def test_normal_sizes_split_as_before_without_a_warning(tmp_path):
    folder = _numbered_folder(tmp_path, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = load_splits(folder)
    assert {s: p.n_images for s, p in splits.items()} == {"train": 80, "val": 10, "test": 10}
    assert sorted(i for p in splits.values() for i in p.image_ids) == sorted(f"{k}.png" for k in range(100))


# --- recall_at_k -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, named", [
    (dict(img_emb=np.array([["a", "b"], ["c", "d"], ["e", "f"]])), r"img_emb must hold real numbers; got strings"),
    (dict(txt_emb=[["0.1", "1"], ["1", "0"], ["1", "1"]]), r"txt_emb must hold real numbers; got strings"),
    (dict(txt_to_img=np.array(["0", "1", "2"])), r"txt_to_img must hold real numbers; got strings"),
    (dict(txt_to_img=[b"0", b"1", b"2"]), r"txt_to_img must hold real numbers; got bytes"),
    (dict(img_emb=np.array([[1, None], [0, 1], [1, 1]], dtype=object)), r"img_emb must hold real numbers; got Python"),
    (dict(txt_emb=np.eye(3, 2) * 1j), r"txt_emb must hold real numbers; got complex numbers"),
    (dict(img_emb=[[1.0, 0.0], [0.0], [1.0, 1.0]]), r"img_emb must be an array of real numbers; got a ragged list"),
    (dict(txt_to_img=[0.0, 1.0, 2.0]), r"txt_to_img must hold integer image indices; got dtype float64"),
], ids=["img strings", "txt string lists", "t2i strings", "t2i bytes", "objects", "complex", "ragged", "t2i floats"])
def test_recall_at_k_refuses_arrays_of_no_real_numbers_naming_the_argument(change, named):
    args = dict(img_emb=np.eye(3, 2) + 0.5, txt_emb=np.eye(3, 2) + 0.5, txt_to_img=[0, 1, 2], ks=(1,))
    assert recall_at_k(**args)["rsum"] > 0
    args.update(change)
    with pytest.raises(ConfigError, match=named):
        recall_at_k(**args)


def test_eval_of_a_run_folder_holding_strings_is_one_line_naming_the_array(tmp_path, rng, capsys):
    folder = _features_dir(tmp_path, rng)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"dataset": f"features:{folder}"}))
    np.save(run / "img_emb.npy", np.full((4, 3), "0.5"))  # a numpy array of strings: np.load reads it unpickled
    np.save(run / "txt_emb.npy", np.ones((8, 3), np.float32))
    line = cli_error(capsys, "eval", str(run))
    assert "img_emb must hold real numbers; got strings (dtype <U3)" in line
