"""DCMQ: distilling a vision-language teacher into product-quantised cross-modal codes (arXiv 2405.14726).

``config`` (`DCMQConfig`), ``fit`` (the batched training loop: `fit_dcmq`, `fit_dcmq_runs`) and ``result``
(`DCMQResult`). The student is :class:`vlr_viz.models.code_student.CodeStudents`, the objective
:func:`vlr_viz.losses.dcmq.dcmq_loss`, the target :func:`vlr_viz.losses.npc.npc_target`; experiments over code
lengths, seeds and the FAISS baselines are in :mod:`vlr_viz.experiments.dcmq`. The method as implemented, with its
formulas and the choices behind them: docs/codes.md.
"""
from .config import DCMQ_FIELD_CHECKS, SELECT_METRICS, SUPERVISIONS, DCMQConfig
from .fit import fit_dcmq, fit_dcmq_runs
from .result import DCMQResult

__all__ = ["DCMQ_FIELD_CHECKS", "DCMQConfig", "DCMQResult", "SELECT_METRICS", "SUPERVISIONS", "fit_dcmq", "fit_dcmq_runs"]
