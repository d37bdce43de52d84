"""The Efficient attention page's readings of a patterned trace: who may look at whom, and the share of pairs scored."""
from __future__ import annotations

import numpy as np

from attention.analyses.efficient import allowed_pairs, kept_share
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
