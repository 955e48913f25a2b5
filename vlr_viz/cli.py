"""``vlr-viz``: the command line (features, train, codes, eval, runs, store, report, explore, compare)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_features(args) -> int:
    from .data import load_dataset, load_splits
    from .data.arguments import dataset_options_from_args
    from .features import load_features
    from .store.arrays import array_cache
    from .store.locations import default_cache_dir

    options = dataset_options_from_args(args)
    if args.split == "all":
        datasets = [load_dataset(args.dataset, None, options, cache=array_cache())]
    else:
        splits = load_splits(args.dataset, options, cache=array_cache())
        datasets = [splits[args.split]] if args.split else list(splits.values())
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    for pairs in datasets:
        feats = load_features(pairs, args.image_model, args.text_model, cache_dir=cache, progress=not args.quiet,
                              workers=args.workers)
        print_fields(("dataset", f"{pairs.name}: {pairs.n_images} images, {pairs.n_captions} captions, "
                                 f"{len(pairs.label_names)} categories"),
                     ("image", f"{feats.image_model}: {feats.image.shape[0]} x {feats.image.shape[1]}"),
                     ("text", f"{feats.text_model}: {feats.text.shape[0]} x {feats.text.shape[1]}"),
                     ("seconds", f"{feats.seconds:.2f}"), width=13)
    print_fields(("cache", cache.resolve()), width=13)
    return 0


def print_fields(*rows: tuple[str, object], width: int = 15) -> None:
    """One ``label  value`` line per row, the values starting in column ``width``."""
    for label, value in rows:
        print(f"{label:<{width}}{value}")


def cmd_train(args) -> int:
    from .data.arguments import default_run_folder
    from .errors import ConfigError
    from .runner.options import train_from_args

    if args.method == "dcmq":
        raise ConfigError("DCMQ codes have their own command: vlr-viz codes --bits 32 (see vlr-viz codes --help); "
                          "--method names a training objective")

    name = args.recipe or args.method or "sad"
    args.out = args.out or str(default_run_folder(args.dataset, name, args.seed or 0))
    summary = train_from_args(args)
    print_fields(("method", summary["method"] + (f"  (recipe {args.recipe})" if args.recipe else "")
                  + f"  seed {args.seed or 0}"),
                 ("selected epoch", f"{summary['selected_epoch']} (best validation {summary['select_metric']})"),
                 ("val RSUM", f"{summary['val_rsum']:.2f}"), ("test RSUM", f"{summary['test_rsum']:.2f}"),
                 ("λ", f"{summary['lambda']:.3f} ({summary['lambda_info'].get('lambda_mode', '-')})"),
                 ("seconds", f"{summary['seconds']:.1f}"), ("run folder", Path(args.out).resolve()))
    return 0


def cmd_eval(args) -> int:
    from .atomic import atomic_write_bytes
    from .eval import evaluate
    from .runner.run import read_run_files

    run = Path(args.run_dir)
    files = read_run_files(run, ("metrics.json", "img_emb.npy", "txt_emb.npy"))  # every file named before work
    summary = files["metrics.json"]
    if summary.get("dataset") == "custom":
        raise ValueError(f"{run} was trained on PairSets passed in Python; evaluate it with vlr_viz.eval.evaluate")
    from .data import DatasetOptions, load_dataset
    from .store.arrays import array_cache

    options = DatasetOptions(**summary.get("dataset_options", {}))
    pairs = load_dataset(summary.get("dataset", "twemoji"), "test", options, cache=array_cache())
    img, txt = files["img_emb.npy"], files["txt_emb.npy"]
    df = evaluate(img, txt, pairs, exclude_family=args.exclude_family)
    atomic_write_bytes(run / "eval.csv", df.to_csv(index=False).encode())
    print(df.to_string(index=False))
    print(f"saved          {(run / 'eval.csv').resolve()}")
    return 0


def _cell(value, fmt: str = "{}") -> str:
    """A summary value as table text: ``-`` for what is missing or of the wrong type (summaries are read, not
    trusted)."""
    if value is None or isinstance(value, (dict, list)):
        return "-"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return "-"


def aligned(rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows of cells as lines, each column as wide as its widest cell (the columns in ``right`` right-aligned)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def runs_table(rows: list[dict]) -> list[str]:
    """``vlr-viz runs ls``'s lines: one per stored run, columns aligned to their widest cell."""
    head = ["key", "recipe", "seed", "epoch", "val RSUM", "MiB", "stored", "condition"]
    cells = []
    for r in rows:
        metrics = r.get("best_metrics") if isinstance(r.get("best_metrics"), dict) else {}
        cells.append([r["key"], _cell(r.get("recipe", r.get("method"))), _cell(r.get("seed")),
                      _cell(r.get("best_epoch")), _cell(metrics.get("rsum"), "{:.1f}"),
                      _cell(r["bytes"] / 2**20, "{:.1f}"), _cell(r.get("stored")),
                      _cell(r.get("condition") or (r.get("splits") or ["-"])[0])])
    return aligned([head, *cells], right={2, 3, 4, 5})


