"""Typed results of the experiments the notebooks run: what a notebook shows and records is what the report reads
back, so a conclusion is drawn once, by `vlr_viz.stats`, and only displayed after that.

* `RebalancingResult` (notebook 04): mean ± std over seeds of every (condition, method, column), the paired table
  against the baseline (Δ, t-interval, Holm), its caption and the verdict sentences of `vlr_viz.stats`.
* `CodesResult` (notebook 06): the compact-codes table, the comparison with FAISS OPQ per code length, whether each
  code improves with more bits, the dead codewords, and the verdict sentences.
* `ImbalanceSweepResult` (notebook 01): each teacher's strength and the imbalance index as one modality is degraded
  step by step.
* `RelationDriftResult` (02), `GeometryResult` (03), `ExplorerSweepResult` (05): what those notebooks measure.
* `NaturalImbalanceResult` (notebook 01): each teacher's strength per category and caption-quality group, and the
  teachers' kNN agreement, for several datasets side by side.

Each is a frozen dataclass with ``to_record()`` (plain JSON tagged with its ``kind`` and ``version``, for
`vlr_viz.notebook.recording.record`) and ``from_record()``, which refuses a record of another kind, another version
or with a field of the wrong type, naming it (`ResultRecordError`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, get_type_hints

import pandas as pd

from .errors import VlrVizError
from .stats import mean_spread_table, method_verdicts, table_caption, table_record, verdict_sentences
from .stats.verdict import cell_outcome, opq_sentences


class ResultRecordError(VlrVizError):
    """A recorded result is of another kind or version, or one of its fields has the wrong type."""


def _number(value: Any) -> float | None:
    """A finite float, or ``None`` for NaN and missing values (JSON has no NaN)."""
    return float(value) if value is not None and math.isfinite(float(value)) else None


class _Record:
    """``to_record`` / ``from_record`` for a dataclass whose fields are JSON values of their annotated types."""

    KIND: ClassVar[str]
    VERSION: ClassVar[int]

    def to_record(self) -> dict:
        return {"kind": self.KIND, "version": self.VERSION, **asdict(self)}

    @classmethod
    def from_record(cls, record: Any):
        if not isinstance(record, dict) or record.get("kind") != cls.KIND:
            raise ResultRecordError(f"not a recorded {cls.KIND} result (kind "
                                    f"{record.get('kind') if isinstance(record, dict) else type(record).__name__!r})")
        if record.get("version") != cls.VERSION:
            raise ResultRecordError(f"{cls.KIND} result of version {record.get('version')!r}; this vlr_viz reads "
                                    f"version {cls.VERSION} (run the notebook again)")
        values, types = {}, get_type_hints(cls)
        for f in fields(cls):
            value = record.get(f.name)
            if not isinstance(value, types[f.name]):
                raise ResultRecordError(f"{cls.KIND} result: field {f.name!r} is "
                                        f"{type(value).__name__}, not {types[f.name].__name__}")
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class RebalancingResult(_Record):
    """Every method against the matching-only baseline, paired across seeds (notebook 04; docs/statistics.md).

    Keys of ``means``, ``stds`` and ``paired`` are ``"<condition>/<method>/<column>"`` in the table's order;
    ``paired`` holds `vlr_viz.stats.table_record` cells (the baseline has none); ``stds`` is ``None`` where one seed
    gives no spread. ``sentences`` has one verdict per (condition, method), ``verdicts`` one per method.
    """

    KIND: ClassVar[str] = "rebalancing"
    VERSION: ClassVar[int] = 1

    dataset: str
    baseline: str
    means: dict
    stds: dict
    paired: dict
    caption: str
    sentences: list
    verdicts: dict

    @classmethod
    def from_study(cls, rows: pd.DataFrame, table: pd.DataFrame, dataset: str = "twemoji") -> "RebalancingResult":
        """From the tidy per-seed rows (``condition, method, column, seed, value``) of the dataset spec ``dataset``
        and their `paired_table`."""
        spread = mean_spread_table(rows, by=["condition", "method", "column"])
        keys = ["/".join(map(str, k)) for k in zip(spread["condition"], spread["method"], spread["column"])]
        return cls(dataset=str(dataset), baseline=str(table.attrs.get("baseline", "baseline")),
                   means={k: float(m) for k, m in zip(keys, spread["mean"])},
                   stds={k: _number(s) for k, s in zip(keys, spread["std"])},
                   paired=table_record(table), caption=table_caption(table),
                   sentences=verdict_sentences(table), verdicts=method_verdicts(table))

    def outcome(self, key: str) -> str | None:
        """``"gain"``, ``"loss"``, ``"unclear"`` or ``"n/a"`` of a cell after Holm (`cell_outcome`); ``None``
        for the baseline's own cells."""
        cell = self.paired.get(key)
        if cell is None:
            return None
        return cell_outcome(cell["diff"], cell["significant"], cell["note"])


