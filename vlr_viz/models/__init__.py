"""vlr_viz.models: the student towers, the fused-teacher scalars, the product quantiser and the code students.

`LAMBDA_PARAMS` is defined here, without torch, for `vlr_viz.train.config`'s checks.
"""

LAMBDA_PARAMS = ("raw", "sigmoid", "softmax")
"""How `vlr_viz.models.fusion` parametrises the fusion weight λ (docs/method.md, A4)."""
