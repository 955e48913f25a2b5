"""The scale run: all 70,000 Fashion-MNIST images through the real vision teacher, baseline and ``sad-kl`` trained on
55,000 pairs, evaluated on the 10,000 test images, and the geometry of the test points and of all 70,000 images.

``make scale`` (or ``python -m vlr_viz.experiments.fashion_mnist_scale``). Each stage is timed and its peak resident
memory measured (the process and its workers, `vlr_viz.resources.measure`); the result goes to
``OUT/fashion_mnist_scale.json`` and is printed as a table, the geometry figure to ``OUT/fashion_mnist_geometry.png``.

Fashion-MNIST's captions are class templates (`vlr_viz.data.fashion_mnist`): the text side is coarse, so every
relevance here is the class (category R@K, category mAP, category NDCG), never the instance pairing.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..resources import measure
from ..store.arrays import array_cache
from ..store.locations import default_cache_dir


def _stage(stages: dict, name: str, usage, **facts) -> None:
    stages[name] = {"seconds": round(usage.seconds, 2), "peak_rss_gb": round(usage.peak_rss_gb, 3),
                    "peak_pss_gb": round(usage.peak_pss_gb, 3), **facts}
    extra = "  ".join(f"{k} {v}" for k, v in facts.items())
    print(f"{name:28s} {usage.seconds:9.1f} s  peak RSS {usage.peak_rss_gb:5.2f} GB  PSS {usage.peak_pss_gb:5.2f} GB  "
          f"{extra}", flush=True)


def run(out_dir="reports/scale", dataset: str = "fashion-mnist", recipes=("baseline", "sad-kl"), seed: int = 0,
        epochs_stage1: int = 5, epochs_stage2: int = 5, umap_points=(10000, 70000), cache_dir=None,
        workers: int | None = None, progress: bool = True, select_metric: str = "category_map") -> dict:
    """Run every stage (module docstring); returns the summary that is also written to disk. The epoch of each run
    is selected on ``select_metric`` of the validation split (default: category mAP, since instance-level R@K is
    chance with class-template captions)."""
    from ..data import load_splits
    from ..eval.category import category_retrieval
    from ..features import load_features
    from ..imbalance import pair_strengths
    from ..train import PairFeatures, encode, fit, recipe_config
    from ..viz.geometry import procrustes_align, project_2d

    out = Path(out_dir)
    projections = default_cache_dir() if cache_dir is None else cache_dir
    stages: dict = {}
    with measure() as u:
        splits = load_splits(dataset, cache=array_cache())
    _stage(stages, "load", u, images=sum(p.n_images for p in splits.values()))
    feats = {}
    with measure() as u:
        for name, pairs in splits.items():
            f = load_features(pairs, cache_dir=cache_dir, progress=progress, workers=workers)
            feats[name] = PairFeatures.from_features(f, pairs, name=name)
    n_all = sum(p.n_images for p in splits.values())
    _stage(stages, "teacher features", u, images=n_all,
           note="cached entries are read; a first run extracts them (vlr-viz features --dataset fashion-mnist)")
    test = splits["test"]
    results, embeddings = {}, {}
    for recipe in recipes:
        config = recipe_config(recipe, seed=seed, epochs_stage1=epochs_stage1, epochs_stage2=epochs_stage2,
                               select_metric=select_metric)
        with measure() as u:
            result = fit(config, feats["train"], feats["val"], progress=progress)
        epoch_seconds = [e["seconds"] for e in result.history.epochs if "seconds" in e]
        _stage(stages, f"train {recipe}", u, train_pairs=feats["train"].n_captions, epochs=config.epochs,
               seconds_per_epoch=round(float(np.median(epoch_seconds)), 2), selected_epoch=result.best_epoch)
        with measure() as u:
            img, txt = encode(result.model, feats["test"].image, feats["test"].text)
            metrics = category_retrieval(img, txt, test.labels, test.caption_labels)
            strength = pair_strengths(test, img, txt)
            metrics.update({"i2i_ndcg@10": strength["image"]["ndcg@10"], "t2t_ndcg@10": strength["text"]["ndcg@10"]})
        _stage(stages, f"evaluate {recipe}", u, test_images=test.n_images)
        results[recipe] = {k: round(float(v), 2) for k, v in metrics.items()}
        embeddings[recipe] = (img, txt, result)
    teacher = pair_strengths(test, feats["test"].teacher_image.numpy(), feats["test"].teacher_text.numpy())
    results["teacher"] = {"i2i_ndcg@10": round(teacher["image"]["ndcg@10"], 2),
                          "t2t_ndcg@10": round(teacher["text"]["ndcg@10"], 2)}
    layouts = {}
    for recipe, (img, txt, _) in embeddings.items():
        with measure() as u:
            layouts[recipe] = project_2d(np.vstack([img, txt]), "umap", seed=seed, cache_dir=projections)
        _stage(stages, f"UMAP test {recipe}", u, points=len(img) + len(txt))
    first = list(layouts)
    for recipe in first[1:]:
        layouts[recipe] = procrustes_align(layouts[first[0]], layouts[recipe])
    model = embeddings[first[-1]][2].model
    all_images = np.vstack([encode(model, feats[s].image, None)[0] for s in ("train", "val", "test")])
    for n in umap_points:
        if n > len(all_images):
            continue
        with measure() as u:
            project_2d(all_images[:n], "umap", seed=seed, cache_dir=None)
        _stage(stages, f"UMAP {n} images", u, points=n)
    with measure() as u:
        project_2d(all_images, "pca", seed=seed, cache_dir=None)
    _stage(stages, f"PCA {len(all_images)} images", u, points=len(all_images))
    summary = {"dataset": dataset, "recipes": list(recipes), "seed": seed, "select_metric": select_metric,
               "epochs": [epochs_stage1, epochs_stage2], "stages": stages, "test_metrics": results,
               "relevance": "class (captions are class templates)", "date": time.strftime("%Y-%m-%d %H:%M")}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "fashion_mnist_scale.json", json.dumps(summary, indent=1).encode())
    _geometry_png(layouts, embeddings, test, out / "fashion_mnist_geometry.png", seed, projections)
    _print_metrics(results)
    return summary


def _geometry_png(layouts: dict, embeddings: dict, test, path: Path, seed: int, cache_dir) -> None:
    """Both models' test layouts side by side (read from the projection cache), plotly WebGL, as a PNG (kaleido,
    when a browser is there)."""
    from ..viz import common_space_figure, save_png

    names = list(layouts)
    (img_b, txt_b, _), (img_a, txt_a, _) = embeddings[names[0]], embeddings[names[-1]]
    fig = common_space_figure({"img": img_b, "txt": txt_b}, {"img": img_a, "txt": txt_a}, test.labels,
                              test.label_names, test.captions, method="umap", txt_to_img=test.txt_to_img,
                              titles=(names[0], names[-1]), seed=seed, cache_dir=cache_dir, n_thumbnails=0)
    try:
        save_png(fig, path, scale=1, width=1400, height=650)
        print(f"geometry figure            {path}")
    except RuntimeError as e:
        print(f"geometry figure skipped: {e}")


def _print_metrics(results: dict) -> None:
    keys = ["i2t_R@1", "i2t_R@10", "t2i_R@1", "t2i_R@10", "map_mean", "i2i_ndcg@10", "t2t_ndcg@10"]
    print("\ntest split, class relevance (percent)")
    print(f"{'model':10s}" + "".join(f"{k:>13s}" for k in keys))
    for name, m in results.items():
        print(f"{name:10s}" + "".join(f"{m[k]:13.2f}" if k in m else f"{'-':>13s}" for k in keys))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vlr_viz.experiments.fashion_mnist_scale", description=__doc__)
    ap.add_argument("--out", default="reports/scale")
    ap.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist or fashion-mnist:DIR")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs-stage1", type=int, default=5)
    ap.add_argument("--epochs-stage2", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    run(args.out, args.dataset, seed=args.seed, epochs_stage1=args.epochs_stage1, epochs_stage2=args.epochs_stage2,
        cache_dir=args.cache_dir, workers=args.workers, progress=not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
