"""CoVLR (Yang et al., ICME 2024, arXiv 2304.07567) as an MLDG-style meta step: our reading.

The paper treats cross-modal consistency as the meta-train task and intra-modal relation preservation as the
meta-test task; the readable sources do not give the update rule and the public code never takes a meta step.
vlr_viz implements (Li et al., MLDG, AAAI 2018)::

    θ' = θ - α ∇θ L_match(θ)
    θ ← θ - β ∇θ [ L_match(θ) + γ L_rel(θ') ]

θ are the student encoder's parameters, β the outer optimiser (AdamW), ``L_rel`` the structure loss of
`vlr_viz.losses.structure_loss` with ``student_relation=config.covlr_relation`` (default ``"intra"``: S_v and
S_t against the fused teacher relation E) evaluated at θ' with ``torch.func.functional_call``.
First order (default): the inner gradient is detached, so ``∇θ L_rel(θ') = ∇θ' L_rel``. Second order
(``covlr_second_order=True``): ``create_graph=True`` keeps ``∂θ'/∂θ = I - α ∇²L_match`` in the graph.
λ and τ2 (when learnable) are moved by ``L_rel``; 1/τ by ``L_match(θ)``.
"""
from __future__ import annotations

import torch
from torch.func import functional_call

from ..distributed import all_reduce_sum_, gather_batch, is_distributed
from .structure import structure_loss


def covlr_terms(model, image: torch.Tensor, text: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                img_id: torch.Tensor, config, match_fn) -> dict[str, torch.Tensor]:
    """``{"match_loss": L_match(θ), "rel_loss": L_rel(θ')}`` for one (local shard of a) batch.

    ``match_fn(v, t, img_id)`` returns the matching-loss dict on gathered embeddings; ``a``, ``b``, ``img_id``
    are the local shard (gathered here).
    """
    if config.covlr_second_order and is_distributed():
        raise NotImplementedError("second-order CoVLR is single-process only; use covlr_second_order=False")
    encoder = model.encoder
    names, params = zip(*[(n, p) for n, p in encoder.named_parameters() if p.requires_grad])
    v, t = encoder(image, text)
    v, t, a, b, img_id = gather_batch(v, t, a, b, img_id)
    match = match_fn(v, t, img_id)["match_loss"]
    grads = torch.autograd.grad(match, params, create_graph=config.covlr_second_order, retain_graph=True,
                                allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    if not config.covlr_second_order:
        grads = [g.detach() for g in grads]
        all_reduce_sum_(grads)  # the inner step uses the global-batch gradient
    fast = {n: p - config.covlr_alpha * g for n, p, g in zip(names, params, grads)}
    v2, t2 = functional_call(encoder, fast, (image, text))
    v2, t2 = gather_batch(v2, t2)
    rel = structure_loss(v2, t2, a, b, lam=model.fusion.lam, tau2=model.fusion.tau2,
                         student_relation=config.covlr_relation, distance=config.distance,
                         center_teachers=config.center_teachers)["kd_loss"]
    return {"match_loss": match, "rel_loss": rel}
