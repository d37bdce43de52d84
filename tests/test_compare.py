"""attention/compare.py: aligning two token lists and the difference A − B on hand-checkable inputs."""
from __future__ import annotations

import numpy as np
import pytest

from attention import attend
from attention.analyses.compare import align, common_shape, difference, head_differences, head_names, notices
from attention.run.result import Attention


def test_identical_tokens_align_one_to_one():
    alignment = align(["[CLS]", "a", "b", "[SEP]"], ["[CLS]", "a", "b", "[SEP]"])
    assert alignment.a.tolist() == alignment.b.tolist() == [0, 1, 2, 3]
    assert alignment.shared == 4 and not any(alignment.swapped)


def test_an_inserted_token_is_skipped():
    alignment = align(["the", "cat", "sat"], ["the", "black", "cat", "sat"])
    assert list(zip(alignment.a.tolist(), alignment.b.tolist())) == [(0, 0), (1, 2), (2, 3)]
    assert alignment.labels == ["the", "cat", "sat"]


def test_a_swapped_word_is_paired_and_labelled_a_slash_b():
    alignment = align(["the", "doctor", "said", "he", "left"], ["the", "doctor", "said", "she", "left"])
    assert alignment.labels == ["the", "doctor", "said", "he/she", "left"]
    assert alignment.swapped == [False, False, False, True, False]
    assert alignment.shared == 4


def test_swaps_can_be_left_out_and_unequal_runs_are_never_paired():
    assert align(["a", "he", "b"], ["a", "she", "b"], pair_swaps=False).labels == ["a", "b"]
    assert align(["a", "mary", "b"], ["a", "jo", "##hn", "b"]).labels == ["a", "b"]


def test_nothing_shared_gives_an_empty_alignment():
    assert len(align(["x"], ["y", "z"])) == 0


def two_results() -> tuple[Attention, Attention]:
    a = np.zeros((1, 1, 3, 3), dtype=np.float32)
    a[0, 0] = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
    b = np.zeros((1, 1, 4, 4), dtype=np.float32)
    b[0, 0] = [[0.4, 0.1, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [0.2, 0.0, 0.2, 0.6], [0.0, 0.0, 0.5, 0.5]]
    return (Attention(tokens=["the", "cat", "sat"], weights=a, model="hand"),
            Attention(tokens=["the", "big", "cat", "sat"], weights=b, model="hand"))


def test_difference_by_hand():
    result_a, result_b = two_results()
    found = difference(result_a, result_b, align(result_a.tokens, result_b.tokens), 0, 0)
    assert found.labels == ["the", "cat", "sat"]
    # B restricted to its positions 0, 2, 3 (skipping "big"), rows and columns
    np.testing.assert_allclose(found.b, [[0.4, 0.5, 0.0], [0.2, 0.2, 0.6], [0.0, 0.5, 0.5]])
    np.testing.assert_allclose(found.diff, [[0.1, 0.0, 0.0], [0.0, 0.1, -0.1], [0.1, -0.4, 0.3]], atol=1e-7)
    assert found.largest == ("sat", "cat", pytest.approx(-0.4))
    assert found.mean_abs == pytest.approx(1.1 / 9)


def test_head_differences_cover_the_heads_both_models_have():
    result_a = Attention(tokens=["a", "b"], weights=np.full((3, 4, 2, 2), 0.5), model="A")
    weights_b = np.full((2, 6, 2, 2), 0.5, dtype=np.float32)
    weights_b[1, 2] = [[1.0, 0.0], [0.0, 1.0]]
    result_b = Attention(tokens=["a", "b"], weights=weights_b, model="B")
    assert common_shape(result_a, result_b) == (2, 4)
    scores = head_differences(result_a, result_b, align(result_a.tokens, result_b.tokens))
    assert scores.shape == (2, 4)
    assert scores[1, 2] == pytest.approx(0.5) and scores.sum() == pytest.approx(0.5)


def test_same_model_same_sentence_differs_by_nothing():
    result = attend("Cats chase mice.", "scratch")
    alignment = align(result.tokens, result.tokens)
    assert head_differences(result, result, alignment).max() == 0.0


def test_the_scratch_engine_with_minilm_weights_matches_transformers_head_by_head():
    text = "The animal didn't cross the street because it was too tired."
    ours, theirs = attend(text, "scratch:minilm"), attend(text, "minilm")
    scores = head_differences(ours, theirs, align(ours.tokens, theirs.tokens))
    assert scores.shape == (6, 12) and scores.max() < 1e-5


def test_two_real_sentences_pair_the_swapped_word():
    a = attend("The animal didn't cross the street because it was too tired.", "scratch")
    b = attend("The animal didn't cross the street because it was too wide.", "scratch")
    alignment = align(a.tokens, b.tokens)
    assert "tired/wide" in alignment.labels and alignment.shared == len(a.tokens) - 1
    found = difference(a, b, alignment, 1, 2)
    swapped = alignment.labels.index("tired/wide")
    assert np.abs(found.diff[swapped]).sum() > 0  # the swapped word attends differently


def test_notices_name_a_shape_mismatch_and_an_empty_alignment():
    result_a, result_b = two_results()
    assert notices(result_a, result_b, align(result_a.tokens, result_b.tokens)) == []
    wider = Attention(tokens=result_b.tokens, weights=np.repeat(result_b.weights, 2, axis=1), model="hand")   # 1 × 2 heads
    found = notices(result_a, wider, align(result_a.tokens, ["x", "y"]))
    assert len(found) == 2 and "model B 1 × 2; only the 1 × 1 both have" in found[0] and "share no tokens" in found[1]


def test_head_names_and_the_paired_heads_figure():
    from figures.inspect import paired_heads_figure

    assert head_names(2, 2) == {"L0·H0": (0, 0), "L0·H1": (0, 1), "L1·H0": (1, 0), "L1·H1": (1, 1)}
    result_a, result_b = two_results()
    fig = paired_heads_figure(result_a, result_b, {"L0·H0": (0, 0)}, ("A", "B"))
    assert [a.text for a in fig.layout.annotations] == ["A · L0·H0", "B · L0·H0"]
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), result_a.head(0, 0))
    np.testing.assert_allclose(np.asarray(fig.data[1].z, dtype=float), result_b.head(0, 0))
