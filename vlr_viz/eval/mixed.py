"""Mixed-modality retrieval: one gallery of all images and all captions, ranked in the common space.

Each query (every image, and the first caption of each image) ranks the gallery ``[images; captions]`` by the
cosine of the student's common-space embeddings, the query itself excluded. Relevance is defined per gallery
item through its image: with ``r = rel[first caption of the query's image]`` (``(M, N)`` ROUGE-L matrix of
`vlr_viz.eval.relevance`), gallery image ``j`` has relevance ``r[j]`` and gallery caption ``c`` has
``r[image of c]``; scored by NDCG@K, plus mAP@K / NDCG@K / kNN accuracy with category relevance.

Difference from the TIP24 code: there the mixed gallery ranks image-text blocks by a mix of cosine scores and
image-text-matching logits, and one of the cross-modal blocks is used transposed. Here every block uses the
same cosine in the common space, so an image and a caption compete on equal terms.

Keys: ``mixed_*`` over all ``2N`` queries, ``mixed-img_*`` / ``mixed-txt_*`` per query modality.
"""
from __future__ import annotations

import numpy as np

from vlr_viz.eval.ranking import cosine_blocks
from vlr_viz.eval.single_modal import category_blocks, check_inputs, gallery_mask, ranking_metrics, relevance_blocks


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)


def mixed_retrieval(img_emb, txt_emb, pairs, rel, *, ks=(10, 20, 50), gain="linear", exclude_family=False,
                    knn_k=10, empty_queries="skip") -> dict:
    """Mixed image+caption retrieval metrics for image queries, caption queries and both together
    (``empty_queries``: see `vlr_viz.eval.ranking`)."""
    rel = check_inputs(pairs, rel, img_emb=img_emb, txt_emb=txt_emb)
    img, txt = _numpy(img_emb), _numpy(txt_emb)
    if img.shape[1] != txt.shape[1]:
        raise ValueError(f"img_emb has dim {img.shape[1]} but txt_emb has dim {txt.shape[1]}: not a common space")
    n, m = pairs.n_images, pairs.n_captions
    first = pairs.first_caption_of_image()
    gallery = np.concatenate([img, txt])
    gallery_image = np.concatenate([np.arange(n), pairs.txt_to_img])  # the image behind each gallery item
    gallery_labels = pairs.labels[gallery_image]
    image_queries = (img, np.arange(n))  # (embeddings, index of the query itself in the gallery)
    caption_queries = (txt[first], n + first)
    both = (np.concatenate([img, txt[first]]), np.concatenate([np.arange(n), n + first]))
    out = {}
    for task, (queries, self_index), rows in (
        ("mixed-img", image_queries, np.arange(n)),
        ("mixed-txt", caption_queries, np.arange(n)),
        ("mixed", both, np.tile(np.arange(n), 2)),
    ):
        mask = gallery_mask(self_index, np.arange(n + m), pairs.family[rows], pairs.family[gallery_image],
                            exclude_family)
        graded = None if rel is None else relevance_blocks(rel, first[rows], gallery_image)  # same for both queries
        relevant = category_blocks(pairs.labels[rows], gallery_labels)
        out.update(ranking_metrics(task, cosine_blocks(queries, gallery), mask, graded, relevant, pairs.labels[rows],
                                   gallery_labels, ks=ks, gain=gain, knn_k=knn_k, empty_queries=empty_queries))
    return out
