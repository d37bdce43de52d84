"""Head statistics, pattern types, rollout, flow and head similarity on hand-built matrices whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from attention import attend
from figures.stats import SIMILARITY_TICKS, similarity_heatmap
from attention.analyses.stats import (FLOW_MAX_TOKENS, classify, flow, head_stats, is_punctuation, overview, pattern_counts,
                                      result_stats, rollout, similarity_order)

TOKENS = ["[CLS]", "the", "cat", "sat", "on", "a", "warm", "mat", "today", "[SEP]"]   # no punctuation, one sentence
N = len(TOKENS)


def one_head(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(matrix, dtype=np.float32)[None, None]          # [layer 1, head 1, query, key]


def stats_of(matrix: np.ndarray, tokens: list[str] = TOKENS) -> dict:
    found = head_stats(one_head(matrix), tokens)
    return {**{name: float(value[0, 0]) for name, value in found.values.items()}, "pattern": found.pattern[0, 0],
            **{name: float(value[0, 0]) for name, value in found.scores.items()}}


def test_a_pure_diagonal_head_looks_only_at_itself():
    found = stats_of(np.eye(N))
    assert found["entropy"] == 0 and found["distance"] == 0 and found["self"] == 1
    assert found["previous"] == found["next"] == found["punctuation"] == 0
    assert found["cls"] == pytest.approx(1 / N) and found["sep"] == pytest.approx(1 / N)   # [CLS] and [SEP] rows see themselves
    assert found["V"] == pytest.approx(0.2) and found["D"] == pytest.approx(0.8) and found["pattern"] == "diagonal"


def test_a_pure_cls_head_is_vertical():
    matrix = np.zeros((N, N))
    matrix[:, 0] = 1
    found = stats_of(matrix)
    assert found["cls"] == 1 and found["entropy"] == 0 and found["sep"] == 0
    assert found["distance"] == pytest.approx(np.arange(N).mean())     # query q is q positions from [CLS]
    assert found["self"] == pytest.approx(1 / N) and found["previous"] == pytest.approx(1 / (N - 1))  # only token 1's previous is [CLS]
    assert found["pattern"] == "vertical"


def test_a_uniform_head_spreads_out_and_is_heterogeneous():
    found = stats_of(np.full((N, N), 1 / N))
    assert found["entropy"] == pytest.approx(np.log2(N), abs=1e-5)
    for name in ("cls", "sep", "self", "previous", "next"):
        assert found[name] == pytest.approx(1 / N, abs=1e-6)
    assert found["distance"] == pytest.approx((N * N - 1) / (3 * N), abs=1e-5)   # mean |q − k| over all pairs
    assert found["pattern"] == "heterogeneous" and np.isnan(found["B"])


def test_a_previous_token_head_and_punctuation():
    matrix = np.eye(N, k=-1)
    matrix[0, 0] = 1
    found = stats_of(matrix)
    assert found["previous"] == 1 and found["next"] == 0 and found["distance"] == pytest.approx(0.9)
    assert found["pattern"] == "diagonal"
    tokens = TOKENS[:-2] + [".", "[SEP]"]
    stripe = np.zeros((N, N))
    stripe[:, N - 2] = 1                                                # everything on the full stop
    assert stats_of(stripe, tokens)["punctuation"] == 1 and stats_of(stripe, tokens)["pattern"] == "vertical"
    assert [is_punctuation(t) for t in (".", "##,", "Ġ!", "—", "'s", "cat", "[SEP]")] == [True, True, True, True, False, False, False]


def test_a_head_that_stays_inside_its_sentence_is_block():
    tokens = ["[CLS]", *"abcdef", ".", *"ghijkl", ".", "[SEP]"]       # two sentences of 8 tokens each
    sentence = np.repeat([0, 1], 8)
    matrix = (sentence[:, None] == sentence[None, :]) / 8.0
    found = stats_of(matrix, tokens)
    assert found["B"] == pytest.approx(1) and found["V"] == pytest.approx(0.25) and found["pattern"] == "block"
    assert stats_of(matrix, ["x"] * 16)["pattern"] == "heterogeneous"   # no sentence boundary: no block


@pytest.mark.parametrize("v, d, b, expected", [
    (0.6, 0.1, np.nan, "vertical"), (0.2, 0.6, np.nan, "diagonal"), (0.3, 0.3, np.nan, "vertical + diagonal"),
    (0.3, 0.25, 0.9, "block"), (0.3, 0.25, np.nan, "heterogeneous"), (0.1, 0.1, 0.79, "heterogeneous"),
])
def test_the_stated_rule(v, d, b, expected):
    assert classify(np.array([v]), np.array([d]), np.array([b]))[0] == expected


def residual(matrix: np.ndarray) -> np.ndarray:
    return 0.5 * np.asarray(matrix) + 0.5 * np.eye(len(matrix))


def test_rollout_on_a_two_layer_toy():
    a1 = np.array([[0.8, 0.2], [0.4, 0.6]])
    a2_heads = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])   # two heads whose mean is uniform
    weights = np.stack([np.stack([a1, a1]), a2_heads])                           # [layer 2, head 2, 2, 2]
    rolled = rollout(weights)
    assert rolled.shape == (2, 2, 2)
    np.testing.assert_allclose(rolled[0], residual(a1), atol=1e-7)
    np.testing.assert_allclose(rolled[1], residual(np.full((2, 2), 0.5)) @ residual(a1), atol=1e-7)
    np.testing.assert_allclose(rolled[1], [[0.725, 0.275], [0.375, 0.625]], atol=1e-7)   # by hand: [[.75,.25],[.25,.75]] @ [[.9,.1],[.2,.8]]
    np.testing.assert_allclose(rolled.sum(-1), 1, atol=1e-6)


def test_flow_on_toys():
    a1 = np.array([[0.8, 0.2], [0.4, 0.6]])
    np.testing.assert_allclose(flow(one_head(a1)), residual(a1), atol=1e-6)           # one layer: the edges themselves
    a2 = np.array([[0.3, 0.7], [0.9, 0.1]])
    weights = np.stack([a1[None], a2[None]])
    r1, r2 = residual(a1), residual(a2)
    # two layers: the paths through each middle token are disjoint, so the flow is the sum of their bottlenecks
    expected = np.array([[sum(min(r2[q, m], r1[m, k]) for m in range(2)) for k in range(2)] for q in range(2)])
    np.testing.assert_allclose(flow(weights), expected, atol=2e-6)
    np.testing.assert_allclose(flow(weights, layer=0), r1, atol=1e-6)
    assert not np.allclose(flow(weights), rollout(weights)[1])                          # flow is not rollout


def test_flow_is_limited_to_short_texts():
    weights = np.full((1, 1, FLOW_MAX_TOKENS + 1, FLOW_MAX_TOKENS + 1), 1 / (FLOW_MAX_TOKENS + 1))
    with pytest.raises(ValueError, match=f"up to {FLOW_MAX_TOKENS} tokens"):
        flow(weights)


def test_similarity_puts_alike_heads_together():
    n = 6
    diagonal, cls = np.eye(n), np.zeros((n, n))
    cls[:, 0] = 1
    uniform = np.full((n, n), 1 / n)
    near = lambda m: 0.97 * m + 0.03 * uniform                                          # noqa: E731
    weights = np.stack([np.stack([diagonal, cls]), np.stack([near(cls), near(diagonal)])])   # heads 0..3
    distances, order = similarity_order(weights)
    assert distances.shape == (4, 4) and np.allclose(np.diag(distances), 0)
    assert distances[0, 1] == pytest.approx(1 - 1 / n, abs=0.01)   # disjoint rows except [CLS]'s own (JS distance 1)
    assert distances[0, 3] < 0.25 and distances[1, 2] < 0.25
    position = {head: index for index, head in enumerate(order)}
    assert abs(position[0] - position[3]) == 1 and abs(position[1] - position[2]) == 1


def test_on_a_real_model_every_head_gets_numbers_and_a_known_pattern():
    result = attend("The cat sat on the mat. Then it slept.", "scratch")
    found = result_stats(result)
    assert found.shape == (result.n_layers, result.n_heads)
    assert all(np.isfinite(value).all() for value in found.values.values())
    assert set(found.pattern.ravel()) <= {"vertical", "diagonal", "vertical + diagonal", "block", "heterogeneous"}
    assert len(found.rows()) == result.n_layers * result.n_heads and found.rows()[0]["layer"] == 0


@pytest.mark.parametrize(("layers", "heads"), [(6, 12), (12, 12), (2, 4)])
def test_similarity_heatmap_labels_are_readable_and_every_head_is_named_in_the_hover(layers, heads):
    n = layers * heads
    order = np.random.default_rng(0).permutation(n)
    fig = similarity_heatmap(np.zeros((n, n)), order, heads)
    names = [f"L{index // heads}·H{index % heads}" for index in order]
    (trace,) = fig.data
    assert list(trace.x) == list(trace.y) == names                           # every head keeps its name (hover: %{x}, %{y})
    assert "%{x}" in trace.hovertemplate and "%{y}" in trace.hovertemplate
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.tickfont.size >= 10                                        # was 8 px: unreadable at 72 heads
        assert len(axis.tickvals) <= SIMILARITY_TICKS
        assert list(axis.tickvals) == list(axis.ticktext) == names[::-(-n // SIMILARITY_TICKS)]
    if n <= SIMILARITY_TICKS:
        assert list(fig.layout.xaxis.tickvals) == names                      # few heads: every one labelled


def _exact_max_flow(capacity: np.ndarray, source: int, sink: int) -> float:
    """Edmonds–Karp in float64 on a dense capacity matrix: the exact reference for attention flow."""
    residual_capacity = capacity.astype(np.float64).copy()
    total = 0.0
    while True:
        parent = {source: None}
        queue = [source]
        while queue and sink not in parent:
            node = queue.pop(0)
            for nxt in np.nonzero(residual_capacity[node] > 1e-15)[0]:
                if int(nxt) not in parent:
                    parent[int(nxt)] = node
                    queue.append(int(nxt))
        if sink not in parent:
            return total
        path, node = [], sink
        while parent[node] is not None:
            path.append((parent[node], node))
            node = parent[node]
        push = min(residual_capacity[a, b] for a, b in path)
        for a, b in path:
            residual_capacity[a, b] -= push
            residual_capacity[b, a] += push
        total += push


def test_flow_equals_an_exact_floating_point_max_flow():
    """Random 3-layer, 5-token attention: flow's integer capacities (billionths) agree with exact float max-flow to 1e-7 (the float32 output's own rounding)."""
    rng = np.random.default_rng(3)
    raw = rng.random((3, 2, 5, 5)) ** 3
    weights = (raw / raw.sum(-1, keepdims=True)).astype(np.float32)
    layers = 0.5 * weights.astype(np.float64).mean(1) + 0.5 * np.eye(5)
    layers /= layers.sum(-1, keepdims=True)
    n, top = 5, 3
    capacity = np.zeros(((top + 1) * n, (top + 1) * n))
    for level in range(1, top + 1):
        capacity[level * n:(level + 1) * n, (level - 1) * n:level * n] = layers[level - 1]
    expected = np.array([[_exact_max_flow(capacity, top * n + query, key) for key in range(n)] for query in range(n)])
    np.testing.assert_allclose(flow(weights), expected, atol=1e-7)


def test_overview_gathers_one_sentences_views_and_leaves_flow_out_of_long_texts():
    short = attend("The cat sat.", "scratch")
    found = overview(short)
    np.testing.assert_array_equal(found.rollout, rollout(short.weights))
    np.testing.assert_array_equal(found.flow, flow(short.weights))
    np.testing.assert_array_equal(found.stats.pattern, result_stats(short).pattern)
    distances, order = similarity_order(short.weights)
    np.testing.assert_array_equal(found.distances, distances)
    np.testing.assert_array_equal(found.order, order)
    long = attend(" ".join(["word"] * (FLOW_MAX_TOKENS + 5)), "scratch")
    assert long.n_tokens > FLOW_MAX_TOKENS and overview(long).flow is None


def test_pattern_counts_count_every_type_in_order():
    pattern = np.array([["vertical", "block"], ["vertical", "diagonal"]])
    assert pattern_counts(pattern) == {"vertical": 2, "diagonal": 1, "vertical + diagonal": 0, "block": 1, "heterogeneous": 0}


def test_rollout_flow_figure_draws_the_last_layer_and_flow_when_there_is_one():
    from figures.stats import rollout_flow_figure

    rolled, flows = np.random.default_rng(0).random((3, 4, 4)), np.eye(4)
    tokens = list("abcd")
    fig = rollout_flow_figure(tokens, rolled, flows)
    assert [a.text for a in fig.layout.annotations][:2] == ["Rollout after layer 2", "Attention flow"]
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), rolled[-1])
    assert len(rollout_flow_figure(tokens, rolled, None).data) == 1
