"""attention/positions.py: position codes, and the permutation experiment (no positions -> permutation-equivariant)."""
from __future__ import annotations

import numpy as np
import pytest

from attention.analyses.positions import learned, permutation_experiment, shuffle_order, similarity, sinusoidal

SENTENCE = "The animal didn't cross the street because it was too tired."


@pytest.mark.parametrize(("model", "layer", "head", "seed"), [("scratch:minilm", 0, 0, 0), ("scratch:minilm", 5, 3, 4), ("scratch", 1, 2, 1)])
def test_without_positions_the_pattern_permutes_with_the_words(model, layer, head, seed):
    experiment = permutation_experiment(SENTENCE, model, layer, head, seed)
    assert sorted(experiment.order) == list(range(len(experiment.tokens)))
    assert experiment.order != sorted(experiment.order)
    assert experiment.gap_without < 1e-5                  # equivariant: shuffled input = permuted pattern
    assert experiment.gap_with > 1e-2                     # positions break it: order matters
    assert experiment.shuffled_tokens[0] == experiment.tokens[0] and experiment.shuffled_tokens[-1] == experiment.tokens[-1]


def test_shuffle_order_is_seeded_and_keeps_the_ends():
    assert shuffle_order(10, 3) == shuffle_order(10, 3)
    assert shuffle_order(10, 3) != shuffle_order(10, 4)
    order = shuffle_order(10, 3)
    assert order[0] == 0 and order[-1] == 9 and sorted(order) == list(range(10))
    assert sorted(shuffle_order(3, 0)) == [0, 1, 2] and shuffle_order(3, 0) != [0, 1, 2]


def test_permutation_experiment_refuses_other_engines_and_causal_models(tmp_path):
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    from attention.run.models import _bundled_path

    with pytest.raises(ValueError, match="scratch:<weights>"):
        permutation_experiment(SENTENCE, "minilm")
    GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=30522, n_positions=32)).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="bidirectional"):
        permutation_experiment(SENTENCE, f"scratch:{tmp_path}")


def test_one_word_still_shuffles_all_three_tokens():
    experiment = permutation_experiment("a", "scratch")
    assert len(experiment.tokens) == 3 and experiment.order != [0, 1, 2]
    assert experiment.gap_without < 1e-5


def test_sinusoidal_codes_and_their_similarity():
    codes = sinusoidal(50, 64)
    assert codes.shape == (50, 64)
    np.testing.assert_allclose(codes[0, 0::2], 0, atol=1e-7)   # position 0: sin 0 = 0, cos 0 = 1
    np.testing.assert_allclose(codes[0, 1::2], 1, atol=1e-7)
    sim = similarity(codes)
    np.testing.assert_allclose(np.diag(sim), 1, atol=1e-5)
    # nearby positions are more alike than distant ones, and the similarity depends only on the distance
    assert sim[10, 11] > sim[10, 20] > sim[10, 40]
    assert sim[3, 8] == pytest.approx(sim[20, 25], abs=1e-4)


def test_minilm_learned_positions():
    table = learned("scratch:minilm", 40)
    assert table.shape == (40, 384)
    sim = similarity(table)
    assert sim[5, 6] > sim[5, 30]
    with pytest.raises(ValueError, match="sinusoidal"):
        learned("scratch")
