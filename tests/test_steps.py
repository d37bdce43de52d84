"""attention/steps.py: one head opened up. The numbers are the engine's: the weights equal attend()'s."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attention import attend
from attention.analyses.steps import TOY_INPUTS, TOY_PROJECTIONS, sentence_steps, toy_steps

SENTENCE = "The animal didn't cross the street because it was too tired."


@pytest.mark.parametrize(("model", "layer", "head", "causal"),
                         [("scratch:minilm", 0, 0, False), ("scratch:minilm", 4, 7, False), ("scratch", 1, 2, False),
                          ("scratch", 0, 3, True), ("scratch:minilm", 5, 11, True)])
def test_step_weights_equal_attend(model, layer, head, causal):
    steps = sentence_steps(SENTENCE, model, layer, head, causal)
    result = attend(SENTENCE, model, **({"causal": True} if causal else {}))
    assert steps.tokens == result.tokens
    np.testing.assert_allclose(steps.weights, result.weights[layer, head], rtol=0, atol=1e-6)


def test_each_step_follows_from_the_one_before():
    steps = sentence_steps(SENTENCE, "scratch:minilm", 2, 5)
    n, d_k = len(steps.tokens), steps.d_k
    assert steps.inputs.shape == (n, 384) and steps.queries.shape == steps.keys.shape == steps.values.shape == (n, 32)
    np.testing.assert_allclose(steps.scores, steps.queries @ steps.keys.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(steps.scaled, steps.scores / math.sqrt(d_k), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(steps.masked, steps.scaled)                      # bidirectional: nothing masked
    softmax = np.exp(steps.scaled - steps.scaled.max(1, keepdims=True))
    np.testing.assert_allclose(steps.weights, softmax / softmax.sum(1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(steps.output, steps.weights @ steps.values, rtol=1e-4, atol=1e-5)
    # queries are the layer input times this head's slice of W_Q (plus its bias)
    bias = steps.queries - steps.inputs @ steps.projections["query"]
    np.testing.assert_allclose(bias, np.broadcast_to(bias[0], bias.shape), atol=1e-4)


def test_causal_mask_step_hides_later_tokens():
    steps = sentence_steps(SENTENCE, "scratch", 0, 0, causal=True)
    n = len(steps.tokens)
    np.testing.assert_array_equal(steps.mask, np.tri(n, dtype=bool))
    assert np.isneginf(steps.masked[~steps.mask]).all()
    assert (steps.weights[~steps.mask] == 0).all()


def test_toy_numbers_can_be_checked_by_hand():
    steps = toy_steps()
    x = np.array(TOY_INPUTS, dtype=float)
    queries, keys, values = (x @ np.array(TOY_PROJECTIONS[name]) for name in ("query", "key", "value"))
    assert steps.tokens == ["I", "like", "green", "tea"] and steps.d_k == 4
    np.testing.assert_array_equal(steps.queries, queries)          # whole numbers, exactly
    np.testing.assert_array_equal(steps.keys, keys)
    np.testing.assert_array_equal(steps.values, values)
    # "I" asks with [2, 0, 1, 1]; the keys answer; dot products are whole numbers, ÷ √4 halves them
    np.testing.assert_array_equal(steps.queries[0], [2, 0, 1, 1])
    np.testing.assert_array_equal(steps.scores[0], [2, 5, 3, 5])
    np.testing.assert_array_equal(steps.scaled[0], [1.0, 2.5, 1.5, 2.5])
    expected = np.exp([1.0, 2.5, 1.5, 2.5]) / np.exp([1.0, 2.5, 1.5, 2.5]).sum()
    np.testing.assert_allclose(steps.weights[0], expected, atol=1e-6)
    np.testing.assert_allclose(steps.weights[0], [0.086, 0.386, 0.142, 0.386], atol=5e-4)   # what the page prints
    np.testing.assert_allclose(steps.output[0], expected @ values, atol=1e-6)
    for name, matrix in TOY_PROJECTIONS.items():
        np.testing.assert_array_equal(steps.projections[name], matrix)


def test_toy_with_causal_mask():
    steps = toy_steps(causal=True)
    np.testing.assert_allclose(steps.weights[0], [1, 0, 0, 0])
    scaled = steps.scaled[1, :2]
    np.testing.assert_allclose(steps.weights[1, :2], np.exp(scaled) / np.exp(scaled).sum(), atol=1e-6)
    assert (steps.weights[np.triu_indices(4, 1)] == 0).all()


@pytest.mark.parametrize(("model", "layer", "head", "words"),
                         [("minilm", 0, 0, "scratch:<weights>"), ("scratch", 5, 0, "layers 0–1"), ("scratch", 0, 9, "heads 0–3")])
def test_bad_requests_are_refused_with_a_message(model, layer, head, words):
    with pytest.raises(ValueError, match=words):
        sentence_steps(SENTENCE, model, layer, head)


def test_a_token_cap_gives_the_same_tokens_and_weights_as_attend():
    long = " ".join(["The animal crossed the street."] * 40)
    steps = sentence_steps(long, "scratch", 1, 1, max_tokens=64)
    result = attend(long, "scratch", max_tokens=64)
    assert steps.tokens == result.tokens and len(steps.tokens) == 64
    np.testing.assert_allclose(steps.weights, result.weights[1, 1], atol=1e-6)
    assert any("truncated" in notice for notice in steps.notices)


def test_strongest_keys_and_the_difference_to_other_weights():
    """Hand-checkable on the toy: the strongest keys are the row's weights sorted, and a head differs from itself by 0."""
    toy = toy_steps()
    row = toy.weights[2]
    found = toy.strongest_keys(2, count=3)
    assert [key for key, _ in found] == list(np.argsort(row)[::-1][:3])
    assert [weight for _, weight in found] == sorted(row.tolist(), reverse=True)[:3]
    assert toy.largest_difference(toy.weights) == 0.0
    shifted = toy.weights.copy()
    shifted[1, 3] += 0.25
    assert toy.largest_difference(shifted) == pytest.approx(0.25)
