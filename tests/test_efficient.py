"""The Efficient attention page's readings of a patterned trace: who may look at whom, and the share of pairs scored."""
from __future__ import annotations

import numpy as np

from attention.analyses.efficient import allowed_pairs, at_longest, global_positions, informer_u, kept_share, probsparse_counts
from attention.analyses.masks import mask_kinds
from attention.run.trace import trace

TEXT = "The animal didn't cross the street because it was too tired."


def test_a_sliding_window_allows_the_band_and_the_head_scores_only_inside_it():
    run = trace(TEXT, "scratch", pattern="sliding", window=1)
    allowed = allowed_pairs(run, 0, 1)
    n = run.n_tokens
    query, key = np.indices((n, n))
    np.testing.assert_array_equal(allowed, np.where(np.abs(query - key) <= 1, 2, 0))
    assert ((run.head(0, 1) > 0) <= (allowed == 2)).all()             # nothing outside the band gets weight
    assert kept_share(run, 0, 1) == (3 * n - 2) / n ** 2               # the band of width 3, softmax weights > 0


def test_probsparse_marks_its_active_queries_rows():
    run = trace(TEXT, "scratch", pattern="probsparse", u=3)
    allowed = allowed_pairs(run, 1, 0)
    rows = allowed[:, 0]
    assert set(np.unique(allowed)) <= {1, 2} and (allowed == rows[:, None]).all()   # whole rows
    active = rows == 2
    assert active.sum() == 3                                              # u queries attend
    lazy = run.head(1, 0)[~active]
    np.testing.assert_allclose(lazy, 1 / run.n_tokens, atol=1e-6)         # the rest: the mean, an even row
    assert kept_share(run, 1, 0) == 1.0


def test_mask_kinds_for_four_tokens():
    kinds = mask_kinds(4)
    np.testing.assert_array_equal(kinds["bidirectional"], np.ones((4, 4)))
    np.testing.assert_array_equal(kinds["causal"], [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]])


def test_informer_u_is_five_ln_n_rounded_up_and_at_most_n():
    assert informer_u(282) == 29 == probsparse_counts(282)["u"]            # the engine's own default agrees
    assert informer_u(10) == 10 and informer_u(1) == 1                     # 5·ln 10 ≥ 10: every query


def test_global_positions_read_commas_and_semicolons_and_refuse_words():
    assert global_positions("0, -1") == ([0, -1], None)
    assert global_positions("1;2, 3 ,") == ([1, 2, 3], None) and global_positions("") == ([], None)
    positions, message = global_positions("0, last")
    assert positions == [0] and "whole numbers" in message


def test_at_longest_picks_each_patterns_row_at_the_longest_length():
    costs = {"rows": [{"length": 64, "pattern": "full", "ms": 1}, {"length": 512, "pattern": "full", "ms": 9},
                      {"length": 512, "pattern": "sliding", "ms": 2}, {"length": 64, "pattern": "sliding", "ms": 1}]}
    assert at_longest(costs) == (512, {"full": costs["rows"][1], "sliding": costs["rows"][2]})


def test_pattern_figures_draw_the_mask_and_both_heads():
    from figures.efficient import head_pair_figure, pattern_figure

    patterned, full = trace(TEXT, "scratch", pattern="sliding", window=1), trace(TEXT, "scratch")
    mask = pattern_figure(patterned, 0, 1, "sliding")
    assert mask.layout.title.text == "sliding: who may look at whom"
    np.testing.assert_array_equal(np.asarray(mask.data[0].z), allowed_pairs(patterned, 0, 1))
    assert pattern_figure(trace(TEXT, "scratch", pattern="probsparse"), 1, 0, "probsparse").layout.title.text == \
        "Active queries · layer 1 · head 0"
    pair = head_pair_figure(patterned, full, 0, 1, "sliding")
    np.testing.assert_allclose(np.asarray(pair.data[0].z, dtype=float), patterned.head(0, 1))
    np.testing.assert_allclose(np.asarray(pair.data[1].z, dtype=float), full.head(0, 1))
