"""Training: `TrainConfig`, `fit` on cached features, `run_training` on a dataset, checkpoints and history.

Methods: ``"baseline"`` (matching only), ``"sad"`` (structure-aware distillation, Yang et al., TIP 2024),
``"covlr"`` (CoVLR as an MLDG-style meta step, our reading). See `TrainConfig` and `fit`; named recipes
(``"sad-kl"``: the structure-aware variant chosen on validation) in `vlr_viz.train.recipes`.
"""
from .checkpoint import load_checkpoint, load_model, recover_checkpoint
from .config import METHODS, TrainConfig
from .data import PairFeatures, caption_batches, select_probe
from .history import History
from .model import RetrievalModel, encode
from .recipes import RECIPES, recipe_config
from .run import run_training
from .trainer import NonFiniteLossError, TrainResult, fit

__all__ = ["METHODS", "RECIPES", "History", "NonFiniteLossError", "PairFeatures", "RetrievalModel", "TrainConfig",
           "TrainResult", "caption_batches", "encode", "fit", "load_checkpoint", "load_model", "recipe_config",
           "recover_checkpoint", "run_training", "select_probe"]
