import numpy as np
import pytest
from PIL import Image

from vlr_viz.encoders import encode_images, encode_texts, get_encoder

from tiny_models import save_tiny_hf_clip, save_tiny_open_clip


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_minilm_is_the_pretrained_sentence_model():
    f = encode_texts(["cat", "kitten", "car", "automobile"], cache_dir=None, progress=False)
    assert f.shape == (4, 384) and f.dtype == np.float32
    assert _cos(f[0], f[1]) > _cos(f[0], f[2]) + 0.2
    assert _cos(f[2], f[3]) > _cos(f[2], f[1]) + 0.2


def test_efficientnet_lite0_classifies_real_photos():
    import skimage.data

    enc = get_encoder("efficientnet-lite0", image_size=224)
    photos = np.stack([np.asarray(Image.fromarray(getattr(skimage.data, n)()).resize((224, 224)))
                       for n in ("chelsea", "coffee")])
    top = enc.classify(photos).argmax(1)
    assert 281 <= top[0] <= 285  # an ImageNet cat class (tabby .. Egyptian cat)
    assert top[1] in (967, 968)  # espresso / cup
    feats = encode_images(photos[:1], model="efficientnet-lite0", cache_dir=None, progress=False)
    assert feats.shape == (1, 1280) and (feats >= -1).all()


def test_feature_cache_hit_skips_the_model(tmp_path, monkeypatch):
    caps = ["red apple", "green pear"]
    first = encode_texts(caps, cache_dir=tmp_path, progress=False)
    enc = get_encoder("minilm-l6")
    monkeypatch.setattr(enc, "_texts", lambda batch: (_ for _ in ()).throw(AssertionError("model was called")))
    assert np.array_equal(encode_texts(caps, cache_dir=tmp_path, progress=False), first)
    with pytest.raises(AssertionError, match="model was called"):
        encode_texts(caps + ["plum"], cache_dir=tmp_path, progress=False)  # changed input: recomputed


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown encoder 'resnet9'.*efficientnet-lite0.*minilm-l6"):
        get_encoder("resnet9")
    with pytest.raises(ValueError, match="caption 1 is empty"):
        encode_texts(["ok", ""], cache_dir=None)
    with pytest.raises(ValueError, match="uint8"):
        encode_images(np.zeros((2, 8, 8, 3), np.float32), cache_dir=None)
    with pytest.raises(ValueError, match="does not exist"):
        get_encoder("efficientnet-lite0", weights_path="/nonexistent/weights.pth")


def test_efficientnet_checkpoint_of_another_architecture_is_refused():
    from vlr_viz.encoders.efficientnet import weights_file

    enc = get_encoder("efficientnet-lite0", weights_path=weights_file("efficientnet-lite2"))
    with pytest.raises(ValueError, match="does not match the efficientnet-lite0 architecture"):
        enc.encode_images(np.zeros((1, 8, 8, 3), np.uint8), progress=False)


def test_open_clip_round_trip(tmp_path, rng):
    import open_clip
    import torch

    cfg, ckpt = save_tiny_open_clip(tmp_path)
    enc = get_encoder("open_clip:vlr-tiny-clip", checkpoint=str(ckpt), model_config=str(cfg))
    images = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    img, txt = enc.encode_images(images, progress=False), enc.encode_texts(["a cat", "a dog"], progress=False)
    assert img.shape == (3, 16) and txt.shape == (2, 16)
    reference = open_clip.create_model("vlr-tiny-clip", pretrained=str(ckpt), pretrained_text=False).eval()
    with torch.no_grad():
        expected = reference.encode_text(open_clip.get_tokenizer("vlr-tiny-clip")(["a cat", "a dog"])).numpy()
    np.testing.assert_allclose(txt, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs checkpoint"):
        get_encoder("open_clip:vlr-tiny-clip")
    with pytest.raises(ValueError, match="does not exist"):
        get_encoder("open_clip:vlr-tiny-clip", checkpoint=str(tmp_path / "nope.pt"))


def test_open_clip_checkpoint_mismatch(tmp_path):
    _, ckpt_wide = save_tiny_open_clip(tmp_path, arch="vlr-tiny-wide", width=64)
    save_tiny_open_clip(tmp_path, arch="vlr-tiny-clip")
    with pytest.raises(ValueError, match="does not match open_clip architecture vlr-tiny-clip"):
        get_encoder("open_clip:vlr-tiny-clip", checkpoint=str(ckpt_wide))


def test_transformers_clip_round_trip(tmp_path, rng):
    import torch
    from transformers import CLIPModel

    folder = save_tiny_hf_clip(tmp_path / "tiny-clip")
    enc = get_encoder(f"hf-clip:{folder}")
    images = rng.integers(0, 256, (2, 72, 72, 3), dtype=np.uint8)
    img = encode_images(images, model=f"hf-clip:{folder}", cache_dir=tmp_path / "cache", progress=False)
    txt = enc.encode_texts(["a cat", "two dogs"], progress=False)
    assert img.shape == (2, 16) and txt.shape == (2, 16)
    model = CLIPModel.from_pretrained(folder).eval()
    with torch.no_grad():
        pix = enc.processor(images=list(images), return_tensors="pt")["pixel_values"]
        out = model.get_image_features(pixel_values=pix)
        out = out if isinstance(out, torch.Tensor) else out.pooler_output
    np.testing.assert_allclose(img, out.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not exist"):
        get_encoder(f"hf-clip:{tmp_path / 'missing'}")
