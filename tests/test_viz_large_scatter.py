import numpy as np
import pytest

from vlr_viz.data import ArrayImages
from vlr_viz.viz import thumbnail_uris
from vlr_viz.viz.large_scatter import common_space_scatter, linked_common_space, point_table, sample_pairs


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


def test_sample_pairs_keeps_whole_pairs_within_the_budget():
    t2i = np.repeat(np.arange(100), 5)  # 100 images with 5 captions each: 600 points
    images, captions, kept_t2i, fraction = sample_pairs(t2i, 100, max_points=120, seed=3)
    assert images.size == 20 and captions.size == 100 and fraction == pytest.approx(120 / 600)
    np.testing.assert_array_equal(images[kept_t2i], t2i[captions])  # every kept caption points at its own image
    assert set(t2i[captions]) == set(images)  # an image comes with all of its captions
    again = sample_pairs(t2i, 100, max_points=120, seed=3)
    np.testing.assert_array_equal(again[0], images)  # seeded
    full = sample_pairs(t2i, 100, max_points=600)
    assert full[3] == 1.0 and full[0].size == 100 and full[1].size == 500
    with pytest.raises(ValueError, match="max_points"):
        sample_pairs(t2i, 100, max_points=1)


def test_a_common_space_above_max_points_is_drawn_on_a_stated_subsample(rng):
    from vlr_viz.viz import common_space_figure

    n = 60
    t2i = np.repeat(np.arange(n), 2)
    emb = {"img": rng.normal(size=(n, 8)), "txt": rng.normal(size=(2 * n, 8))}
    labels = np.arange(n) % 3
    fig = common_space_figure(emb, emb, labels, ["a", "b", "c"], [f"c{j}" for j in range(2 * n)], method="pca",
                              txt_to_img=t2i, max_points=90, seed=1)
    assert fig.layout.meta["n_images"] == 30 and fig.layout.meta["n_captions"] == 60
    assert "a random 50.0 % of the test pairs" in fig.layout.title.text
    whole = common_space_figure(emb, None, labels, ["a", "b", "c"], method="pca", txt_to_img=t2i, max_points=500)
    assert whole.layout.meta["n_images"] == n


def test_linked_common_space_shows_every_point(rng):
    panels = {"before": {"img": rng.normal(size=(4, 8)), "txt": rng.normal(size=(6, 8))}}
    panels["after"] = {"img": 2 * panels["before"]["img"], "txt": 2 * panels["before"]["txt"]}  # same directions
    grid = linked_common_space(panels, [0, 1, 0, 1], ["x", "y"], [0, 0, 1, 2, 3, 3], method="pca")
    widgets = [w for w in _walk(grid) if type(w).__name__ == "JupyterScatter"]
    assert len(widgets) == 2 and all(w.points.shape[0] == 10 for w in widgets)
    np.testing.assert_allclose(widgets[0].points[:, :2], widgets[1].points[:, :2], atol=1e-5)  # aligned, unmoved
