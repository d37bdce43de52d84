"""attention/result.py: the Attention result type that crosses from the core to the views."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attention.run.result import Attention


def stochastic(layers: int, heads: int, n: int, seed: int = 0) -> np.ndarray:
    """Random attention-like weights: [layer, head, query, key], rows summing to 1."""
    raw = np.random.default_rng(seed).random((layers, heads, n, n)) + 0.01
    return raw / raw.sum(-1, keepdims=True)


def make(n: int, layers: int = 2, heads: int = 3, **kwargs) -> Attention:
    return Attention(tokens=[f"t{i}" for i in range(n)], weights=stochastic(layers, heads, n), model="hand", **kwargs)


def test_weights_become_read_only_float32_and_sizes_are_reported():
    result = make(5)
    assert result.weights.dtype == np.float32
    assert result.weights.flags.writeable is False
    assert result.weights.flags.c_contiguous
    with pytest.raises(ValueError):
        result.weights[0, 0, 0, 0] = 1.0
    assert (result.n_layers, result.n_heads, result.n_tokens) == (2, 3, 5)
    assert result.nbytes == 2 * 3 * 5 * 5 * 4


def test_result_is_frozen():
    result = make(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.model = "other"


def test_cross_and_target_weights_are_frozen_and_counted():
    cross = stochastic(2, 3, 4)[:, :, :3, :]                 # [layer, head, target=3, source=4]
    target = stochastic(2, 3, 3)
    result = make(4, cross=cross, target_tokens=["a", "b", "c"], target_weights=target)
    assert result.cross.dtype == np.float32 and not result.cross.flags.writeable
    assert result.target_weights.dtype == np.float32 and not result.target_weights.flags.writeable
    assert result.nbytes == (2 * 3 * 4 * 4 + 2 * 3 * 3 * 4 + 2 * 3 * 3 * 3) * 4


def test_head_is_one_query_by_key_matrix():
    result = make(4)
    np.testing.assert_array_equal(result.head(1, 2), result.weights[1, 2])
    assert result.head(1, 2).shape == (4, 4)


@pytest.mark.parametrize(
    ("layer", "head", "expected"),
    [(0, 0, (0, 0)), (1, 2, (1, 2)), (-5, -1, (0, 0)), (99, 99, (1, 2)), (1.7, "2", (1, 2)), (5, 0, (1, 0))],
)
def test_clamp_gives_nearest_valid_layer_and_head(layer, head, expected):
    assert make(4).clamp(layer, head) == expected


@pytest.mark.parametrize(
    "weights",
    [
        np.ones((2, 3, 4, 5)) / 5,   # keys do not match tokens
        np.ones((2, 3, 5, 4)) / 4,   # queries do not match tokens
        np.ones((3, 4, 4)) / 4,      # no layer axis
        np.ones((1, 2, 3, 4, 4)) / 4,  # an extra axis
    ],
)
def test_rejects_weights_that_do_not_match_the_tokens(weights):
    with pytest.raises(ValueError, match="do not match"):
        Attention(tokens=["a", "b", "c", "d"], weights=weights, model="hand")


def test_rejects_cross_attention_that_does_not_match_tokens():
    with pytest.raises(ValueError):
        make(4, cross=np.ones((2, 3, 5, 7), dtype=np.float32) / 7, target_tokens=["a", "b"])


def test_result_does_not_share_memory_with_the_callers_array():
    weights = stochastic(1, 1, 3).astype(np.float32)
    result = Attention(tokens=["a", "b", "c"], weights=weights, model="hand")
    assert weights.flags.writeable            # the caller's array is left alone
    assert not np.shares_memory(weights, result.weights)


def test_thumbnails_average_blocks_when_evenly_divisible():
    n, size = 6, 3
    weights = np.arange(2 * 2 * n * n, dtype=np.float32).reshape(2, 2, n, n)
    result = Attention(tokens=list("abcdef"), weights=weights, model="hand")

    thumbs = result.thumbnails(size)

    assert thumbs.shape == (2, 2, size, size) and thumbs.dtype == np.float32
    # hand check of one cell: rows 2-3, cols 4-5 of layer 1 head 0
    block = weights[1, 0, 2:4, 4:6]
    assert thumbs[1, 0, 1, 2] == pytest.approx(block.mean())
    expected = weights.reshape(2, 2, size, 2, size, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(thumbs, expected, rtol=1e-6)


def test_thumbnails_average_uneven_blocks():
    n, size = 7, 3
    weights = np.random.default_rng(5).random((1, 2, n, n)).astype(np.float32)
    result = Attention(tokens=list("abcdefg"), weights=weights, model="hand")

    thumbs = result.thumbnails(size)

    assert thumbs.shape == (1, 2, size, size)
    # every position lands in exactly one block and the blocks cover the positions in order
    blocks = [slice(0, 2), slice(2, 5), slice(5, 7)]   # edges round(linspace(0, 7, 4)) = 0, 2, 5
    for row, rows in enumerate(blocks):
        for column, columns in enumerate(blocks):
            np.testing.assert_allclose(thumbs[:, :, row, column], weights[:, :, rows, columns].mean(axis=(2, 3)), rtol=1e-6)


@pytest.mark.parametrize(("n", "size"), [(25, 24), (100, 24), (512, 24), (513, 7)])
def test_thumbnail_rows_keep_total_attention(n, size):
    """Averaging blocks of a row-stochastic matrix: Σ_column thumb × block width = 1 per row."""
    result = make(n, layers=1, heads=2)
    thumbs = result.thumbnails(size)
    assert thumbs.shape == (1, 2, size, size)
    edges = np.linspace(0, n, size + 1).round().astype(int)
    widths = np.diff(edges)
    assert widths.min() >= 1
    np.testing.assert_allclose((thumbs * widths).sum(-1), 1.0, atol=1e-4)
    assert thumbs.min() >= 0 and thumbs.max() <= 1


@pytest.mark.parametrize("n", [3, 24])
def test_thumbnails_of_short_inputs_are_the_weights(n):
    result = make(n)
    thumbs = result.thumbnails(24)
    assert thumbs.shape == (2, 3, n, n)
    np.testing.assert_array_equal(thumbs, result.weights)


def test_the_decoder_side_is_read_through_methods():
    """clamp_target keeps a layer and head inside the decoder's stack; target_head is one head of its self-attention."""
    source, target = 4, 3
    rng = np.random.default_rng(1)
    cross = rng.random((2, 3, target, source)).astype(np.float32)
    cross /= cross.sum(-1, keepdims=True)
    result = make(source, layers=5, heads=6, cross=cross, target_tokens=["a", "b", "c"],
                  target_weights=stochastic(2, 3, target, seed=2))
    assert result.clamp_target(4, 5) == (1, 2) and result.clamp_target(0, 1) == (0, 1)
    np.testing.assert_array_equal(result.target_head(1, 2), result.target_weights[1, 2])
    with pytest.raises(ValueError, match="no decoder side"):
        make(source).clamp_target(0, 0)
    with pytest.raises(ValueError, match="no decoder side"):
        make(source).target_head(0, 0)


def test_last_cross_mean_is_the_decoders_last_layer_averaged_over_heads():
    from attention import attend

    pair = attend("The cat sat.", "scratch", target="Le chat")
    layer, mean = pair.last_cross_mean()
    assert layer == pair.cross.shape[0] - 1
    np.testing.assert_allclose(mean, pair.cross[layer].mean(axis=0), atol=1e-7)
    np.testing.assert_allclose(mean.sum(-1), 1.0, atol=1e-5)      # every target row still sums to 1
    with pytest.raises(ValueError, match="no decoder side"):
        attend("The cat sat.", "scratch").last_cross_mean()
