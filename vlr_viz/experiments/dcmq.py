"""The DCMQ experiment: codes of every length, seed and supervision next to FAISS PQ / OPQ and the float teacher.

One call, :func:`dcmq_pipeline`, is what ``vlr-viz codes`` and notebook 06 run: load the splits, get
the teacher's common-space embeddings of every split (a ``sad-kl`` student trained here, or your CLIP), train the
DCMQ students of each code length (all seeds and both supervisions in one batched pass per length,
:func:`vlr_viz.train.dcmq.fit_dcmq_runs`), train FAISS PQ and OPQ on the same training embeddings, and score
everything on the test split with the same metrics: cross-modal R@K / RSUM of float queries against the coded
other modality, and category mAP over the whole gallery (mean of i2t and t2i). Epochs are chosen on the
validation split only. docs/codes.md describes the method and reads the results.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..arrays import l2_normalize
from ..eval import recall_at_k
from ..eval.codes import cross_modal_map, memory_per_item
from ..store.evaluations import stored_code_retrieval_metrics
from ..models.faiss_baselines import KINDS
from ..train.data import PairFeatures
from ..train.dcmq import DCMQConfig
from ..store.dcmq import fit_dcmq_runs_stored
from ..store.faiss import stored_faiss_codes
from ..code_methods import LABELS, SUPERVISION_METHOD

#: Row labels of the experiment table, in display order.
METHODS = LABELS


@dataclass
class DCMQExperiment:
    """What :func:`run_dcmq_experiment` returns.

    Attributes:
        table: one row per (method, bits, seed): ``method`` (a key of :data:`METHODS`), ``bits``, ``seed`` (-1 for
            the deterministic FAISS and float rows), ``bytes_per_item``, ``i2t_R@K``, ``t2i_R@K``, ``rsum``,
            ``i2t_map``, ``t2i_map``, ``map`` (their mean), ``best_epoch``, ``seconds`` (training time per run) and,
            for the learned codes, ``val_rsum`` / ``val_map`` at the selected epoch (what hyper-parameters are
            chosen by; the test columns are only reported).
        results: the DCMQ runs, keyed ``(supervision, bits, seed)``.
        baselines: the FAISS quantisers, keyed ``(kind, bits)``.
        data: the ``train`` / ``val`` / ``test`` `PairFeatures` of the common space.
    """

    table: pd.DataFrame
    results: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        return summarize(self.table)


def common_space_splits(embeddings: dict, pairs: dict) -> dict[str, PairFeatures]:
    """``{split: PairFeatures}`` whose student inputs (and teacher) are the L2-normalised common-space embeddings
    ``embeddings[split] = (image (N, D), text (M, D))``, with the captions' images and the categories of
    ``pairs[split]``."""
    missing = {"train", "val", "test"} - set(embeddings)
    if missing:
        raise ValueError(f"embeddings: missing split(s) {sorted(missing)}")
    return {s: PairFeatures(l2_normalize(np.asarray(embeddings[s][0], np.float32)),
                            l2_normalize(np.asarray(embeddings[s][1], np.float32)), pairs[s].txt_to_img,
                            labels=pairs[s].labels, name=s) for s in ("train", "val", "test")}


def _metrics_row(method: str, bits: int, seed: int, metrics: dict, **extra) -> dict:
    keep = {k: v for k, v in metrics.items() if "R@" in k or k in ("rsum", "i2t_map", "t2i_map")}
    return {"method": method, "bits": int(bits), "seed": int(seed), **extra, **keep, "map": metrics["map_mean"]}


def float_teacher_row(test: PairFeatures, ks=(1, 5, 10), map_ks=(50,)) -> dict:
    """The float common space on ``test``: cosine R@K / RSUM and category mAP, float32 storage."""
    img, txt = test.image.numpy(), test.text.numpy()
    labels = test.labels
    recall = recall_at_k(img, txt, test.txt_to_img.numpy(), ks, return_ranks=False)
    maps = cross_modal_map(l2_normalize(img), l2_normalize(txt), labels, labels[test.txt_to_img.numpy()], ks=map_ks)
    return _metrics_row("float", 32 * img.shape[1], -1, {**recall, **maps}, bytes_per_item=4 * img.shape[1],
                        best_epoch=-1, seconds=0.0)


def faiss_rows(data: dict[str, PairFeatures], bits: int, kinds=KINDS, ks=(1, 5, 10), map_ks=(50,),
               threads: int | None = None) -> tuple[list[dict], dict]:
    """Rows of FAISS PQ / OPQ at ``bits``, trained on the training split's images and captions together (read back
    when trained before: `vlr_viz.store.faiss.stored_faiss_codes`)."""
    train, test = data["train"], data["test"]
    vectors = np.concatenate([train.image.numpy(), train.text.numpy()])
    rows, fitted = [], {}
    for kind in kinds:
        codes = stored_faiss_codes(vectors, bits, kind, threads=threads)
        img, txt = test.image.numpy(), test.text.numpy()
        metrics = stored_code_retrieval_metrics(codes.transform(img), codes.transform(txt), codes.encode(img),
                                                codes.encode(txt), codes.codebooks, test.txt_to_img, test.labels, ks,
                                                map_ks)
        rows.append(_metrics_row(kind, bits, -1, metrics, bytes_per_item=bits // 8, best_epoch=-1,
                                 seconds=codes.seconds))
        fitted[(kind, bits)] = codes
    return rows, fitted


def run_dcmq_experiment(data: dict[str, PairFeatures], bits_list=(16, 32, 64, 128), seeds=(0, 1, 2),
                        supervisions=("teacher", "labels"), config: DCMQConfig | None = None, baselines=KINDS,
                        ks=(1, 5, 10), map_ks=(50,), progress: bool = False) -> DCMQExperiment:
    """DCMQ codes (every supervision × seed) at every code length, FAISS ``baselines`` and the float teacher.

    The FAISS baselines train first, on one FAISS thread (FAISS's thread count is one setting for the whole
    process, and OPQ's products depend on it), then the DCMQ students on ``config.num_threads`` torch threads
    (default: torch's setting; every run is reproducible at any thread count). Both are read back from the run
    store when they were trained before (`vlr_viz.store.dcmq`, `vlr_viz.models.faiss_baselines`).

    Args:
        data: ``{"train", "val", "test"}`` `PairFeatures` of the common space (:func:`common_space_splits`).
        bits_list: code lengths (multiples of 8 whose ``bits / 8`` sub-vectors divide the dimension).
        seeds: seeds of the learned codes.
        supervisions: ``"teacher"`` (NPC of the common space: DCMQ) and/or ``"labels"`` (label similarity).
        config: base :class:`DCMQConfig` (``bits``, ``seed`` and ``supervision`` are set per run).
        baselines: FAISS kinds (:data:`vlr_viz.models.faiss_baselines.KINDS`); ``()`` for none.
        progress: tqdm bars over code lengths and epochs.
    """
    config = config or DCMQConfig()
    rows, results, fitted = [], {}, {}
    for bits in bits_list if baselines else ():
        base_rows, base = faiss_rows(data, int(bits), baselines, ks, map_ks, threads=1)
        rows += base_rows
        fitted.update(base)
    for bits in tqdm(list(bits_list), desc="code lengths", disable=not progress):
        configs = [replace(config, bits=int(bits), seed=int(s), supervision=sup)
                   for sup in supervisions for s in seeds]
        passed, _ = fit_dcmq_runs_stored(configs, data["train"], data["val"], progress=progress)
        for c, res in zip(configs, passed):
            results[(c.supervision, int(bits), c.seed)] = res
            rows.append(_metrics_row(SUPERVISION_METHOD[c.supervision], bits, c.seed,
                                     res.evaluate(data["test"], ks, map_ks, stored_code_retrieval_metrics),
                                     bytes_per_item=memory_per_item(int(bits), c.num_codewords)["stored_bytes"],
                                     best_epoch=res.best_epoch, seconds=res.seconds,
                                     val_rsum=res.val_metrics.get("rsum", np.nan),
                                     val_map=res.val_metrics.get("map_mean", np.nan)))
    rows.append(float_teacher_row(data["test"], ks, map_ks))
    order = {m: i for i, m in enumerate(METHODS)}
    table = pd.DataFrame(rows)
    table = table.iloc[np.lexsort((table.seed, table.method.map(order), table.bits))].reset_index(drop=True)
    return DCMQExperiment(table, results, fitted, data)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of RSUM and mAP per (method, bits), methods in :data:`METHODS` order."""
    g = table.groupby(["method", "bits"], sort=False)
    out = g.agg(bytes_per_item=("bytes_per_item", "first"), runs=("seed", "size"), rsum=("rsum", "mean"),
                rsum_std=("rsum", "std"), map=("map", "mean"), map_std=("map", "std")).reset_index()
    out[["rsum_std", "map_std"]] = out[["rsum_std", "map_std"]].fillna(0.0)
    out["order"] = out["method"].map(list(METHODS).index)
    return out.sort_values(["order", "bits"]).drop(columns="order").reset_index(drop=True)


def versus_opq(summary: pd.DataFrame, method: str = "dcmq") -> pd.DataFrame:
    """Per code length: ``method``'s mean RSUM and mAP against FAISS OPQ's, the differences, whether it matches
    OPQ's RSUM (mean >= OPQ), beats OPQ's mAP (mean > OPQ) and both."""
    a = summary[summary.method == method].set_index("bits")
    b = summary[summary.method == "faiss_opq"].set_index("bits")
    bits = a.index.intersection(b.index)
    out = pd.DataFrame({"rsum": a.rsum[bits], "rsum_std": a.rsum_std[bits], "opq_rsum": b.rsum[bits],
                        "map": a["map"][bits], "map_std": a.map_std[bits], "opq_map": b["map"][bits]})
    out["rsum_gain"] = out.rsum - out.opq_rsum
    out["map_gain"] = out["map"] - out.opq_map
    out["matches_rsum"] = out.rsum_gain >= 0
    out["beats_map"] = out.map_gain > 0
    out["beats_opq"] = out.matches_rsum & out.beats_map
    return out.reset_index()


def is_monotone(summary: pd.DataFrame, method: str, metric: str) -> bool:
    """Whether ``method``'s mean ``metric`` grows (non-strictly) with the code length."""
    values = summary[summary.method == method].sort_values("bits")[metric].to_numpy()
    return bool(np.all(np.diff(values) >= 0))


def check_teacher_name(teacher: str) -> None:
    """ValueError unless ``teacher`` is ``"common_space"`` or a CLIP encoder name."""
    if teacher != "common_space" and not str(teacher).startswith(("open_clip:", "hf-clip:")):
        raise ValueError(f"--teacher {teacher!r}: use 'common_space', 'open_clip:<arch>' (with --teacher-checkpoint), "
                         "'open_clip:local-dir:<folder>' or 'hf-clip:<folder>'")


def dcmq_teacher_embeddings(teacher: str, splits, seed: int = 0, epochs_stage1: int = 5, epochs_stage2: int = 5,
                            checkpoint: str | None = None, cache_dir=None, recipe: str = "sad-kl") -> dict:
    """``{split: (image, text)}`` teacher embeddings of every split of ``splits`` (`vlr_viz.experiments.study.Splits`).

    ``teacher="common_space"``: a student of ``recipe`` (default ``sad-kl``) trained on the cached features, its
    epoch chosen on validation; otherwise a CLIP encoder name (``open_clip:<arch>`` with ``checkpoint``,
    ``open_clip:local-dir:<folder>``, ``hf-clip:<folder>``) whose image and text towers embed every split.
    """
    from ..encoders import encode_images, encode_texts
    from .study import train_run
    from ..train import encode

    check_teacher_name(teacher)
    if teacher == "common_space":
        run = train_run(splits, recipe, seed, epochs_stage1=epochs_stage1, epochs_stage2=epochs_stage2)
        return {s: encode(run.result.model, f.image, f.text) for s, f in splits.features.items()}
    kw = {"checkpoint": checkpoint} if checkpoint else {}
    if cache_dir is not None:
        kw["cache_dir"] = cache_dir
    return {s: (encode_images(p.images, model=teacher, progress=False, **kw),
                encode_texts(p.captions, model=teacher, progress=False, **kw)) for s, p in splits.pairs.items()}


def dcmq_pipeline(dataset: str = "twemoji", *, teacher: str = "common_space", teacher_recipe: str = "sad-kl",
                  teacher_seed: int = 0, teacher_epochs: tuple[int, int] = (5, 5),
                  teacher_checkpoint: str | None = None,
                  bits_list=(16, 32, 64, 128), seeds=(0, 1, 2), supervisions=("teacher", "labels"),
                  config: DCMQConfig | None = None, baselines=KINDS, cache_dir=None, options=None,
                  workers: int | None = None, progress: bool = False) -> DCMQExperiment:
    """Splits → teacher embeddings → :func:`run_dcmq_experiment` (module docstring).

    Args:
        dataset: a dataset spec (`vlr_viz.data.load_splits`: ``"twemoji"``, ``"karpathy:JSON:IMAGE_ROOT"``,
            ``"features:DIR"``, ...); ``options`` its `DatasetOptions`, ``workers`` the decoding processes.
        teacher: ``"common_space"`` (a ``teacher_recipe`` student trained for ``teacher_epochs`` = (stage 1,
            stage 2) epochs with ``teacher_seed``) or a CLIP encoder name (:func:`dcmq_teacher_embeddings`).
        bits_list, seeds, supervisions, config, baselines: as :func:`run_dcmq_experiment`.
    """
    from .study import prepare_splits

    check_teacher_name(teacher)
    splits = prepare_splits(dataset, seed=teacher_seed, cache_dir=cache_dir, options=options, workers=workers,
                            progress=progress)
    embeddings = dcmq_teacher_embeddings(teacher, splits, teacher_seed, *teacher_epochs, teacher_checkpoint,
                                         cache_dir, teacher_recipe)
    data = common_space_splits(embeddings, splits.pairs)
    return run_dcmq_experiment(data, bits_list, seeds, supervisions, config, baselines, progress=progress)


__all__ = ["DCMQExperiment", "METHODS", "common_space_splits", "dcmq_pipeline", "dcmq_teacher_embeddings",
           "faiss_rows", "float_teacher_row", "is_monotone", "run_dcmq_experiment", "summarize", "versus_opq"]
