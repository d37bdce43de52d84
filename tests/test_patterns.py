"""Sparse attention patterns on hand-checkable inputs: who may look at whom, exact zeros, equality cases, user errors."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from attention import attend
from attention.engine.maths import attention_weights, causal_mask
from attention.engine.patterns import Pattern, make_pattern
from attention.engine import ScratchConfig, ScratchTransformer

SENTENCE = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def qkv() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(2, 3, 23, 8, generator=generator) * 2 for _ in range(3))


def test_sliding_mask_by_hand():
    allowed = make_pattern("sliding", window=1).mask(5).int().tolist()
    assert allowed == [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]


def test_dilated_mask_by_hand():
    row = make_pattern("dilated", window=4, dilation=2).mask(9)[4].int().tolist()
    assert row == [1, 0, 1, 0, 1, 0, 1, 0, 1]      # keys 0, 2, 4, 6, 8: every 2nd within 4 of query 4


def test_causal_pattern_sees_only_earlier_keys():
    assert torch.equal(make_pattern("causal").mask(4), torch.ones(4, 4, dtype=torch.bool).tril())
    assert make_pattern("sliding", causal=True, window=1).mask(4).int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]


def test_global_tokens_look_at_all_and_are_looked_at_by_all():
    allowed = make_pattern("longformer", window=1, global_tokens=[0, -1]).mask(6)
    assert allowed[0].all() and allowed[:, 0].all() and allowed[5].all() and allowed[:, 5].all()
    assert allowed[2].int().tolist() == [1, 1, 1, 1, 0, 1]


@pytest.mark.parametrize("name, options", [
    ("sliding", {"window": 3}), ("dilated", {"window": 6, "dilation": 3}), ("longformer", {"window": 2, "global_tokens": [0, 7, -1]}),
    ("bigbird", {"window": 2, "global_tokens": [0], "block": 4, "random_blocks": 2, "seed": 1}), ("causal", {}),
])
@pytest.mark.parametrize("causal", [False, True])
def test_blocked_patterns_equal_dense_attention_masked_by_the_pattern(qkv, name, options, causal):
    query, key, value = qkv
    pattern = make_pattern(name, causal=causal, **options)
    heads, weights = pattern(query, key, value)
    allowed = pattern.mask(query.shape[2])
    reference = attention_weights(query, key, allowed[None, None])
    assert torch.all(weights[..., ~allowed] == 0)                                      # exactly 0 outside the pattern
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), rtol=0, atol=1e-6)
    torch.testing.assert_close(weights, reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(heads, reference @ value, rtol=0, atol=1e-5)


def test_bigbird_adds_whole_random_key_blocks():
    allowed = make_pattern("bigbird", window=1, global_tokens=[0], block=4, random_blocks=1, seed=3).mask(16)
    extra = allowed & ~make_pattern("longformer", window=1, global_tokens=[0]).mask(16)
    assert extra.any()
    for query_block in range(4):                              # the random keys come as whole 4 × 4 blocks
        for key_block in range(4):
            rows, columns = slice(query_block * 4, query_block * 4 + 4), slice(key_block * 4, key_block * 4 + 4)
            assert not extra[rows, columns].any() or allowed[rows, columns].all()


def test_sliding_with_a_window_as_long_as_the_text_is_full_attention(qkv):
    query, key, value = qkv
    heads, weights = make_pattern("sliding", window=query.shape[2])(query, key, value)
    torch.testing.assert_close(weights, attention_weights(query, key), rtol=0, atol=1e-6)
    torch.testing.assert_close(heads, attention_weights(query, key) @ value, rtol=0, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_probsparse_with_u_equal_to_n_is_full_attention(qkv, causal):
    query, key, value = qkv
    n = query.shape[2]
    heads, weights = make_pattern("probsparse", causal=causal, u=n)(query, key, value)
    full = attention_weights(query, key, causal_mask(n) if causal else None)
    torch.testing.assert_close(weights, full, rtol=0, atol=1e-6)
    torch.testing.assert_close(heads, full @ value, rtol=0, atol=1e-5)


def test_probsparse_keeps_the_most_peaked_queries_and_averages_values_for_the_rest():
    key = torch.eye(4)[None, None] * 3                        # four orthogonal keys
    query = torch.zeros(1, 1, 4, 4)
    query[0, 0, 2, 1] = 10.0                                  # query 2 points hard at key 1: max − mean is largest
    query[0, 0, 0, 3] = 1.0                                   # query 0 points mildly at key 3
    value = torch.arange(16.0).view(1, 1, 4, 4)
    heads, weights = make_pattern("probsparse", u=1)(query, key, value)
    assert weights[0, 0, 2, 1] > 0.99                          # the active query attends sharply
    assert torch.all(weights[0, 0, [0, 1, 3]] == 0.25)        # lazy queries: uniform weights …
    torch.testing.assert_close(heads[0, 0, 0], value[0, 0].mean(0))   # … so they take the mean of the values
    heads, weights = make_pattern("probsparse", u=2)(query, key, value)
    assert weights[0, 0, 0, 3] > 0.25 and torch.all(weights[0, 0, [1, 3]] == 0.25)


def test_probsparse_samples_about_log_n_keys_per_query_at_long_lengths():
    generator = torch.Generator().manual_seed(1)
    query, key, value = (torch.randn(1, 2, 600, 8, generator=generator) for _ in range(3))
    pattern = make_pattern("probsparse", seed=4)
    heads, weights = pattern(query, key, value)
    u = math.ceil(5 * math.log(600))
    active = (weights != 1 / 600).any(-1)                    # rows that are not uniform
    assert pattern.active_queries(600) == u == 32 and active.sum(-1).tolist() == [[u, u]]
    torch.testing.assert_close(heads, weights @ value, rtol=0, atol=1e-5)
    again, _ = replace(pattern, keep_weights=False)(query, key, value)
    assert torch.equal(heads, again)


def test_long_inputs_need_no_dense_matrix():
    """A 4,096-step sliding window without keep_weights: the output matches dense attention on a slice, no n × n tensor kept."""
    generator = torch.Generator().manual_seed(2)
    query, key, value = (torch.randn(1, 1, 4096, 4, generator=generator) for _ in range(3))
    heads, weights = replace(make_pattern("sliding", window=8), keep_weights=False)(query, key, value)
    assert weights is None and heads.shape == (1, 1, 4096, 4)
    part = slice(2000, 2100)                                  # queries 2000–2099 see keys 1992–2107 only
    local = attention_weights(query[:, :, part], key[:, :, 1992:2108],
                              ((torch.arange(2000, 2100)[:, None] - torch.arange(1992, 2108)[None]).abs() <= 8)[None, None])
    torch.testing.assert_close(heads[:, :, part], local @ value[:, :, 1992:2108], rtol=0, atol=1e-5)


@pytest.mark.parametrize("options, message", [
    ({"pattern": "sliding", "window": 0}, "window must be a whole number of at least 1"),
    ({"pattern": "sliding", "window": 2.5}, "window must be a whole number"),
    ({"pattern": "dilated", "dilation": 0}, "dilation must be a whole number of at least 1"),
    ({"pattern": "probsparse", "u": 0}, "u must be a whole number of at least 1"),
    ({"pattern": "longformer", "global_tokens": [99]}, "Global token 99 is outside the text's"),
    ({"pattern": "longformer", "global_tokens": ["CLS"]}, "global_tokens must be a list of token positions"),
    ({"pattern": "bigbird", "block": -1}, "block must be a whole number of at least 1"),
    ({"pattern": "flash"}, "Unknown attention pattern 'flash'"),
    ({"pattern": "sliding", "u": 3}, "The 'sliding' pattern does not use u"),
    ({"window": 3}, "The 'full' pattern does not use window"),
    ({"pattern": "sliding", "target": "Hallo"}, "leave out target"),
])
def test_bad_options_raise_errors_written_for_users(options, message):
    with pytest.raises(ValueError, match=message):
        attend(SENTENCE, "scratch", **options)


def test_a_pattern_on_a_model_run_by_transformers_points_to_the_scratch_engine():
    with pytest.raises(ValueError, match="pick 'scratch:minilm'"):
        attend(SENTENCE, "minilm", pattern="sliding", window=2)


def test_attend_with_patterns_on_real_weights():
    full = attend(SENTENCE, "scratch:minilm")
    assert np.array_equal(attend(SENTENCE, "scratch:minilm", pattern="full").weights, full.weights)
    np.testing.assert_allclose(attend(SENTENCE, "scratch:minilm", pattern="sliding", window=40).weights, full.weights, atol=1e-6)
    np.testing.assert_allclose(attend(SENTENCE, "scratch:minilm", pattern="probsparse", u=full.n_tokens).weights, full.weights, atol=1e-6)
    banded = attend(SENTENCE, "scratch:minilm", pattern="longformer", window=2, global_tokens=[0])
    allowed = make_pattern("longformer", window=2, global_tokens=[0]).mask(banded.n_tokens).numpy()
    assert np.all(banded.weights[..., ~allowed] == 0) and banded.options["pattern"] == "longformer"
    np.testing.assert_allclose(banded.weights.sum(-1), 1, atol=1e-5)
    causal = attend(SENTENCE, "scratch", pattern="sliding", window=2, causal=True)
    assert causal.meta["causal"] and np.all(np.triu(causal.weights, 1) == 0)


def test_decoders_keep_their_patterns_causal():
    model = ScratchTransformer.random(ScratchConfig(vocab_size=50, causal=True, n_layers=1), seed=0)
    ids = torch.arange(12)[None]
    weights = model.run(ids, pattern=Pattern("sliding", window=3)).weights[0]
    assert torch.all(weights.triu(1) == 0) and torch.all(weights[..., ~make_pattern("sliding", window=3).mask(12)] == 0)
    with pytest.raises(ValueError, match="pass no mask"):
        model.run(ids, mask=causal_mask(12), pattern=Pattern("sliding"))
