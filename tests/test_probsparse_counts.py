"""attention/analyses/efficient.probsparse_counts: the pairs ProbSparse really scores, checked against the engine."""
from __future__ import annotations

import math

import torch

from attention.analyses.efficient import probsparse_counts
from attention.engine.patterns import make_pattern


def test_counts_by_hand():
    found = probsparse_counts(282)
    assert found["u"] == math.ceil(5 * math.log(282)) == 29 and found["sample"] == 29
    assert (found["attended"], found["measured"], found["full"]) == (29 * 282, 282 * 29, 282 * 282)
    short = probsparse_counts(10)                       # 5·ln 10 ≥ 10: every query attends, the measure reads every key
    assert short["u"] == 10 and short["measured"] == short["full"] == 100
    assert probsparse_counts(282, u=5)["attended"] == 5 * 282


def test_the_engine_lets_exactly_u_queries_attend_and_gives_the_rest_uniform_weights():
    n = 40
    torch.manual_seed(0)
    query, key, value = (torch.randn(1, 1, n, 8) * 3 for _ in range(3))
    _, weights = make_pattern("probsparse")(query, key, value)
    rows = weights[0, 0]
    uniform = torch.isclose(rows, torch.full_like(rows, 1 / n)).all(dim=-1)
    assert int((~uniform).sum()) == probsparse_counts(n)["u"]
    assert bool((rows > 0).all())                       # every pair has a weight, though only u rows were scored