@dataclass(frozen=True)
class CodesResult(_Record):
    """Compact codes against FAISS PQ / OPQ and the float teacher (notebook 06; docs/codes.md).

    ``table``: ``{"<method>_<bits>/<rsum|rsum_std|map|map_std|bytes_per_item>": value}``; ``versus_opq``:
    ``{"<bits>/<rsum_gain|map_gain|beats_opq>": value}`` (`vlr_viz.experiments.dcmq.versus_opq`);
    ``monotone_in_bits``: ``{"<method>/<metric>": bool}``; ``dead_codewords_percent``:
    ``{"<supervision>_<bits>": percent}``; ``sentences``: the verdict against OPQ, one per code length.
    """

    KIND: ClassVar[str] = "codes"
    VERSION: ClassVar[int] = 1

    table: dict
    versus_opq: dict
    monotone_in_bits: dict
    dead_codewords_percent: dict
    sentences: list

    @classmethod
    def from_experiment(cls, summary: pd.DataFrame, versus: pd.DataFrame, monotone: dict,
                        dead: pd.Series) -> "CodesResult":
        """From `DCMQExperiment.summary`, its `versus_opq` frame, `is_monotone` per method and metric, and
        `vlr_viz.viz.codes.dead_codewords` (indexed by supervision and bits)."""
        gains = {f"{r.bits}/{k}": float(getattr(r, k)) for r in versus.itertuples()
                 for k in ("rsum_gain", "map_gain", "beats_opq")}
        return cls(table={f"{r.method}_{r.bits}/{m}": float(getattr(r, m)) for r in summary.itertuples()
                          for m in ("rsum", "rsum_std", "map", "map_std", "bytes_per_item")},
                   versus_opq=gains, monotone_in_bits={k: bool(v) for k, v in monotone.items()},
                   dead_codewords_percent={f"{s}_{b}": float(v) for (s, b), v in dead.items()},
                   sentences=opq_sentences(versus))


@dataclass(frozen=True)
class NaturalImbalanceResult(_Record):
    """Each teacher's strength per category and caption-quality group, and the teachers' kNN agreement, of several
    datasets side by side (notebook 01; `vlr_viz.experiments.natural_imbalance`).

    ``rows``: ``[dataset, grouping, group, measure, value, n]`` lists (``value`` ``None`` where a group has no
    query with a relevant item); ``sentences``: one reading per dataset (`imbalance_sentences`).
    """

    KIND: ClassVar[str] = "natural_imbalance"
    VERSION: ClassVar[int] = 1
    COLUMNS: ClassVar[tuple[str, ...]] = ("dataset", "grouping", "group", "measure", "value", "n")

    datasets: list
    rows: list
    sentences: list

    @classmethod
    def from_table(cls, table: pd.DataFrame, sentences: list[str]) -> "NaturalImbalanceResult":
        """From `natural_imbalance`'s frame and its sentences."""
        rows = [[str(r.dataset), str(r.grouping), str(r.group), str(r.measure), _number(r.value), int(r.n)]
                for r in table.itertuples(index=False)]
        return cls(datasets=list(dict.fromkeys(table["dataset"].astype(str))), rows=rows, sentences=list(sentences))

    def table(self) -> pd.DataFrame:
        """The rows as `natural_imbalance` returns them (``None`` values as NaN)."""
        frame = pd.DataFrame(self.rows, columns=list(self.COLUMNS))
        frame["value"] = frame["value"].astype(float)
        return frame


