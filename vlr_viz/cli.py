"""``vlr-viz``: the command line (features, train, eval, report)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def load_dataset(name: str, split: str | None = None):
    """A `PairSet` by name: ``twemoji`` or a folder holding ``captions.tsv``."""
    from .data import load_image_caption_folder, load_twemoji

    if name == "twemoji":
        return load_twemoji(split)
    if Path(name).is_dir():
        return load_image_caption_folder(name)
    raise SystemExit(f"unknown dataset {name!r}: use 'twemoji' or a folder with captions.tsv")


def cmd_features(args) -> int:
    from .cache import default_cache_dir
    from .features import load_features

    pairs = load_dataset(args.dataset, args.split)
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    feats = load_features(pairs, args.image_model, args.text_model, cache_dir=cache, progress=not args.quiet)
    print(f"dataset      {pairs.name}: {pairs.n_images} images, {pairs.n_captions} captions, "
          f"{len(pairs.label_names)} categories")
    print(f"image        {feats.image_model}: {feats.image.shape[0]} x {feats.image.shape[1]}")
    print(f"text         {feats.text_model}: {feats.text.shape[0]} x {feats.text.shape[1]}")
    print(f"seconds      {feats.seconds:.2f}")
    print(f"cache        {cache.resolve()}")
    return 0


def cmd_train(args) -> int:
    if args.method == "dcmq":
        return cmd_train_dcmq(args)
    from .train import TrainConfig, run_training

    config = TrainConfig(method=args.method, seed=args.seed, epochs_stage1=args.epochs_stage1,
                         epochs_stage2=args.epochs_stage2, batch_size=args.batch_size)
    out = Path(args.out or f"runs/{args.dataset}-{args.method}-seed{args.seed}")
    summary = run_training(config, out, args.dataset, progress=not args.quiet)
    print(f"method         {summary['method']}  (seed {args.seed})")
    print(f"selected epoch {summary['selected_epoch']} (best validation {summary['select_metric']})")
    print(f"val RSUM       {summary['val_rsum']:.2f}")
    print(f"test RSUM      {summary['test_rsum']:.2f}")
    print(f"seconds        {summary['seconds']:.1f}")
    print(f"run folder     {out.resolve()}")
    return 0


def cmd_train_dcmq(args) -> int:
    import json

    from .study import prepare_splits, train_run
    from .train import encode
    from .train.dcmq import DCMQConfig, run_dcmq_experiment
    from .features import load_features
    from .cache import atomic_write_bytes

    splits = prepare_splits(args.dataset, seed=args.seed)
    if args.teacher != "common_space":
        raise ValueError(f"--teacher {args.teacher!r}: the command line supports 'common_space'; for CLIP weights "
                         "call run_dcmq_experiment with the CLIP embeddings")
    teacher = train_run(splits, "sad", args.seed, epochs_stage1=args.epochs_stage1, epochs_stage2=args.epochs_stage2)
    emb = {s: encode(teacher.result.model, f.image, f.text) for s, f in splits.features.items()}
    feats = {s: load_features(p, progress=False) for s, p in splits.pairs.items()}
    df = run_dcmq_experiment([args.bits], emb, splits.pairs["train"], splits.pairs["test"],
                             features_train=feats["train"], features_test=feats["test"],
                             pairs_val=splits.pairs["val"], features_val=feats["val"],
                             config=DCMQConfig(seed=args.seed))
    out = Path(args.out or f"runs/{args.dataset}-dcmq{args.bits}-seed{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "dcmq_metrics.json", json.dumps(df.to_dict("records"), default=float, indent=1).encode())
    print(df.to_string(index=False))
    print(f"run folder     {out.resolve()}")
    return 0


def cmd_eval(args) -> int:
    import json

    import numpy as np

    from .cache import atomic_write_bytes
    from .eval import evaluate

    run = Path(args.run_dir)
    metrics_file = run / "metrics.json"
    if not metrics_file.exists():
        raise ValueError(f"{run} is not a run folder (no metrics.json)")
    dataset = json.loads(metrics_file.read_text()).get("dataset", "twemoji")
    pairs = load_dataset(dataset, "test")
    img, txt = np.load(run / "img_emb.npy"), np.load(run / "txt_emb.npy")
    df = evaluate(img, txt, pairs, exclude_family=args.exclude_family)
    atomic_write_bytes(run / "eval.csv", df.to_csv(index=False).encode())
    print(df.to_string(index=False))
    print(f"saved          {(run / 'eval.csv').resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlr-viz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("features", help="extract and cache both teachers' features for a dataset")
    p.add_argument("--dataset", default="twemoji", help="'twemoji' or a folder with captions.tsv")
    p.add_argument("--split", default=None, choices=["train", "val", "test"])
    p.add_argument("--image-model", default="efficientnet-lite0")
    p.add_argument("--text-model", default="minilm-l6")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("train", help="train a student (baseline | sad | covlr | dcmq) and write a run folder")
    p.add_argument("--dataset", default="twemoji")
    p.add_argument("--method", default="sad", choices=["baseline", "sad", "covlr", "dcmq"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs-stage1", type=int, default=10)
    p.add_argument("--epochs-stage2", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--bits", type=int, default=32, help="code length for --method dcmq")
    p.add_argument("--teacher", default="common_space", help="dcmq teacher: common_space")
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<method>-seed<seed>)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a run folder's test embeddings: print and save the metrics table")
    p.add_argument("run_dir")
    p.add_argument("--exclude-family", action="store_true", help="drop same-family items from single-modal galleries")
    p.set_defaults(func=cmd_eval)

    from .report import add_report_parser

    add_report_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"vlr-viz: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