def cmd_runs(args) -> int:
    from .store.runs import RunStore

    store = RunStore()
    if args.action == "rm":
        if args.keys and args.all:
            raise ValueError("vlr-viz runs rm: name runs to remove or pass --all, not both")
        if not args.keys and not args.all:
            raise ValueError("vlr-viz runs rm: name the runs to remove (keys from 'vlr-viz runs ls') or pass --all")
        removed = store.remove(None if args.all else args.keys)
        print(f"removed {removed} stored run(s) from {store.root}")
        return 0
    rows = store.entries()
    if rows:
        print("\n".join(runs_table(rows)))
    print(f"{len(rows)} stored runs in {store.root}")
    unfinished = store.unfinished()
    if unfinished:
        print(f"{len(unfinished)} unfinished or damaged entr{'y' if len(unfinished) == 1 else 'ies'} (no manifest; "
              f"'vlr-viz runs rm KEY' or --all removes them): " + ", ".join(unfinished))
    derived = store.derived()
    if derived:
        print("beside them (cleared by 'vlr-viz runs rm --all'): " + ", ".join(
            f"{name} {n} entries {size / 2**20:.1f} MiB" for name, (n, size) in derived.items()))
    return 0


def cmd_store(args) -> int:
    """``vlr-viz store ls | verify | rm``: every kind of stored thing (`vlr_viz.store`)."""
    from .store import KINDS, entries, remove

    if args.action == "rm":
        if not args.kind:
            raise ValueError(f"vlr-viz store rm: name the kind whose entries to remove ({', '.join(KINDS)})")
        if bool(args.keys) == bool(args.all):
            raise ValueError("vlr-viz store rm: name the keys to remove (from 'vlr-viz store ls') or pass --all")
        removed = remove(args.kind, None if args.all else args.keys)
        print(f"removed {removed} stored {args.kind} entr{'y' if removed == 1 else 'ies'}")
        return 0
    found = entries(args.kind, verify=args.action == "verify")
    shown = found if args.action == "ls" else [e for e in found if e.status != "ok"]
    if shown:
        print("\n".join(aligned([["kind", "key", "MiB", "status"], *[
            [e.kind, e.key, f"{e.bytes / 2**20:.1f}", e.status] for e in shown]], right={2})))
    totals: dict[str, list] = {}
    for e in found:
        count = totals.setdefault(e.kind, [0, 0, 0])
        count[0], count[1] = count[0] + 1, count[1] + e.bytes
        count[2] += e.status.startswith("damaged")
    print("; ".join(f"{kind} {n} entries {size / 2**20:.1f} MiB" + (f", {bad} damaged" if bad else "")
                    for kind, (n, size, bad) in totals.items()) or "the store is empty")
    return 1 if any(e.status.startswith("damaged") for e in found) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlr-viz", description=__doc__)
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (accepted anywhere on the command line)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("features", help="extract and cache both teachers' features for a dataset (resumable)")
    from .data.arguments import add_dataset_arguments

    add_dataset_arguments(p)
    p.add_argument("--split", default=None, choices=["train", "val", "test", "all"],
                   help="one split, or 'all' for the whole dataset unsplit (default: train, val and test, each "
                        "cached as training will read it)")
    p.add_argument("--image-model", default=None, help="default: efficientnet-lite0 (the vision teacher)")
    p.add_argument("--text-model", default=None, help="default: minilm-l6 (the text teacher)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("train", help="train a student (baseline | sad | covlr, a --recipe or a --plugin's method) "
                                     "and write a run folder")
    from .runner.options import add_train_arguments

    add_train_arguments(p, out_required=False)
    p.set_defaults(func=cmd_train)

    from .experiments.codes_command import add_codes_parser

    add_codes_parser(sub)

    p = sub.add_parser("eval", help="evaluate a run folder's test embeddings: print and save the metrics table")
    p.add_argument("run_dir")
    p.add_argument("--exclude-family", action="store_true", help="drop same-family items from single-modal galleries")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("runs", help="list or remove the stored training runs (the run store)")
    p.add_argument("action", choices=["ls", "rm"])
    p.add_argument("keys", nargs="*", help="keys of the runs to remove (rm)")
    p.add_argument("--all", action="store_true", help="remove every stored run (rm)")
    p.set_defaults(func=cmd_runs)

    from .store import KINDS

    p = sub.add_parser("store", help="list, check or clear everything stored: features and other arrays, figure "
                                     "PNGs, runs, stage-1 passes, DCMQ passes, FAISS quantisers, analyses, "
                                     "evaluations")
    p.add_argument("action", choices=["ls", "verify", "rm"],
                   help="ls: list; verify: check every entry (exit code 1 when one is damaged); rm: remove")
    p.add_argument("kind", nargs="?", choices=KINDS, default=None, help="only this kind (rm: the kind to remove)")
    p.add_argument("keys", nargs="*", help="keys of the entries to remove (rm)")
    p.add_argument("--all", action="store_true", help="remove every entry of the kind (rm)")
    p.set_defaults(func=cmd_store)

    from .report import add_report_parser

    add_report_parser(sub)
    from .report.explore import add_explore_parser

    add_explore_parser(sub)
    from .report.compare import add_compare_parser

    add_compare_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import pop_debug_flag, report_errors

    argv, debug = pop_debug_flag(argv)
    args = build_parser().parse_args(argv)
    return report_errors("vlr-viz", lambda: args.func(args), debug)


if __name__ == "__main__":
    sys.exit(main())
