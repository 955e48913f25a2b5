"""vlr_viz.eval: retrieval metrics (cross-modal, single-modal, mixed) and the evaluation table (docs/method.md, E).

The names are imported on first use (`lazy_loader`), so that the torch-free modules (`cutoffs`, `ranking`) read
without loading torch.
"""
import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "evaluate": ["evaluate", "metrics_dict"],
    "mixed": ["mixed_retrieval"],
    "ranking": ["EMPTY_QUERIES", "average_precision_at_k", "describe_empty_queries", "knn_accuracy", "ndcg_at_k"],
    "relevance": ["caption_image_relevance", "category_relevance", "rouge_relevance"],
    "retrieval": ["recall_at_k"],
    "single_modal": ["image_to_image", "single_modal_retrieval", "text_to_text"],
})
