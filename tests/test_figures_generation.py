"""Figures of the Generation page on a hand-built Generation: what each draws is the generation's own numbers."""
from __future__ import annotations

import numpy as np

from attention.analyses.generation import Generation
from attention.analyses.lens import LogitLens
from figures.generation import (cache_figure, candidates_figure, continuations_table, latest_heads_figure, lens_figure,
                                perplexity_figure, roles_caption, score_maps)
from test_pages_learn import array


def hand_built() -> Generation:
    """[CLS] a b → c d: 2 layers × 2 heads, uniform causal weights (row q: 1/(q+1) on keys 0..q)."""
    n = 5
    rows = np.tril(np.ones((n, n), dtype=np.float32)) / np.arange(1, n + 1, dtype=np.float32)[:, None]
    weights = np.broadcast_to(rows, (2, 2, n, n)).copy()
    weights[1, 1] = np.eye(n, dtype=np.float32)                       # one head looks at itself only
    candidates = [[("c", 0.6), ("<b>", 0.3), ("x", 0.1)], [("y", 0.5), ("d", 0.4), ("z", 0.1)]]
    return Generation("toy", "a b", ["[CLS]", "a", "b", "c", "d"], [1, 2, 3, 4, 5], 3, weights, candidates, [0.6, 0.4],
                      "c d", {}, [[0], [1]], [], ["c", "c d"])


def test_candidates_mark_the_pick_and_escape_tokens():
    fig = candidates_figure(hand_built(), 1)
    bar = fig.data[0]
    np.testing.assert_allclose(array(bar.x), [0.5, 0.4, 0.1])
    assert list(bar.y) == ["y", "d", "z"]
    assert bar.marker.color[1] != bar.marker.color[0]                  # d was picked though y was likelier
    assert candidates_figure(hand_built(), 0).data[0].y[1] == "&lt;b&gt;"


def test_cache_figure_shows_rows_up_to_the_newest_and_blanks_the_future():
    run = hand_built()
    fig = cache_figure(run, 1, 1, 1)                                   # after step 1 the newest token is 3 ("c")
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (4, 4)
    np.testing.assert_allclose(np.nan_to_num(z), np.eye(4))
    assert np.isnan(z[np.triu_indices(4, 1)]).all()
    newest, cache = fig.layout.shapes
    assert (newest.y0, newest.y1) == (2.5, 3.5) and (cache.x1, cache.y1) == (2.5, 2.5)
    assert "3 keys and values stored" in fig.layout.annotations[0].text


def test_latest_heads_and_score_maps():
    run = hand_built()
    z = np.array(latest_heads_figure(run, 0, 2).data[0].z)
    np.testing.assert_allclose(z, np.full((2, 5), 0.2))
    maps = score_maps({"trained": np.eye(2, dtype=np.float32), "random": np.zeros((2, 2), np.float32)}, "induction")
    assert len(maps.data) == 2 and np.array(maps.data[0].z).tolist() == [[1, 0], [0, 1]]
    bars = perplexity_figure({"perplexity": 30.0, "bigram": 45.0, "unigram": 190.0, "tokens": 100})
    assert list(bars.data[0].x) == [30.0, 45.0, 190.0]


def test_lens_figure_draws_the_newest_column_best_first():
    """3 rows (embeddings, 2 layers) × 2 positions × top 2: the figure shows the newest position's column."""
    ids = np.arange(12).reshape(3, 2, 2)
    names = [[[f"t{r}{p}{k}" for k in range(2)] for p in range(2)] for r in range(3)]
    names[2][1][0] = "<b>"
    probabilities = np.array([[[0.5, 0.1], [0.4, 0.2]], [[0.6, 0.1], [0.3, 0.2]], [[0.7, 0.2], [0.9, 0.05]]], np.float32)
    lens = LogitLens("toy", ["[CLS]", "a"], ["embeddings", "after layer 0", "after layer 1"], ids, names, probabilities)
    heat = lens_figure(lens).data[0]
    np.testing.assert_allclose(np.array(heat.z, dtype=float), probabilities[:, 1])
    assert list(heat.y) == ["embeddings", "after layer 0", "after layer 1 (output)"]
    assert heat.text[2][0] == "&lt;b&gt;<br>90%" and heat.text[0][1] == "t011<br>20%"
    np.testing.assert_allclose(np.array(lens_figure(lens, 0).data[0].z, dtype=float), probabilities[:, 0])


def test_continuations_table_and_roles_caption():
    table = continuations_table([{"prompt": "p", "greedy": "g", "sampled": "s", "actual": "a"}])
    assert list(table.values()) == [["p"], ["g"], ["s"], ["a"]]
    caption = roles_caption({"previous": (0, 3, 0.91), "induction": (2, 1, 0.55), "sink": (3, 0, 0.04)})
    assert "layer 0 · head 3 puts 91% of its weight on the previous token" in caption
    assert "layer 2 · head 1 puts 55% of its weight in the second copy" in caption
    assert "no head puts much weight on the first token (the most: layer 3 · head 0, 4%)" in caption
