"""Small synthetic training splits and a tiny `TrainConfig` for tests of the training machinery (not data: the
arrays come from shared random latent factors so that training has something to learn)."""
import numpy as np

from vlr_viz.train import PairFeatures, TrainConfig


def synthetic(seed, n_img=48, extra=8, di=12, dt=8):
    """Images and captions from shared latent factors; ``extra`` images get a second caption."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_img, 4))
    t2i = np.concatenate([np.arange(n_img), rng.choice(n_img, extra, replace=False)])
    image = z @ rng.normal(size=(4, di)) + 0.1 * rng.normal(size=(n_img, di))
    text = z[t2i] @ rng.normal(size=(4, dt)) + 0.1 * rng.normal(size=(t2i.size, dt))
    labels = (z[:, 0] > 0).astype(np.int64) + 2 * (z[:, 1] > 0)
    return PairFeatures(image.astype(np.float32), text.astype(np.float32), t2i, labels=labels)


def tiny(**kw):
    """A config that trains in well under a second on `synthetic` splits."""
    base = dict(method="sad", epochs_stage1=1, epochs_stage2=2, batch_size=16, hidden=16, embed_dim=8, lr=3e-3,
                n_probe=12, snapshot_every=1, device="cpu")
    return TrainConfig(**{**base, **kw})
