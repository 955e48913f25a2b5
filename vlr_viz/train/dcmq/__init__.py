"""DCMQ: distilling a vision-language teacher into product-quantised cross-modal codes (arXiv 2405.14726).

``config`` (`DCMQConfig`), ``fit`` (the batched training loop: `fit_dcmq`, `fit_dcmq_runs`) and ``result``
(`DCMQResult`). The student is :class:`vlr_viz.models.code_student.CodeStudents`, the objective
:func:`vlr_viz.losses.dcmq.dcmq_loss`, the target :func:`vlr_viz.losses.npc.npc_target`; experiments over code
lengths, seeds and the FAISS baselines are in :mod:`vlr_viz.experiments.dcmq`. The method as implemented, with its
formulas and the choices behind them: docs/codes.md. The names are imported on first use (`lazy_loader`): the
config reads without torch.
"""
import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "config": ["DCMQ_FIELD_CHECKS", "SELECT_METRICS", "SUPERVISIONS", "DCMQConfig"],
    "fit": ["fit_dcmq", "fit_dcmq_runs"],
    "result": ["DCMQResult"],
})
