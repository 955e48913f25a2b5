"""evaluate(): a tidy table whose rows equal the metric functions' own results."""
import numpy as np
import pytest
import torch

from vlr_viz.data.pairs import PairSet
from vlr_viz.eval import (
    caption_image_relevance,
    evaluate,
    image_to_image,
    metrics_dict,
    mixed_retrieval,
    recall_at_k,
    text_to_text,
)
from vlr_viz.store.arrays import array_cache


@pytest.fixture
def setup():
    captions = ["red apple", "a red apple on a table", "green apple", "man with a hat", "a man",
                "woman with a hat", "blue car", "a fast blue car", "red car", "apple tree", "tree"]
    t2i = np.array([0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 7])
    pairs = PairSet(
        images=np.zeros((8, 2, 2, 3), np.uint8), captions=captions, txt_to_img=t2i,
        labels=np.array([0, 0, 1, 1, 2, 2, -1, 0]), label_names=["a", "b", "c"],
        family=np.array([0, 0, 1, 1, 2, 3, 4, 5]), image_ids=[str(i) for i in range(8)],
        caption_ids=[str(i) for i in range(11)],
    )
    rng = np.random.default_rng(0)
    img = rng.normal(size=(8, 6)).astype(np.float32)
    txt = img[t2i] + rng.normal(size=(11, 6)).astype(np.float32)
    teachers = {"image": rng.normal(size=(8, 9)), "text": rng.normal(size=(11, 4))}
    return pairs, img, txt, teachers


def lookup(df, model, task, metric, relevance):
    row = df[(df.model == model) & (df.task == task) & (df.metric == metric) & (df.relevance == relevance)]
    assert len(row) == 1, (model, task, metric, relevance)
    return row.value.iloc[0]


def test_rows_equal_the_metric_functions(setup, tmp_path):
    pairs, img, txt, teachers = setup
    df = evaluate(torch.tensor(img), torch.tensor(txt), pairs, teachers=teachers, cache=array_cache(tmp_path),
                  ks=(1, 5), ndcg_ks=(2, 4))
    assert list(df.columns) == ["model", "task", "metric", "relevance", "value"]
    assert not df.duplicated(["model", "task", "metric", "relevance"]).any()
    rel = caption_image_relevance(pairs)
    cross = recall_at_k(img, txt, pairs.txt_to_img, (1, 5))
    assert lookup(df, "student", "i2t", "R@5", "pair") == pytest.approx(cross["i2t_R@5"])
    assert lookup(df, "student", "t2i", "meanr", "pair") == pytest.approx(cross["t2i_meanr"])
    assert lookup(df, "student", "cross", "rsum", "pair") == pytest.approx(cross["rsum"])
    opts = dict(ks=(2, 4))
    i2i = image_to_image(img, pairs, rel, **opts)
    assert lookup(df, "student", "i2i", "ndcg@4", "rougeL") == pytest.approx(i2i["i2i_ndcg@4[rougeL]"])
    t2t = text_to_text(teachers["text"], pairs, rel, **opts)
    assert lookup(df, "teacher", "t2t", "map@2", "category") == pytest.approx(t2t["t2t_map@2[category]"])
    mixed = mixed_retrieval(img, txt, pairs, rel, **opts)
    assert lookup(df, "student", "mixed-txt", "ndcg@2", "rougeL") == pytest.approx(mixed["mixed-txt_ndcg@2[rougeL]"])
    # the teacher gets single-modal rows only, and the table holds every key of every function
    assert set(df[df.model == "teacher"].task) == {"i2i", "t2t"}
    expected_rows = (len(cross) - 2) + 2 * len(i2i) + 2 * len(t2t) + len(mixed)  # student + teacher
    assert len(df) == expected_rows
    assert len(list(tmp_path.glob("rougeL-relevance-*.npy"))) == 1


def test_metrics_dict_and_options(setup):
    pairs, img, txt, _ = setup
    rel = caption_image_relevance(pairs)
    df = evaluate(img, txt, pairs, relevance=rel, ks=(1,), ndcg_ks=(3,), gain="exponential", exclude_family=True,
                  model="baseline")
    flat = metrics_dict(df)
    assert len(flat) == len(df)
    exp = image_to_image(img, pairs, rel, ks=(3,), gain="exponential", exclude_family=True)
    assert flat["baseline/i2i/ndcg@3[rougeL-exp]"] == pytest.approx(exp["i2i_ndcg@3[rougeL-exp]"])
    assert "student" not in set(df.model)


def test_bad_teachers(setup):
    pairs, img, txt, teachers = setup
    with pytest.raises(ValueError, match="teachers keys"):
        evaluate(img, txt, pairs, teachers={"vision": teachers["image"]}, ks=(1,))
    with pytest.raises(ValueError, match="img_emb must have 8 rows"):
        evaluate(img, txt, pairs, teachers={"image": teachers["image"][:3]}, ks=(1,))


@pytest.mark.parametrize("convention", ["skip", "zero"])
def test_empty_queries_reach_every_ndcg_row_and_are_recorded(setup, convention):
    pairs, img, txt, _ = setup
    rel = caption_image_relevance(pairs)
    df = evaluate(img, txt, pairs, relevance=rel, ks=(1,), ndcg_ks=(3,), empty_queries=convention)
    assert df.attrs["empty_queries"] == convention
    i2i = image_to_image(img, pairs, rel, ks=(3,), empty_queries=convention)
    mixed = mixed_retrieval(img, txt, pairs, rel, ks=(3,), empty_queries=convention)
    assert lookup(df, "student", "i2i", "ndcg@3", "rougeL") == pytest.approx(i2i["i2i_ndcg@3[rougeL]"])
    assert lookup(df, "student", "mixed", "ndcg@3", "rougeL") == pytest.approx(mixed["mixed_ndcg@3[rougeL]"])
    with pytest.raises(ValueError, match="empty_queries"):
        evaluate(img, txt, pairs, relevance=rel, empty_queries="none")
