"""attention/multihead.py: heads of one layer, concatenation and projection, ablation with its measured effect, diversity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import attend, load_model
from attention.analyses.multihead import ablate, head_distances, layer_heads

SENTENCE = "The animal didn't cross the street because it was too tired."


def test_layer_heads_are_the_engines_numbers():
    heads = layer_heads(SENTENCE, "scratch:minilm", 3)
    result = attend(SENTENCE, "scratch:minilm")
    n = result.n_tokens
    np.testing.assert_allclose(heads.weights, result.weights[3], rtol=0, atol=1e-6)
    assert heads.head_outputs.shape == (12, n, 32) and heads.concatenated.shape == heads.projected.shape == (n, 384)
    for head in (0, 7, 11):   # head h fills columns h·32 … h·32+31 of the concatenation
        np.testing.assert_array_equal(heads.concatenated[:, head * 32:(head + 1) * 32], heads.head_outputs[head])
    attention = load_model("scratch:minilm").network.layers[3].self_attention.output
    with torch.inference_mode():
        projected = attention(torch.from_numpy(heads.concatenated)).numpy()
    np.testing.assert_allclose(heads.projected, projected, atol=1e-5)


def test_removing_nothing_changes_nothing_and_each_head_matters():
    none = ablate(SENTENCE, "scratch:minilm", 2, [])
    assert none.attention_change == none.layer_change == none.final_change == 0.0
    assert none.single_head.shape == (12,) and (none.single_head > 0).all()
    one = ablate(SENTENCE, "scratch:minilm", 2, [int(none.single_head.argmax())])
    assert one.layer_change == pytest.approx(float(none.single_head.max()), rel=1e-4)


def test_removing_more_heads_changes_more():
    one = ablate(SENTENCE, "scratch:minilm", 1, [0])
    several = ablate(SENTENCE, "scratch:minilm", 1, [0, 1, 2, 3, 4, 5])
    all_but_one = ablate(SENTENCE, "scratch:minilm", 1, list(range(1, 12)))
    assert 0 < one.attention_change < several.attention_change < all_but_one.attention_change
    assert 0 < one.layer_change < several.layer_change < all_but_one.layer_change
    assert all_but_one.per_token.shape == (attend(SENTENCE, "scratch:minilm").n_tokens,)
    assert all_but_one.final_change > 0


def test_ablation_on_a_causal_run_and_bad_heads():
    causal = ablate(SENTENCE, "scratch", 0, [1], causal=True)
    assert causal.layer_change > 0
    with pytest.raises(ValueError, match="heads 0–3"):
        ablate(SENTENCE, "scratch", 0, [4])


def test_head_distances():
    uniform = np.full((3, 3), 1 / 3)
    one_hot = np.eye(3)
    distances = head_distances(np.stack([uniform, uniform, one_hot, one_hot[::-1]]))
    assert distances.shape == (4, 4)
    np.testing.assert_allclose(np.diag(distances), 0, atol=1e-6)
    assert distances[0, 1] == pytest.approx(0, abs=1e-6)             # identical heads
    np.testing.assert_allclose(distances, distances.T)
    # one-hot rows pointing to different keys are as far apart as distributions can be (1 bit)
    rows_differ = (np.eye(3) != np.eye(3)[::-1]).any(1)
    assert distances[2, 3] == pytest.approx(rows_differ.mean(), abs=1e-6)
    assert 0 < distances[0, 2] < 1
    real = layer_heads(SENTENCE, "scratch:minilm", 0).distances
    assert (real[~np.eye(12, dtype=bool)] > 0.05).all()             # MiniLM's heads attend differently


def test_view_methods_read_the_layer_and_the_ablation():
    """LayerHeads.diversity names the closest and farthest pair of heads; most_and_least the extremes of single_head."""
    heads = layer_heads("The cat sat on the mat.", "scratch", layer=1)
    assert heads.n_heads == 4 and heads.d_head * heads.n_heads == heads.concatenated.shape[1]
    np.testing.assert_array_equal(heads.head(2), heads.weights[2])
    mean, low, high = heads.diversity()
    pairs = {(a, b): heads.distances[a, b] for a in range(4) for b in range(a + 1, 4)}
    assert (low[1], low[2]) == min(pairs, key=pairs.get) and (high[1], high[2]) == max(pairs, key=pairs.get)
    assert mean == pytest.approx(np.mean(list(pairs.values())), abs=1e-6) and low[0] <= mean <= high[0]
    ablation = ablate("The cat sat on the mat.", "scratch", layer=1, removed=[0])
    (most, most_change), (least, least_change) = ablation.most_and_least()
    assert most_change == ablation.single_head.max() and least_change == ablation.single_head.min()
    assert ablation.single_head[most] == most_change and ablation.single_head[least] == least_change


def test_listed_heads_keep_the_models_heads_and_heads_removed_can_keep_instead():
    from attention.analyses.multihead import heads_removed, listed_heads

    assert listed_heads("0,3,12,x,-1, 2", 12) == [0, 3] and listed_heads("", 4) == [] and listed_heads(None, 4) == []
    assert heads_removed([1, 3], False, 4) == [1, 3]
    assert heads_removed([1, 3], True, 4) == [0, 2]
    assert heads_removed([], True, 3) == [0, 1, 2] and heads_removed([], False, 3) == []
