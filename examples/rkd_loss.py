"""RKD-D as a vlr_viz method: relational knowledge distillation by distance (Park et al., CVPR 2019).

Within a batch, each tower's pairwise student distances, divided by their mean, match the fused teacher's under the
Huber loss (smooth L1, δ = 1). The fused teacher's distances are ``λ·ψ(b) + (1 − λ)·ψ(a)`` over the frozen text
and image teachers' features ``b`` and ``a``, each normalised by its own mean; λ is the model's fusion weight,
constant here (this loss gives it no gradient). Walked through in docs/extending.md.

    vlr-viz train --plugin examples/rkd_loss.py --method rkd --dataset twemoji
"""
import torch
import torch.nn.functional as F

from vlr_viz.distributed import gather_batch
from vlr_viz.methods import Matching, match_terms, register


def normalised_distances(x: torch.Tensor) -> torch.Tensor:
    """ψ_D: Euclidean distances between the rows of ``x``, divided by their mean over distinct pairs."""
    d = torch.cdist(x, x)
    n = d.shape[0]
    return d / (d.sum() / (n * (n - 1))).clamp_min(1e-12)


def rkd_distance_loss(v, t, a, b, lam) -> torch.Tensor:
    """Huber loss between the student's normalised distances (image and text tower, averaged) and the teacher's."""
    with torch.no_grad():
        teacher = lam * normalised_distances(b.float()) + (1 - lam) * normalised_distances(a.float())
    off = ~torch.eye(teacher.shape[0], dtype=torch.bool, device=teacher.device)
    return sum(F.smooth_l1_loss(normalised_distances(s)[off], teacher[off]) for s in (v, t)) / 2


@register
class RKD(Matching):
    """``rkd``: stage 1 matching; stage 2 matching + ``weights["rkd_loss"]`` · RKD-D."""

    name = "rkd"
    label = "RKD distance"
    color = "#E7298A"
    default_weights = {"match_loss": 1.0, "rkd_loss": 1.0}
    needs_teacher_relations = True
    relative_cost = 1.1

    def stage_weights(self, config, stage):
        weights = super().stage_weights(config, stage)
        return weights if stage == 1 else {**weights, "rkd_loss": config.weights["rkd_loss"]}

    def terms_of_embeddings(self, model, v, t, a, b, img_id, config, stage):
        if stage == 1:
            return super().terms_of_embeddings(model, v, t, a, b, img_id, config, stage)
        v, t, a, b, img_id = gather_batch(v, t, a, b, img_id)
        lam = model.fusion.lam.detach()
        return {**match_terms(model, v, t, img_id, config), "rkd_loss": rkd_distance_loss(v, t, a, b, lam)}
