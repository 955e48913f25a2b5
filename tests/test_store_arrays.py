"""The arrays kind of the store (`vlr_viz.store.arrays`): content keys, sidecar checksums, damaged entries recomputed."""
import numpy as np
import pytest

from vlr_viz.keys import content_hash
from vlr_viz.store.arrays import CorruptCacheWarning, cached_array, load_array, save_array


def test_hit_and_invalidation(tmp_path):
    calls = []

    def compute(x):
        calls.append(x)
        return np.full(3, x, np.float32)

    a, hit = cached_array(tmp_path, "f", content_hash("x", 1), lambda: compute(1))
    b, hit2 = cached_array(tmp_path, "f", content_hash("x", 1), lambda: compute(1))
    c, hit3 = cached_array(tmp_path, "f", content_hash("x", 2), lambda: compute(2))
    assert (hit, hit2, hit3) == (False, True, False) and calls == [1, 2]
    assert (a == b).all() and c[0] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_content_hash_sees_array_bytes_and_order():
    x = np.arange(6, dtype=np.uint8)
    y = x.copy()
    y[5] = 0
    assert content_hash(x) != content_hash(y)
    assert content_hash(["a", "b"]) != content_hash(["b", "a"]) != content_hash(["ab"])
    assert content_hash(x.astype(np.int16)) != content_hash(x)


def test_corrupt_entry_is_detected_and_recomputed(tmp_path):
    key = content_hash("k")
    cached_array(tmp_path, "f", key, lambda: np.arange(100, dtype=np.float32))
    path = tmp_path / f"f-{key}.npy"
    raw = bytearray(path.read_bytes())
    raw[-8:] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt"):
        load_array(path)
    with pytest.warns(CorruptCacheWarning, match=str(path.name)):
        arr, hit = cached_array(tmp_path, "f", key, lambda: np.arange(100, dtype=np.float32))
    assert not hit and (arr == np.arange(100)).all() and (load_array(path) == arr).all()


def test_truncated_entry_is_detected(tmp_path):
    save_array(tmp_path / "a.npy", np.ones((4, 4)))
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:40])
    with pytest.raises(ValueError, match="corrupt"):
        load_array(tmp_path / "a.npy")


def test_no_pickle(tmp_path):
    with pytest.raises(ValueError):
        save_array(tmp_path / "o.npy", np.array([object()], dtype=object))
