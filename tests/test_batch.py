"""attention/batch.py: a padded batch of sentences of different lengths, the padding mask hiding the pad tokens."""
from __future__ import annotations

import numpy as np
import pytest

from attention import attend
from attention.analyses.batch import attend_padded, gap_alone

TEXTS = ["The cat sat on the mat because it was warm.", "Dogs bark."]


@pytest.mark.parametrize("model", ["scratch:minilm", "scratch", "minilm"])
def test_padding_is_masked_and_each_sentence_matches_its_own_run(model):
    batch = attend_padded(TEXTS, model)
    long, short = (attend(text, model) for text in TEXTS)
    assert batch.lengths == [long.n_tokens, short.n_tokens]
    width = long.n_tokens
    assert batch.weights.shape == (2, long.n_layers, long.n_heads, width, width)
    assert batch.tokens[1][:short.n_tokens] == short.tokens and set(batch.tokens[1][short.n_tokens:]) == {"[PAD]"}
    np.testing.assert_array_equal(batch.mask[1], np.arange(width) < short.n_tokens)
    assert batch.weights[1][..., ~batch.mask[1]].max() < 1e-30            # no query looks at a pad token
    np.testing.assert_allclose(batch.weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch.sentence(0), long.weights, atol=1e-5)
    np.testing.assert_allclose(batch.sentence(1), short.weights, atol=1e-5)   # padding changes nothing that is real


def test_scratch_padding_gives_exact_zeros():
    batch = attend_padded(TEXTS, "scratch")
    assert (batch.weights[1][..., ~batch.mask[1]] == 0).all()


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="between two and eight"):
        attend_padded(["only one"], "scratch")
    with pytest.raises(ValueError, match="empty"):
        attend_padded(["fine", "  "], "scratch")


def test_view_methods_of_a_padded_batch():
    """The padded sentence's mask hides exactly its [PAD] keys; its head is the batch's; a sentence alone differs by ~0."""
    texts = ["The cat sat on the mat today.", "It sat."]
    batch = attend_padded(texts, "scratch")
    assert batch.clamp(99, 99) == (batch.weights.shape[1] - 1, batch.weights.shape[2] - 1) and batch.clamp(0, 1) == (0, 1)
    short = 1
    assert batch.is_padded(short) and not batch.is_padded(0)
    mask = batch.key_mask(short)
    width, n = len(batch.tokens[short]), batch.lengths[short]
    assert mask.shape == (width, width) and (mask[:, :n] == 1).all() and (mask[:, n:] == 0).all()
    np.testing.assert_array_equal(batch.head(short, 1, 2), batch.weights[short, 1, 2])
    assert (batch.head(short, 1, 2)[:n, n:] == 0).all()     # no real query looks at padding
    assert batch.gap_to(short, attend(texts[short], "scratch").weights) < 1e-5
    assert batch.gap_to(short, np.zeros_like(batch.sentence(short))) == pytest.approx(float(batch.sentence(short).max()))


def test_gap_alone_is_the_largest_gap_of_any_sentence_and_sees_a_wrong_text():
    """gap_alone runs each text alone: ~0 for the batch's own texts; a different text in its place shows a real gap."""
    texts = ["The cat sat on the mat today.", "It sat."]
    batch = attend_padded(texts, "scratch", max_tokens=128)
    assert gap_alone(batch, texts, 128) < 1e-5
    expected = max(batch.gap_to(i, attend(text, "scratch").weights) for i, text in enumerate(texts))
    assert gap_alone(batch, texts) == pytest.approx(expected)
    assert gap_alone(batch, [texts[0], "It ran."]) > 1e-3          # same length, other token: the attention differs
