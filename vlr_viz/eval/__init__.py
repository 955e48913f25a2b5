"""vlr_viz.eval: retrieval metrics (cross-modal, single-modal, mixed) and the evaluation table (docs/method.md, E)."""
from vlr_viz.eval.evaluate import evaluate, metrics_dict
from vlr_viz.eval.mixed import mixed_retrieval
from vlr_viz.eval.ranking import EMPTY_QUERIES, average_precision_at_k, describe_empty_queries, knn_accuracy, ndcg_at_k
from vlr_viz.eval.relevance import caption_image_relevance, category_relevance, rouge_relevance
from vlr_viz.eval.retrieval import recall_at_k
from vlr_viz.eval.single_modal import image_to_image, single_modal_retrieval, text_to_text

__all__ = [
    "recall_at_k",
    "ndcg_at_k",
    "EMPTY_QUERIES",
    "describe_empty_queries",
    "average_precision_at_k",
    "knn_accuracy",
    "rouge_relevance",
    "caption_image_relevance",
    "category_relevance",
    "image_to_image",
    "text_to_text",
    "single_modal_retrieval",
    "mixed_retrieval",
    "evaluate",
    "metrics_dict",
]
