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
    from .train.options import train_from_args

    name = args.recipe or args.method or "sad"
    args.out = args.out or f"runs/{args.dataset}-{name}-seed{args.seed or 0}"
    summary = train_from_args(args)
    print(f"method         {summary['method']}" + (f"  (recipe {args.recipe})" if args.recipe else "")
          + f"  seed {args.seed or 0}")
    print(f"selected epoch {summary['selected_epoch']} (best validation {summary['select_metric']})")
    print(f"val RSUM       {summary['val_rsum']:.2f}")
    print(f"test RSUM      {summary['test_rsum']:.2f}")
    print(f"λ              {summary['lambda']:.3f} ({summary['lambda_info'].get('lambda_mode', '-')})")
    print(f"seconds        {summary['seconds']:.1f}")
    print(f"run folder     {Path(args.out).resolve()}")
    return 0


def cmd_train_dcmq(args) -> int:
    """DCMQ codes at ``--bits`` from the teacher, next to FAISS PQ / OPQ and the float teacher on the test split; the
    run folder gets ``metrics.json``, the full table, the student and FAISS indexes of the test split's codes."""
    import io
    import json

    import faiss
    import torch

    from .cache import atomic_write_bytes
    from .experiments.dcmq import METHODS, dcmq_pipeline
    from .train.dcmq import DCMQConfig

    seed = args.seed or 0
    config = DCMQConfig(bits=args.bits, **({"epochs": args.dcmq_epochs} if args.dcmq_epochs else {}))
    exp = dcmq_pipeline(args.dataset, teacher=args.teacher, teacher_seed=seed,
                        teacher_epochs=(args.epochs_stage1 or 5, args.epochs_stage2 or 5),
                        teacher_checkpoint=args.teacher_checkpoint, bits_list=[args.bits], seeds=[seed],
                        supervisions=("teacher",), config=config, cache_dir=args.cache_dir, progress=not args.quiet)
    table = exp.table
    row = {m: table[table.method == m].iloc[0] for m in ("dcmq", "faiss_pq", "faiss_opq", "float")}
    metrics = {"codes" if m == "dcmq" else m: {"rsum": float(r.rsum), "map": float(r["map"])} for m, r in row.items()}
    out = Path(args.out or f"runs/{args.dataset}-dcmq{args.bits}-seed{seed}")
    out.mkdir(parents=True, exist_ok=True)
    result = exp.results[("teacher", args.bits, seed)]
    buffer = io.BytesIO()
    torch.save({"config": result.config.to_dict(), "state_dict": result.student.state_dict()}, buffer)
    atomic_write_bytes(out / "student.pt", buffer.getvalue())
    for modality in ("image", "text"):
        index = result.faiss_index(exp.data["test"], modality)
        atomic_write_bytes(out / f"test_{modality}_codes.faiss", faiss.serialize_index(index).tobytes())
    atomic_write_bytes(out / "dcmq_table.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=1).encode())
    print(f"{'test split':<26}{'bits':>6}{'bytes/item':>12}{'RSUM':>9}{'mAP':>8}")
    for m, r in row.items():
        label = "DCMQ codes" if m == "dcmq" else METHODS[m]
        print(f"{label:<26}{int(r.bits):>6}{int(r.bytes_per_item):>12}{r.rsum:>9.2f}{r['map']:>8.2f}")
    print(f"selected epoch {result.best_epoch} (best validation RSUM + mAP with codes)")
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

    p = sub.add_parser("train", help="train a student (baseline | sad | covlr, or a --recipe; dcmq codes) and write a "
                                     "run folder")
    from .train.options import add_train_arguments

    add_train_arguments(p, out_required=False)
    p.add_argument("--bits", type=int, default=32, help="code length for --method dcmq")
    p.add_argument("--teacher", default="common_space",
                   help="dcmq teacher: common_space (a sad-kl student trained here, 5 + 5 epochs unless "
                        "--epochs-stage1/2 say otherwise) or a CLIP encoder name "
                        "(open_clip:<arch>, open_clip:local-dir:<folder>, hf-clip:<folder>)")
    p.add_argument("--teacher-checkpoint", default=None, help="weights file of an open_clip:<arch> teacher")
    p.add_argument("--dcmq-epochs", type=int, default=None,
                   help="epochs of the code student (--method dcmq; default: DCMQConfig's)")
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
