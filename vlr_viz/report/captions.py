"""What each figure of the notebooks shows and how to read it: the captions of the report's index.

A figure's title names it; its caption here says what a mark stands for, which direction is better and what to
compare, in one or two sentences. Keys are the names the notebooks record their figures under
(`vlr_viz.notebook.recording.record_figure`). A figure without an entry (a notebook of your own) is captioned with
its title.
"""
from __future__ import annotations

FIGURE_GUIDES: dict[str, str] = {
    # 01 · modal imbalance
    "imbalance_index": (
        "Each line is one degradation kind applied to one modality, from clean (severity 0) to strongest: the "
        "imbalance index (S_img − S_txt) / (S_img + S_txt) of the frozen teachers' category NDCG@10. 0 is balance; "
        "a line rising above 0 means the text side grows weaker, one falling below 0 the image side."),
    "modality_strength": (
        "Each bar is one teacher's single-modal category NDCG@10 (image→image left, text→text right) under one "
        "degradation and severity; higher is stronger. Compare the colours within a group: a degradation should "
        "lower only the modality it hits."),
    "natural_imbalance": (
        "One column per dataset, with no degradation applied: bars are the image and the text teacher's category "
        "NDCG@10 for the queries of each category (top, strongest image side first) and of weak or rich captions "
        "(bottom), diamonds the share of an image's 10 neighbours both teachers agree on. Where the two bars of a "
        "group differ, one modality is naturally weaker there; low diamonds mean the teachers see different "
        "neighbourhoods."),
    # 02 · relation drift
    "relation_drift": (
        "Per epoch, how far each student tower's relations drift from its teacher's: mean |S − R| (top, lower is "
        "closer) and Spearman ρ(S, R) (middle, higher keeps the teacher's neighbour order), colour by run, solid "
        "image and dashed text; the bottom row tracks λ, τ and τ2, and the dotted line marks where stage 2 starts."),
    "relation_matrices": (
        "Cosine relations among the probe items, sorted by category: the teachers (R_v, R_t and their λ-fusion E) "
        "on top, the structure-aware student's relations below. Bright blocks on the diagonal mean items of one "
        "category sit close; a student row that repeats the teachers' blocks kept their structure."),
    "relation_difference": (
        "Each cell is how much the image-tower relation of two probe items changed from the matching-only "
        "baseline to the structure-aware student (red: grew, blue: shrank, white: unchanged), items sorted by "
        "category; red blocks on the diagonal mean the structure term pulled categories together."),
    "loss_curves_sad": (
        "Per epoch, each loss term of the structure-aware student: raw values on top, weighted by their "
        "coefficients below with their sum; the dotted line marks stage 2. A term that stays flat while the sum "
        "falls is not what the training optimises."),
    # 03 · common space geometry
    "common_space": (
        "Every test image (●) and caption (◇) of the common space projected to 2-D, coloured by category, the "
        "matching-only baseline left and the structure-aware student right (aligned by Procrustes, so only real "
        "moves show). Tight single-colour clusters that mix ● and ◇ mean categories and modalities line up."),
    "modality_gap": (
        "Left: the distance between the image and caption centroids per training epoch (lower: the modalities "
        "overlap more). Right: cross-modal RSUM on the test split after moving both modalities along that gap, "
        "0 the trained space and 1 centroids meeting; a line rising to the right means the gap costs retrieval."),
    # 04 · rebalancing report
    "rebalancing_table": (
        "Each row is one method under one condition, each panel one metric: the point is the mean per-seed "
        "difference to the matching-only baseline with its 95 % t-interval. Right of 0 is better than the "
        "baseline; a filled point is significant after Holm's adjustment, an open one is not."),
    "lambda_severity": (
        "The fusion weight λ of the text teacher as each modality is degraded (images left, captions right): "
        "lines are the reliability estimates, crosses the λ the trained students learned (mean over seeds). "
        "Above the dotted 0.5 the fused teacher trusts the text teacher more, below it the vision teacher."),
    "alignment_uniformity": (
        "One panel per tower (image, text), one point per method and condition (colour and symbol): alignment of "
        "matching pairs (x) against uniformity of the embeddings on the sphere (y), mean ± std over seeds. "
        "Lower-left is better on both; compare a method's point with the baseline's under the same condition."),
    # 05 · imbalance explorer
    "explorer_sweep": (
        "What the explorer's controls do, computed ahead: each panel one metric against the text degradation's "
        "severity, one line per structure weight (0: matching and representation terms only). Lines falling to "
        "the right show the weaker captions; the gap between lines is what the structure term changes."),
    "explorer_relations": (
        "The relation matrices of the probe items at the explorer's first state, sorted by category: teachers "
        "on top, the student below, one colour scale per row. This is a still picture; the live explorer "
        "redraws it as its controls move."),
    # 06 · efficient retrieval
    "codes_vs_bits": (
        "Cross-modal RSUM (left) and category mAP (right) against the code length, one line per coding method "
        "(mean ± std over seeds for learned codes), the float embeddings as the dotted ceiling. Higher is "
        "better; compare methods at the same number of bits."),
    "codeword_usage": (
        "How evenly each codebook's codewords are used on the training split, one panel per code length: each "
        "bar counts codewords by their share of the items times the codebook size K (1 = uniform use, 0 = a dead "
        "codeword). Mass near 1 and none at 0 means the code spends all its bits."),
}


def figure_caption(name: str, entry: dict) -> str:
    """The caption of the recorded figure ``name``: its reading guide, else its title, else its name."""
    return FIGURE_GUIDES.get(name) or entry.get("title") or name
