import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Trained runs go to a run store of this test session only (features keep the shared cache): every session trains
# what it tests, and the user's store is left alone.
os.environ["VLR_VIZ_RUN_STORE"] = tempfile.mkdtemp(prefix="vlr-viz-test-runs-")


@pytest.fixture(scope="session")
def twemoji():
    from vlr_viz.data import load_twemoji
    from vlr_viz.store.arrays import array_cache

    return load_twemoji(cache=array_cache())


@pytest.fixture(scope="session")
def twemoji_splits():
    from vlr_viz.data import load_twemoji
    from vlr_viz.store.arrays import array_cache

    return {s: load_twemoji(s, cache=array_cache()) for s in ("train", "val", "test")}


@pytest.fixture(scope="session")
def twemoji_features(twemoji_splits):
    """Real teacher features of each split (first run encodes, later runs read the cache)."""
    from vlr_viz.features import load_features

    return {s: load_features(p, progress=False) for s, p in twemoji_splits.items()}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def float64_default():
    """Run a test with torch's default dtype set to float64 (golden values), restoring it afterwards."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
