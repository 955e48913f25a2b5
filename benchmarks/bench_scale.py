"""The COCO shape on this machine: time and peak memory of every step of training and evaluation.

SYNTHETIC DATA, FOR TIMING ONLY: 113,287 training images and 5,000 test images with 5 captions each (the Karpathy
COCO split), 512-d image and caption features drawn from a shared 64-d latent model (so training has something to
learn), and captions of 8-15 words drawn from a Zipf vocabulary of 10,000 words (so ROUGE-L has the overlap
structure of real captions: most pairs share a frequent word). No number printed here describes COCO itself.

Printed per step: seconds and peak resident memory of the process tree. Goals: ≤ 6 GB throughout; cross-modal and
single-modal evaluation of the 5k test split ≤ 30 s given the relevance; ROUGE-L relevance of 25k captions ≤ 10 min,
identical to ``rouge-score`` (checked on a sample of pairs here).

    python benchmarks/bench_scale.py [--train-images 113287] [--steps 200] [--threads N]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from vlr_viz.resources import measure

ROWS: list[tuple] = []


def report(name: str, usage, note: str = "") -> None:
    ROWS.append((name, usage.seconds, usage.peak_rss_gb, note))
    print(f"{name:44s} {usage.seconds:9.2f} s   peak RSS {usage.peak_rss_gb:5.2f} GB   "
          f"PSS {usage.peak_pss_gb:5.2f} GB   {note}", flush=True)


def synthetic_split(rng, n_images: int, captions_per_image: int, dim: int, mix):
    """Image and caption features of a shared latent (timing fixture, not data)."""
    z = rng.standard_normal((n_images, mix[0].shape[0]), dtype=np.float32)
    t2i = np.repeat(np.arange(n_images), captions_per_image)
    image = z @ mix[0] + 0.5 * rng.standard_normal((n_images, dim), dtype=np.float32)
    text = z[t2i] @ mix[1] + 0.5 * rng.standard_normal((t2i.size, dim), dtype=np.float32)
    return image, text, t2i


def zipf_captions(rng, n: int, vocab: int = 10000) -> list[str]:
    words = np.array([f"w{i}" for i in range(vocab)])
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    lengths = rng.integers(8, 16, n)
    flat = rng.choice(vocab, int(lengths.sum()), p=p)
    cuts = np.cumsum(lengths)[:-1]
    return [" ".join(words[c]) for c in np.split(flat, cuts)]


def train_steps(recipe: str, train, steps: int, batch: int) -> float:
    """Median seconds of one training step of ``recipe`` (stage 2) on the full training arrays."""
    import time

    from vlr_viz.losses import weighted_sum
    from vlr_viz.train import recipe_config
    from vlr_viz.train.model import RetrievalModel, build_mlp_encoder
    from vlr_viz.train.trainer import _optimizer, batch_terms, stage_weights

    cfg = recipe_config(recipe, batch_size=batch, device="cpu")
    model = RetrievalModel(build_mlp_encoder(cfg, train.image.shape[1], train.text.shape[1]), cfg.embed_dim,
                           train.teacher_image.shape[1], train.teacher_text.shape[1], cfg)
    opt, weights = _optimizer(model, cfg), stage_weights(cfg, 2)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        idx = torch.randint(0, train.n_captions, (batch,), generator=gen)
        t0 = time.perf_counter()
        total, _ = weighted_sum(batch_terms(model, train, idx, cfg, stage=2), weights)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[5:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-images", type=int, default=113287)
    ap.add_argument("--test-images", type=int, default=5000)
    ap.add_argument("--captions-per-image", type=int, default=5)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--steps", type=int, default=200, help="training steps timed per recipe")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rouge-check-pairs", type=int, default=2000)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"SYNTHETIC features and captions (timing only): {args.train_images} + {args.test_images} images x "
          f"{args.captions_per_image} captions, {args.dim}-d; torch threads {torch.get_num_threads()}\n")
    rng = np.random.default_rng(0)
    mix = (rng.standard_normal((64, args.dim), dtype=np.float32), rng.standard_normal((64, args.dim), dtype=np.float32))

    from vlr_viz.train import PairFeatures

    with measure() as u:
        tr_img, tr_txt, tr_t2i = synthetic_split(rng, args.train_images, args.captions_per_image, args.dim, mix)
        te_img, te_txt, te_t2i = synthetic_split(rng, args.test_images, args.captions_per_image, args.dim, mix)
        train = PairFeatures(tr_img, tr_txt, tr_t2i)
        test = PairFeatures(te_img, te_txt, te_t2i)
    report("features in memory", u, f"{train.n_captions} training captions")
    steps_per_epoch = train.n_captions // args.batch
    for recipe in ("baseline", "sad-kl"):
        with measure() as u:
            step = train_steps(recipe, train, args.steps, args.batch)
        report(f"train {recipe}: {args.steps} steps", u, f"{1000 * step:.1f} ms/step -> {step * steps_per_epoch:.0f} s "
               f"per epoch ({steps_per_epoch} steps, extrapolated)")
    from vlr_viz.train import recipe_config
    from vlr_viz.train.model import RetrievalModel, build_mlp_encoder
    from vlr_viz.train.trainer import relation_snapshot, select_probe, validate

    cfg = recipe_config("sad-kl", device="cpu")
    model = RetrievalModel(build_mlp_encoder(cfg, args.dim, args.dim), cfg.embed_dim, args.dim, args.dim, cfg)
    with measure() as u:
        validate(model, test)
    report("validation pass (encode + recall, 5k)", u)
    probe = select_probe(te_t2i, None, cfg.n_probe)
    with measure() as u:
        relation_snapshot(model, test, probe, cfg)
    report(f"relation snapshot ({probe.size} probe pairs)", u)

    from vlr_viz.eval import recall_at_k
    from vlr_viz.train import encode

    img, txt = encode(model, test.image, test.text)
    with measure() as u:
        recall_at_k(img, txt, te_t2i, return_ranks=False)
    report(f"recall_at_k {args.test_images} x {te_t2i.size}", u)

    from vlr_viz.eval.relevance import rouge_to_images

    captions = zipf_captions(rng, te_t2i.size)
    with measure() as u:
        rel = rouge_to_images(captions, captions, te_t2i, args.test_images)
    report(f"ROUGE-L relevance {te_t2i.size} captions", u, f"{te_t2i.size ** 2 / 1e6:.0f}M caption pairs")
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    c, j = rng.integers(0, te_t2i.size, args.rouge_check_pairs), rng.integers(0, args.test_images, args.rouge_check_pairs)
    own = [np.flatnonzero(te_t2i == i) for i in j]
    expected = np.array([max(scorer.score(captions[a], captions[b])["rougeL"].fmeasure for b in o)
                         for a, o in zip(c, own)], np.float32)
    print(f"  ROUGE-L equals rouge-score on {len(c)} sampled (caption, image) pairs: "
          f"{bool(np.array_equal(rel[c, j], expected))}")

    from vlr_viz.data import PairSet
    from vlr_viz.eval import single_modal_retrieval

    pairs = PairSet(images=None, captions=captions, txt_to_img=te_t2i, labels=np.full(args.test_images, -1),
                    label_names=[], family=np.arange(args.test_images),
                    image_ids=[str(i) for i in range(args.test_images)],
                    caption_ids=[str(i) for i in range(te_t2i.size)], name="synthetic-coco-test",
                    features=_features(img, txt))
    with measure() as u:
        single_modal_retrieval(img, txt, pairs, rel, ks=(10,))
    report("single-modal NDCG@10 (i2i + t2t) given relevance", u)
    print(f"\npeak RSS over all steps: {max(r[2] for r in ROWS):.2f} GB (goal <= 6 GB)")


def _features(img, txt):
    from vlr_viz.data import Features

    return Features(img, txt, "synthetic", "synthetic")


if __name__ == "__main__":
    main()
