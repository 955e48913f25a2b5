"""Fixed colours: per category id (`category_color`) and per named series (`series_color`: teacher, student,
baseline, a method, a loss term, a degradation kind), so one category or one model keeps its colour in every
figure. A registered method (`vlr_viz.methods`, plug-ins included) brings its own colour and label
(`series_label`)."""
from __future__ import annotations

from vlr_viz.keys import content_hash
from vlr_viz.methods import get_method, method_names

#: Tableau 10, then the extra colours of plotly's "Safe" palette: category id ``c`` gets ``CATEGORY_PALETTE[c % n]``.
CATEGORY_PALETTE = (
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC",
    "#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288", "#AA4499", "#44AA99", "#999933", "#882255", "#661100",
)
UNKNOWN_COLOR = "#7F7F7F"

#: Series whose colour is fixed by name (lower-cased match); the built-in methods' colours are their own
#: (`vlr_viz.methods`), a plug-in's method follows these names.
SERIES_COLORS = {
    "teacher": "#595959",
    "student": "#2A7AB9",
    "baseline": get_method("baseline").color,
    "matching": get_method("baseline").color,
    "rebalanced": "#1B7837",
    "structure-aware": "#1B7837",
    "structure_aware": "#1B7837",
    "covlr": get_method("covlr").color,
    "sad": get_method("sad").color,
    "sad-kl": "#1B7837",
    "sad-kl-reliability": "#01665E",
    "image": "#2A7AB9",
    "text": "#E08214",
    # loss terms (Paul Tol's "bright" scheme)
    "match_loss": "#4477AA",
    "rep_img_loss": "#66CCEE",
    "rep_txt_loss": "#228833",
    "kd_loss": "#EE6677",
    "kd_v_loss": "#CCBB44",
    "kd_t_loss": "#AA3377",
    "rel_loss": "#777777",
    # degradation kinds: image kinds cool, text kinds warm, feature noise grey
    "blur": "#0077BB",
    "noise": "#33BBEE",
    "downscale": "#009988",
    "occlusion": "#004488",
    "word_dropout": "#EE7733",
    "truncation": "#CC3311",
    "word_replace": "#EE3377",
    "coarsen": "#BB5566",
    "mismatch": "#DDAA33",
    "feature_noise": "#555555",
}
_SERIES_FALLBACK = ("#8C510A", "#01665E", "#C51B7D", "#4D9221", "#5E3C99", "#B35806", "#2D004B", "#7F3B08",
                    "#35978F", "#A50026")


def category_color(category_id: int) -> str:
    """Fixed colour of a category id (``-1``, unknown: grey)."""
    c = int(category_id)
    return UNKNOWN_COLOR if c < 0 else CATEGORY_PALETTE[c % len(CATEGORY_PALETTE)]


def method_colors() -> dict[str, str]:
    """``{method name: colour}`` of every registered method that names its colour (``method.color``; the built-ins'
    are in `SERIES_COLORS` too)."""
    return {name.lower(): get_method(name).color for name in method_names() if get_method(name).color}


def series_label(name) -> str:
    """How figures name a series in their hover text: a registered method with its label (``"rkd (RKD
    distance)"``), any other name as it is."""
    text = str(name)
    label = get_method(text).label if text in method_names() else text
    return text if label in ("", text) else f"{text} ({label})"


def series_color(name: str) -> str:
    """Fixed colour of a named series: known names (teacher, student, baseline, rebalanced, a registered method,
    ...) by table, any other name by a stable hash of its text, so the same name has the same colour in every
    figure and session."""
    key = str(name).strip().lower()
    table = {**SERIES_COLORS, **{k: v for k, v in method_colors().items() if k not in SERIES_COLORS}}
    if key in table:
        return table[key]
    for known, colour in table.items():
        if key.startswith(known + " ") or key.endswith(" " + known):
            return colour
    return _SERIES_FALLBACK[int(content_hash(key)[:8], 16) % len(_SERIES_FALLBACK)]
