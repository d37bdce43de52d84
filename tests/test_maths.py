"""attention/maths.py: the one function that computes attention weights, and multi-head attention around it."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attention.engine.maths import MultiHeadAttention, attention_weights, merge_heads, split_heads


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def test_attention_weights_hand_checkable_example():
    # 1 batch, 1 head, 2 queries, 3 keys, d_k = 4: small enough to follow on paper.
    query = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, -1.0]])
    key = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    # scores = query · keyᵀ = [[3, 2, 0], [0, 0, -3]]; ÷ √4 = ÷ 2
    scores = np.array([[3.0, 2.0, 0.0], [0.0, 0.0, -3.0]]) / 2.0
    expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)

    weights = attention_weights(torch.tensor(query)[None, None].float(), torch.tensor(key)[None, None].float())

    assert weights.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(weights[0, 0].numpy(), expected, rtol=0, atol=1e-6)
    # spelled-out first cell, so the scale 1/√d_k is checked explicitly
    first = math.exp(1.5) / (math.exp(1.5) + math.exp(1.0) + math.exp(0.0))
    assert weights[0, 0, 0, 0].item() == pytest.approx(first, abs=1e-6)


def test_attention_weights_matches_numpy_on_random_multi_head_input():
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(2, 3, 5, 8, generator=generator)
    key = torch.randn(2, 3, 7, 8, generator=generator)
    expected = _softmax_rows(query.numpy() @ key.numpy().swapaxes(-1, -2) / math.sqrt(8))

    weights = attention_weights(query, key)

    assert weights.shape == (2, 3, 5, 7)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, atol=1e-6)


def test_scaling_uses_key_dimension():
    """Doubling d_k by repeating features doubles the dot products but √2 only partly undoes it."""
    generator = torch.Generator().manual_seed(2)
    query = torch.randn(1, 1, 4, 3, generator=generator)
    key = torch.randn(1, 1, 4, 3, generator=generator)
    doubled = attention_weights(torch.cat([query, query], -1), torch.cat([key, key], -1))
    expected = _softmax_rows(2 * (query.numpy() @ key.numpy().swapaxes(-1, -2)) / math.sqrt(6))
    np.testing.assert_allclose(doubled.numpy(), expected, atol=1e-6)


def test_causal_mask_gives_exact_zeros_and_rows_still_sum_to_one():
    generator = torch.Generator().manual_seed(3)
    query = torch.randn(1, 2, 6, 4, generator=generator)
    key = torch.randn(1, 2, 6, 4, generator=generator)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()[None, None]

    weights = attention_weights(query, key, mask)

    upper = torch.ones(6, 6, dtype=torch.bool).triu(1)
    assert (weights[..., upper] == 0).all()              # exactly zero, not merely small
    assert (weights[..., ~upper] > 0).all()
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, atol=1e-6)
    # the allowed part is the softmax over the allowed keys only
    scores = (query @ key.transpose(-2, -1)).numpy() / 2.0
    row = 3
    expected_row = _softmax_rows(scores[..., row, : row + 1])
    np.testing.assert_allclose(weights[..., row, : row + 1].numpy(), expected_row, atol=1e-6)


def test_padding_mask_broadcasts_over_heads_and_queries():
    generator = torch.Generator().manual_seed(4)
    query = torch.randn(2, 3, 4, 8, generator=generator)
    key = torch.randn(2, 3, 5, 8, generator=generator)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]  # [batch, 1, 1, key]

    weights = attention_weights(query, key, mask)

    assert (weights[1, :, :, 3:] == 0).all()
    assert (weights[0] > 0).all()
    unmasked = attention_weights(query[1:], key[1:, :, :3])
    np.testing.assert_allclose(weights[1, :, :, :3].numpy(), unmasked[0].numpy(), atol=1e-6)


def test_split_heads_cuts_model_dimension_into_consecutive_slices():
    x = torch.arange(2 * 3 * 12, dtype=torch.float32).view(2, 3, 12)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 3)  # [batch, head, seq, d_head]
    for head in range(4):
        torch.testing.assert_close(heads[:, head], x[..., head * 3:(head + 1) * 3])


@pytest.mark.parametrize("n_heads", [1, 2, 3, 6])
def test_split_then_merge_heads_round_trips(n_heads):
    x = torch.randn(2, 5, 12)
    torch.testing.assert_close(merge_heads(split_heads(x, n_heads)), x, rtol=0, atol=0)


def test_merge_then_split_heads_round_trips():
    x = torch.randn(3, 4, 7, 5)  # [batch, head, seq, d_head]
    merged = merge_heads(x)
    assert merged.shape == (3, 7, 20)
    torch.testing.assert_close(split_heads(merged, 4), x, rtol=0, atol=0)


def test_multi_head_attention_self_attention_shapes_and_rows():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=16, n_heads=4).eval()
    x = torch.randn(2, 6, 16)
    output, weights = attention(x)
    assert output.shape == (2, 6, 16)
    assert weights.shape == (2, 4, 6, 6)
    np.testing.assert_allclose(weights.sum(-1).detach().numpy(), 1.0, atol=1e-6)


def test_multi_head_attention_cross_attention_uses_context_length():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=16, n_heads=2).eval()
    x = torch.randn(2, 3, 16)        # decoder side: 3 queries
    context = torch.randn(2, 9, 16)  # encoder side: 9 keys
    output, weights = attention(x, context=context)
    assert output.shape == (2, 3, 16)            # one output per query
    assert weights.shape == (2, 2, 3, 9)         # [batch, head, query, key]
    np.testing.assert_allclose(weights.sum(-1).detach().numpy(), 1.0, atol=1e-6)
    # keys come from the context: a different context changes the weights
    _, other_weights = attention(x, context=torch.randn(2, 9, 16))
    assert not torch.allclose(other_weights, weights)


def test_multi_head_attention_equals_torch_multihead_attention():
    """Same projections loaded into torch.nn.MultiheadAttention give the same output and per-head weights."""
    torch.manual_seed(0)
    ours = MultiHeadAttention(d_model=12, n_heads=3).eval()
    theirs = torch.nn.MultiheadAttention(12, 3, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        theirs.out_proj.weight.copy_(ours.output.weight)
        theirs.out_proj.bias.copy_(ours.output.bias)
    x = torch.randn(2, 5, 12)
    context = torch.randn(2, 8, 12)
    with torch.no_grad():
        output, weights = ours(x, context=context)
        expected_output, expected_weights = theirs(x, context, context, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(weights, expected_weights, rtol=0, atol=1e-6)
    torch.testing.assert_close(output, expected_output, rtol=0, atol=1e-5)


def test_multi_head_attention_mask_zeroes_forbidden_keys():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, n_heads=2).eval()
    mask = torch.ones(5, 5, dtype=torch.bool).tril()[None, None]
    with torch.no_grad():
        output, weights = attention(torch.randn(1, 5, 8), mask=mask)
    assert (weights[..., ~mask[0, 0]] == 0).all()
    # causal: the first position's output depends only on itself
    x = torch.randn(1, 5, 8)
    changed = x.clone()
    changed[0, 1:] += 5.0
    with torch.no_grad():
        first, _ = attention(x, mask=mask)
        second, _ = attention(changed, mask=mask)
    torch.testing.assert_close(first[0, 0], second[0, 0])
    assert not torch.allclose(first[0, 1:], second[0, 1:])


def test_multi_head_attention_without_bias():
    attention = MultiHeadAttention(d_model=8, n_heads=2, bias=False)
    assert all(layer.bias is None for layer in (attention.query, attention.key, attention.value, attention.output))


def test_multi_head_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(d_model=10, n_heads=3)
