"""Training: `TrainConfig`, `fit` on cached features, checkpoints and history (`vlr_viz.runner` runs it on a dataset,
through the store, on worker processes).

Methods (`vlr_viz.methods`, where plug-ins add more): ``"baseline"`` (matching only), ``"sad"`` (structure-aware
distillation, Yang et al., TIP 2024), ``"covlr"`` (CoVLR as an MLDG-style meta step, our reading). See
`TrainConfig` and `fit`; named recipes
(``"sad-kl"``: the structure-aware variant chosen on validation) in `vlr_viz.train.recipes`.

The names below are imported on first use (`lazy_loader`), so that the torch-free modules of this package
(`config`, `recipes`) can be read without loading torch: the report checks notebook parameters with them.
"""
import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "checkpoint": ["load_checkpoint", "load_model", "recover_checkpoint"],
    "config": ["TrainConfig"],
    "data": ["PairFeatures", "caption_batches", "select_probe"],
    "history": ["History"],
    "model": ["RetrievalModel", "encode"],
    "recipes": ["RECIPES", "recipe_config", "recipe_names"],
    "span": ["RunSpan"],
    "trainer": ["NonFiniteLossError", "TrainResult", "fit"],
})