@dataclass(frozen=True)
class ImbalanceSweepResult(_Record):
    """How much each degradation weakens its own modality in the frozen teachers (notebook 01's severity sweep,
    `vlr_viz.experiments.study.severity_sweep`).

    ``rows``: ``[degraded, kind, severity, image_ndcg10, text_ndcg10, imbalance_index]`` lists, one per degraded
    modality and severity (the index ``(S_img - S_txt) / (S_img + S_txt)``, positive when text is the weaker side);
    ``clean_imbalance_index``: the index without degradation.
    """

    KIND: ClassVar[str] = "imbalance_sweep"
    VERSION: ClassVar[int] = 1
    COLUMNS: ClassVar[tuple[str, ...]] = ("degraded", "kind", "severity", "image_ndcg10", "text_ndcg10",
                                          "imbalance_index")

    dataset: str
    rows: list
    clean_imbalance_index: float

    @classmethod
    def from_sweep(cls, table: pd.DataFrame, dataset: str = "twemoji") -> "ImbalanceSweepResult":
        """From `severity_sweep`'s frame of the dataset spec ``dataset``."""
        rows = [[str(r.degraded), str(r.kind), float(r.severity), float(r.image_ndcg10), float(r.text_ndcg10),
                 float(r.value)] for r in table.itertuples(index=False)]
        clean = table[table.severity == 0]
        return cls(dataset=str(dataset), rows=rows, clean_imbalance_index=float(clean.iloc[0].value))

    def table(self) -> pd.DataFrame:
        """The rows as a frame of `COLUMNS`."""
        return pd.DataFrame(self.rows, columns=list(self.COLUMNS))


@dataclass(frozen=True)
class RelationDriftResult(_Record):
    """The matching-only baseline against a structure-aware recipe as relations drift (notebook 02): each run's
    best validation RSUM (``val_rsum``, by recipe) and the structure-aware run's final fusion weight λ."""

    KIND: ClassVar[str] = "relation_drift"
    VERSION: ClassVar[int] = 1

    dataset: str
    structure_recipe: str
    val_rsum: dict
    lambda_final: float


@dataclass(frozen=True)
class GeometryResult(_Record):
    """The common space of the baseline and a structure-aware recipe (notebook 03): how far each test image's
    neighbours moved on average (``mean_image_knn_moved``, `vlr_viz.viz.geometry.who_moved_most`) and, per recipe,
    the modality gap and RSUM as the images move along the gap vector (``gap_shift``: ``{recipe: {shift: {"gap",
    "rsum"}}}``, `vlr_viz.imbalance.gap_shift_curve`)."""

    KIND: ClassVar[str] = "geometry"
    VERSION: ClassVar[int] = 1

    dataset: str
    structure_recipe: str
    projection: str
    mean_image_knn_moved: float
    gap_shift: dict

    @staticmethod
    def gap_shift_record(curves: dict) -> dict:
        """``{recipe: {shift: {"gap", "rsum"}}}`` from `gap_shift_curve` frames by recipe."""
        return {m: {f"{s:g}": {"gap": float(g), "rsum": float(v)} for s, g, v in zip(c["shift"], c["gap"], c["rsum"])}
                for m, c in curves.items()}


@dataclass(frozen=True)
class ExplorerSweepResult(_Record):
    """The imbalance explorer's sweep (notebook 05): cross-modal RSUM and each student tower's NDCG@10 over text
    severities × structure weights, ``sweep``: ``{"w<weight>/s<severity>/<metric>": value}``."""

    KIND: ClassVar[str] = "explorer_sweep"
    VERSION: ClassVar[int] = 1
    METRICS: ClassVar[tuple[str, ...]] = ("rsum", "student text ndcg@10", "student image ndcg@10")

    dataset: str
    text_kind: str
    sweep: dict

    @classmethod
    def from_sweep(cls, sweep: pd.DataFrame, dataset: str, text_kind: str) -> "ExplorerSweepResult":
        """From `vlr_viz.widgets.ImbalanceExplorer.sweep`'s frame."""
        return cls(dataset=str(dataset), text_kind=str(text_kind),
                   sweep={f"w{r['structure weight']:g}/s{r['text severity']:g}/{m}": float(r[m])
                          for r in sweep.to_dict("records") for m in cls.METRICS})
