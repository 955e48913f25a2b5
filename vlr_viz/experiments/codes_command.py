"""``vlr-viz codes``: DCMQ codes of one length from a teacher, next to FAISS PQ / OPQ and the float teacher.

The command line of `vlr_viz.experiments.dcmq.dcmq_pipeline` for one code length and seed (notebook 06 runs every
length and seed). "Codes" are the compact product-quantised codes of DCMQ and its FAISS baselines; "methods" are
the training objectives of ``vlr-viz train``. The run folder gets ``metrics.json`` (RSUM and mAP of each row),
``dcmq_table.csv`` (the whole table), ``student.safetensors`` (the code student, its `DCMQConfig` in the metadata)
and the FAISS indexes of the test split's codes, ``test_image_codes.faiss`` and ``test_text_codes.faiss``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ConfigError

TEACHER_HELP = ("common_space (a sad-kl student trained here for --teacher-epochs-stage1/2 epochs) or a CLIP "
                "encoder name (open_clip:<arch>, open_clip:local-dir:<folder>, hf-clip:<folder>)")


def add_codes_parser(sub) -> argparse.ArgumentParser:
    """The ``codes`` subcommand of ``vlr-viz``."""
    from ..data.arguments import add_dataset_arguments

    p = sub.add_parser("codes", help="train DCMQ codes from a teacher and score them next to FAISS PQ / OPQ and "
                                     "the float teacher; write a run folder",
                       description="DCMQ codes of one length from a teacher, next to FAISS PQ / OPQ and the float "
                                   "teacher, scored on the test split (notebook 06 runs every length and seed).")
    add_dataset_arguments(p)
    p.add_argument("--bits", type=int, default=32, help="code length M · log2 K (default 32)")
    p.add_argument("--teacher", default="common_space", help=TEACHER_HELP)
    p.add_argument("--teacher-checkpoint", default=None, help="weights file of an open_clip:<arch> teacher")
    p.add_argument("--teacher-epochs-stage1", type=int, default=5,
                   help="stage-1 epochs of the common_space teacher (default 5)")
    p.add_argument("--teacher-epochs-stage2", type=int, default=5,
                   help="stage-2 epochs of the common_space teacher (default 5)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the code student (default: DCMQConfig's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the teacher and of the code student")
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>-dcmq<bits>-seed<seed>)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_codes)
    return p


def check_codes_arguments(args) -> None:
    """`ConfigError` naming the option, before any work, for what ``vlr-viz codes`` cannot do: fewer than one
    epoch of the code student or the teacher's stage 1 + 2, a negative seed, or a CLIP teacher (which encodes images
    and captions) on a ``features:`` dataset (which holds precomputed features, no images)."""
    from ..data.registry import parse_part

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
    for stage in ("1", "2"):
        value = getattr(args, f"teacher_epochs_stage{stage}")
        if value < 0:
            raise ConfigError(f"--teacher-epochs-stage{stage} must be at least 0, got {value}")
    if args.teacher_epochs_stage1 + args.teacher_epochs_stage2 < 1:
        raise ConfigError("--teacher-epochs-stage1 and --teacher-epochs-stage2 are both 0: the teacher needs at "
                          "least one epoch")
    if args.seed < 0:
        raise ConfigError(f"--seed must be at least 0, got {args.seed}")
    if args.teacher != "common_space" and any(parse_part(p)[0] == "features" for p in args.dataset.split("+")):
        raise ConfigError(f"--teacher {args.teacher!r} encodes images, but --dataset {args.dataset!r} holds "
                          "precomputed features, no images: use --teacher common_space (a student trained on them)")


def cmd_codes(args) -> int:
    """Train, score and write the run folder (module docstring); print the test split's table."""
    import faiss
    from safetensors.torch import save

    from ..atomic import atomic_write_bytes
    from ..data.arguments import dataset_options_from_args, default_run_folder
    from ..train.dcmq import DCMQConfig
    from .dcmq import METHODS, dcmq_pipeline

    check_codes_arguments(args)
    config = DCMQConfig(bits=args.bits, **({} if args.epochs is None else {"epochs": args.epochs}))
    exp = dcmq_pipeline(args.dataset, teacher=args.teacher, teacher_seed=args.seed,
                        teacher_epochs=(args.teacher_epochs_stage1, args.teacher_epochs_stage2),
                        teacher_checkpoint=args.teacher_checkpoint, bits_list=[args.bits], seeds=[args.seed],
                        supervisions=("teacher",), config=config, cache_dir=args.cache_dir,
                        options=dataset_options_from_args(args), workers=args.workers, progress=not args.quiet)
    table = exp.table
    row = {m: table[table.method == m].iloc[0] for m in ("dcmq", "faiss_pq", "faiss_opq", "float")}
    metrics = {"codes" if m == "dcmq" else m: {"rsum": float(r.rsum), "map": float(r["map"])} for m, r in row.items()}
    out = Path(args.out or default_run_folder(args.dataset, f"dcmq{args.bits}", args.seed))
    out.mkdir(parents=True, exist_ok=True)
    result = exp.results[("teacher", args.bits, args.seed)]
    state = {k: v.contiguous() for k, v in result.student.state_dict().items()}
    atomic_write_bytes(out / "student.safetensors",
                       save(state, metadata={"config": json.dumps(result.config.to_dict())}))
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
