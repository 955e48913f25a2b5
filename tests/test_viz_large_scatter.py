import numpy as np
import pytest

from vlr_viz.data import ArrayImages
from vlr_viz.viz import thumbnail_uris
from vlr_viz.viz.large_scatter import common_space_scatter, point_table


@pytest.fixture
def table(rng):
    images = np.stack([np.full((9, 6, 3), c, np.uint8) for c in (0, 80, 160, 240)])
    return point_table(rng.random((4, 2)), rng.random((6, 2)), [0, 1, -1, 1], ["cat", "dog"], [0, 0, 1, 2, 3, 3],
                       [f"caption {i}" for i in range(6)], thumbnails=thumbnail_uris(ArrayImages(images), range(4), size=4))


def test_point_table_gives_captions_their_images_category_and_preview(table):
    assert table.modality.tolist() == ["image"] * 4 + ["caption"] * 6
    assert table.category.astype(str).tolist() == ["cat", "dog", "unknown", "dog", "cat", "cat", "dog", "unknown",
                                                   "dog", "dog"]
    assert table.text.tolist()[:4] == ["caption 0", "caption 2", "caption 3", "caption 4"]  # first caption
    assert table.preview[4] == table.preview[0] and table.preview[9] == table.preview[3] != table.preview[0]
    assert all(p.startswith("data:image/png;base64,") for p in table.preview)


def test_point_table_refuses_mismatched_inputs(rng):
    with pytest.raises(ValueError, match="N labels"):
        point_table(rng.random((4, 2)), rng.random((6, 2)), [0, 1], ["a"], [0, 0, 1, 2, 3, 3])
    with pytest.raises(ValueError, match="thumbnails has 1 entries for 4 images"):
        point_table(rng.random((4, 2)), rng.random((2, 2)), [0, 0, 0, 0], ["a"], [0, 1], thumbnails=["x"])


def test_linked_panels_share_the_points_and_the_selection(table):
    grid = common_space_scatter({"baseline": table, "rebalanced": table.assign(x=table.x + 1)})
    widgets = [w for w in _walk(grid) if type(w).__name__ == "JupyterScatter"]
    assert len(widgets) == 2 and all(w.points.shape[0] == len(table) for w in widgets)
    widgets[0].selection = np.array([1, 7])
    assert widgets[1].selection.tolist() == [1, 7]
    with pytest.raises(ValueError, match="same points"):
        common_space_scatter({"a": table, "b": table.iloc[:5]})


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
