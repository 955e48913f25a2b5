"""`StructureAware` (``sad``): structure-aware distillation from two frozen teachers (Yang et al., TIP 2024)."""
from __future__ import annotations

from ..losses import DEFAULT_WEIGHTS
from .matching import Matching, match_terms
from .registry import register


@register
class StructureAware(Matching):
    """``sad``: stage 2 adds representation-level and structure-level distillation from the two teachers
    (docs/method.md, A2-A6). Terms with weight zero are not computed (no forward, no backward)."""

    name = "sad"
    label = "structure-aware distillation"
    color = "#5AAE61"
    default_weights = dict(DEFAULT_WEIGHTS)
    needs_teacher_relations = True

    def describe(self, config) -> list[str]:
        w = config.weights
        return [f"weights=(match {w['match_loss']:g}, rep_img {w['rep_img_loss']:g}, rep_txt {w['rep_txt_loss']:g}, "
                f"kd {w['kd_loss']:g}, kd_v {w['kd_v_loss']:g}, kd_t {w['kd_t_loss']:g}) at tau2={config.tau2:g}",
                f"relation={config.student_relation}/{config.distance}"]

    def stage_weights(self, config, stage: int) -> dict[str, float]:
        return super().stage_weights(config, stage) if stage == 1 else dict(config.weights)

    def terms_of_embeddings(self, model, v, t, a, b, img_id, config, stage: int) -> dict:
        if stage == 1:
            return super().terms_of_embeddings(model, v, t, a, b, img_id, config, stage)
        from ..distributed import gather_batch
        from ..losses import representation_loss, structure_loss

        w = config.weights
        v, t, a, b, img_id = gather_batch(v, t, a, b, img_id)
        terms = match_terms(model, v, t, img_id, config)
        if w["rep_img_loss"] or w["rep_txt_loss"]:
            terms |= representation_loss(v, t, a, b, img_id, proj_v=model.proj_image_teacher,
                                         proj_t=model.proj_text_teacher, logit_scale=model.logit_scale())
        if w["kd_loss"] or w["kd_v_loss"] or w["kd_t_loss"]:
            terms |= structure_loss(v, t, a, b, lam=model.fusion.lam, tau2=model.fusion.tau2,
                                    student_relation=config.student_relation, distance=config.distance,
                                    center_teachers=config.center_teachers)
        return terms

    def initial_lambda(self, config, train) -> tuple[float, dict]:
        """λ0 = ``config.init_lambda``, or with ``lambda_mode="reliability"`` the teachers' measured reliability on
        the training pairs (`vlr_viz.models.fusion.reliability_lambda`; docs/method.md, A4)."""
        if config.lambda_mode != "reliability":
            return super().initial_lambda(config, train)
        from ..models.fusion import reliability_lambda

        lam, rel = reliability_lambda(train.teacher_image.cpu().numpy(), train.teacher_text.cpu().numpy(),
                                      train.txt_to_img.cpu().numpy(), reference=config.reliability_reference,
                                      labels=train.labels, seed=config.seed)
        if config.lambda_param != "raw":
            lam = min(max(lam, 1e-3), 1 - 1e-3)
        return lam, {"lambda_mode": config.lambda_mode, "lambda_param": config.lambda_param, "lambda_init": lam,
                     "reliability": rel}
