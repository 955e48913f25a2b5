"""vlr_viz: vision-language retrieval under modal imbalance, with structure-aware distillation."""
from . import moved as _moved

__version__ = "0.1.0"

_moved.install()
