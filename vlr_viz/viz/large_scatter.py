"""The common space at scale: jupyter-scatter (WebGL through anywidget, made for millions of points) for point clouds
that stall plotly, with linked before/after views.

`common_space_scatter` takes the 2-D layouts of two models (e.g. `vlr_viz.viz.geometry.project_2d`, the second
Procrustes-aligned to the first) and returns one widget: the panels share pan/zoom, hover and selection (a point
selected in the baseline is selected in the rebalanced view too). Points are coloured by category; images are
drawn larger than captions; the tooltip shows the category, the modality and the caption, with a thumbnail of the
image when thumbnails are given (`vlr_viz.viz.thumbnail_uris`). Plotly (`vlr_viz.viz.common_space_figure`) stays the choice for small sets and
static PNGs; `PLOTLY_MAX_POINTS` is where a notebook switches: above it, `sample_pairs` draws a seeded subsample of
whole pairs for the plotly figure (its fraction stated in the title) and `linked_common_space` shows every point.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..arrays import first_caption_of_image
from .sampling import PLOTLY_MAX_POINTS, sample_pairs  # noqa: F401 (part of this module's interface)


SIZES = {"image": 5.0, "caption": 2.5}


def point_table(image_xy, text_xy, labels, label_names: Sequence[str], txt_to_img, captions=None,
                thumbnails: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per point (images first, then captions): ``x, y, modality, category, text`` and, with thumbnails
    (one data URL per image), ``preview`` (a caption shows its image's)."""
    image_xy, text_xy = np.asarray(image_xy, np.float32), np.asarray(text_xy, np.float32)
    labels, t2i = np.asarray(labels, np.int64), np.asarray(txt_to_img, np.int64)
    n, m = image_xy.shape[0], text_xy.shape[0]
    if labels.shape != (n,) or t2i.shape != (m,) or image_xy.shape[1:] != (2,) or text_xy.shape[1:] != (2,):
        raise ValueError(f"need (N, 2) image and (M, 2) caption layouts with N labels and M caption→image entries; "
                         f"got {image_xy.shape}, {text_xy.shape}, {labels.shape}, {t2i.shape}")
    names = np.array([*map(str, label_names), "unknown"], dtype=object)
    category = names[np.where(labels < 0, len(label_names), labels)]
    first = first_caption_of_image(t2i, n)
    caption_text = np.asarray(captions if captions is not None else [""] * m, dtype=object)
    image_text = np.where(first >= 0, caption_text[np.maximum(first, 0)], "") if m else np.full(n, "", object)
    table = pd.DataFrame({
        "x": np.concatenate([image_xy[:, 0], text_xy[:, 0]]),
        "y": np.concatenate([image_xy[:, 1], text_xy[:, 1]]),
        "modality": pd.Categorical(["image"] * n + ["caption"] * m, categories=list(SIZES)),
        "category": pd.Categorical(np.concatenate([category, category[t2i]]), categories=list(dict.fromkeys(names))),
        "text": np.concatenate([image_text, caption_text]),
    })
    if thumbnails is not None:
        if len(thumbnails) != n:
            raise ValueError(f"thumbnails has {len(thumbnails)} entries for {n} images")
        urls = np.asarray(thumbnails, dtype=object)
        table["preview"] = np.concatenate([urls, urls[t2i]])
    return table


def common_space_scatter(tables: Mapping[str, pd.DataFrame], height: int = 420):
    """Linked jupyter-scatter panels, one per ``{title: point_table}`` (same points in the same order)."""
    import jscatter

    sizes = {len(t) for t in tables.values()}
    if len(sizes) != 1:
        raise ValueError(f"the panels must show the same points; got sizes {sorted(sizes)}")
    panels = []
    for title, table in tables.items():
        sc = jscatter.Scatter(data=table, x="x", y="y", color_by="category", size_by="modality", size_map=SIZES,
                              opacity_unselected=0.3, legend=True, axes=False, height=height)
        sc.tooltip(enable=True, properties=["category", "modality", "text"])
        if "preview" in table:
            sc.tooltip(preview="preview", preview_type="image")
        panels.append((sc, title))
    if len(panels) == 1:
        return panels[0][0].show()
    return jscatter.compose(panels, sync_view=True, sync_hover=True, sync_selection=True, row_height=height)


def linked_common_space(panels: Mapping[str, Mapping[str, np.ndarray]], labels, label_names: Sequence[str],
                        txt_to_img, captions=None, thumbnails: Sequence[str] | None = None, method: str = "umap",
                        seed: int = 0, cache_dir=None, height: int = 420):
    """Every image and caption of ``{title: {"img": (N, D), "txt": (M, D)}}`` in linked jupyter-scatter panels: each
    panel laid out by `vlr_viz.viz.geometry.panel_layouts` (projections cached with ``cache_dir``, later panels
    Procrustes-aligned to the first), shown by `common_space_scatter`."""
    from .geometry import panel_layouts

    layouts = panel_layouts([(e["img"], e["txt"]) for e in panels.values()], method, seed, cache_dir)
    n = len(labels)
    tables = {title: point_table(xy[:n], xy[n:], labels, label_names, txt_to_img, captions, thumbnails)
              for title, xy in zip(panels, layouts)}
    return common_space_scatter(tables, height=height)
