"""Lazy images decode the same pixels and give the same features as the in-memory path; an extraction killed
half-way resumes to the arrays of an uninterrupted run and never leaves an entry that reads as complete."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vlr_viz.data import FileImages, load_twemoji
from vlr_viz.data.twemoji import _png_folder, twemoji_index
from vlr_viz.encoders import encode_images
from vlr_viz.imbalance import degrade_images
from vlr_viz.imbalance.degrade_image import DegradedImages
from vlr_viz.store.array_rows import cached_rows
from vlr_viz.store.arrays import array_cache, load_array


@pytest.fixture(scope="module")
def twemoji_files():
    """The first 24 Twemoji glyphs twice: as PNG files on disk (lazy) and as the decoded in-memory array."""
    stems = [r[1] for r in twemoji_index()[:24]]
    return FileImages(_png_folder(), [f"{s}.png" for s in stems]), load_twemoji(cache=array_cache()).images[:24]


def test_lazy_files_decode_the_same_pixels_and_features(twemoji_files):
    files, array = twemoji_files
    np.testing.assert_array_equal(files.to_array(), array)
    eager = encode_images(array, cache_dir=None, progress=False, batch_size=8)
    lazy = encode_images(files, cache_dir=None, progress=False, batch_size=8, workers=0)
    in_worker = encode_images(files, cache_dir=None, progress=False, batch_size=8, workers=2)
    np.testing.assert_array_equal(lazy, eager)
    np.testing.assert_array_equal(in_worker, eager)


def test_degraded_source_equals_degrading_the_array(twemoji_files):
    files, array = twemoji_files
    keys = [f"k{i}" for i in range(len(array))]
    lazy = DegradedImages(files, "occlusion", 0.5, seed=3, item_keys=keys)
    np.testing.assert_array_equal(lazy.to_array(), degrade_images(array, "occlusion", 0.5, seed=3, item_keys=keys))
    np.testing.assert_array_equal(lazy.subset([5, 2]).to_array(),
                                  degrade_images(array, "occlusion", 0.5, seed=3, item_keys=keys)[[5, 2]])


def test_a_bad_image_file_is_named_even_from_a_worker(tmp_path, twemoji_files):
    files, _ = twemoji_files
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    for name in files.paths[:3]:
        (tmp_path / name).write_bytes((files.root / name).read_bytes())
    source = FileImages(tmp_path, files.paths[:3] + ["broken.png"])
    with pytest.raises(ValueError, match=r"^cannot read image .*broken.png"):
        encode_images(source, cache_dir=None, progress=False, workers=1)
    with pytest.raises(ValueError, match=r"image .*missing.png does not exist"):
        encode_images(FileImages(tmp_path, ["missing.png"]), cache_dir=None, progress=False)


def test_interrupted_extraction_resumes_to_the_uninterrupted_features(tmp_path, twemoji_files, monkeypatch):
    import vlr_viz.encoders as encoders
    from vlr_viz.encoders.base import Encoder

    files, _ = twemoji_files
    reference = encode_images(files, cache_dir=None, progress=False, batch_size=4)
    monkeypatch.setattr(encoders, "COMMIT_ROWS", 8)
    real = Encoder.image_batches
    seen_starts = []

    def interrupted(self, images, start=0, batch_size=64, workers=0):
        seen_starts.append(start)
        for n, batch in enumerate(real(self, images, start, batch_size, workers)):
            if len(seen_starts) == 1 and n == 3:  # the first run dies after 3 batches (12 rows, 8 committed)
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(Encoder, "image_batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        encode_images(files, cache_dir=tmp_path, progress=False, batch_size=4)
    assert not list(tmp_path.glob("img-*.npy")), "an interrupted extraction must not leave a complete-looking entry"
    progress = json.loads(next(tmp_path.glob("*.progress.json")).read_text())
    assert progress["rows_done"] == 8
    resumed = encode_images(files, cache_dir=tmp_path, progress=False, batch_size=4)
    assert seen_starts == [0, 8]
    np.testing.assert_array_equal(resumed, reference)
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.progress.json"))


KILLED_FILL = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    from vlr_viz.store.array_rows import cached_rows

    def blocks(start):
        for lo in range(start, 100, 10):
            if lo == 40:  # rows 0-39 committed: die without any cleanup
                os.kill(os.getpid(), signal.SIGKILL)
            yield np.arange(lo, lo + 10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)

    cached_rows(sys.argv[1], "rows", "k1", 100, (3,), blocks, commit_rows=10)
""")


def test_a_killed_process_resumes_from_its_last_commit(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", KILLED_FILL, str(tmp_path)], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    entry = tmp_path / "rows-k1.npy"
    assert not entry.exists() and (tmp_path / "rows-k1.npy.partial").exists()
    with pytest.raises(ValueError):
        load_array(entry)
    starts = []

    def blocks(start):
        starts.append(start)
        for lo in range(start, 100, 10):
            yield np.arange(lo, lo + 10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)

    array, hit = cached_rows(tmp_path, "rows", "k1", 100, (3,), blocks, commit_rows=10)
    assert starts == [40] and not hit
    np.testing.assert_array_equal(array, np.arange(100, dtype=np.float32)[:, None] * np.ones((1, 3)))
    again, hit = cached_rows(tmp_path, "rows", "k1", 100, (3,), blocks, commit_rows=10)
    assert hit and starts == [40]


def test_a_resume_with_other_settings_starts_over(tmp_path):
    def blocks(start, scale=1.0):
        for lo in range(start, 20, 5):
            yield np.full((5, 2), scale * lo, np.float32)

    def dying(start):
        for n, block in enumerate(blocks(start)):
            if n == 2:
                raise KeyboardInterrupt
            yield block

    with pytest.raises(KeyboardInterrupt):
        cached_rows(tmp_path, "rows", "k", 20, (2,), dying, commit_rows=5, resume_token="batch5")
    starts = []
    array, _ = cached_rows(tmp_path, "rows", "k", 20, (2,), lambda s: (starts.append(s), blocks(s, 2.0))[1],
                           commit_rows=5, resume_token="batch10")
    assert starts == [0] and array[:, 0].tolist() == [2.0 * (i // 5 * 5) for i in range(20)]
