"""vlr_viz: vision-language retrieval under modal imbalance, with structure-aware distillation."""

__version__ = "0.1.0"
