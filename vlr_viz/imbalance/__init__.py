"""Modal imbalance: simulate a weaker modality (degradations, presets) and measure it (diagnostics)."""
from .degrade_features import feature_noise
from .degrade_image import IMAGE_KINDS, degrade_images
from .degrade_text import TEXT_KINDS, degrade_captions
from .diagnostics import (alignment, alignment_uniformity, chance_ndcg, diagnose, gap_shift_curve, imbalance_index,
                          imbalance_summary, knn_overlap, knn_overlap_per_item, linear_cka, modality_gap,
                          modality_gap_vector, modality_strength, pair_strengths, relation_distortion, relation_matrix,
                          structure_distortion, uniformity)
from .presets import LEVELS, PRESETS, PRESETS_BY_KIND, calibrate_presets, degrade_pairs

__all__ = [
    "IMAGE_KINDS", "LEVELS", "PRESETS", "PRESETS_BY_KIND", "TEXT_KINDS", "alignment", "alignment_uniformity",
    "calibrate_presets", "chance_ndcg", "degrade_captions", "degrade_images", "degrade_pairs", "diagnose",
    "feature_noise", "gap_shift_curve", "imbalance_index", "imbalance_summary", "knn_overlap", "knn_overlap_per_item", "linear_cka",
    "modality_gap", "modality_gap_vector", "modality_strength", "pair_strengths", "relation_distortion", "relation_matrix",
    "structure_distortion", "uniformity",
]
