"""attention/links.py: word-piece merging (sum over key pieces, mean over query pieces) and thresholded links."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from attention import attend
from attention.analyses.links import (
    format_heads, layer_links, merge_pieces, parse_heads, parse_pin, word_groups,
)
from attention.run.result import Attention
from figures.payloads import payload


def stochastic(layers: int, heads: int, n: int, seed: int = 0) -> np.ndarray:
    raw = np.random.default_rng(seed).random((layers, heads, n, n)) + 0.01
    return raw / raw.sum(-1, keepdims=True)


def test_word_groups_join_wordpiece_continuations_and_keep_specials_alone():
    groups = word_groups(["[CLS]", "un", "##believ", "##able", "cat", "[SEP]"], [None, 0, 0, 0, 1, None])
    assert groups.labels == ["[CLS]", "unbelievable", "cat", "[SEP]"]
    assert groups.starts.tolist() == [0, 1, 4, 5]
    assert groups.sizes.tolist() == [1, 3, 1, 1]
    assert groups.word_ids == [None, 0, 1, None]


def test_word_groups_strip_space_marks_of_bpe_and_sentencepiece():
    assert word_groups(["▁Hel", "lo", "▁world"], [0, 0, 1]).labels == ["Hello", "world"]
    assert word_groups(["ĠHel", "lo", "Ġthere"], [0, 0, 1]).labels == ["Hello", "there"]
    assert word_groups(["##", "#"], [0, 1]).labels == ["##", "#"]  # a bare mark is a token, not a prefix


def test_two_special_tokens_in_a_row_stay_two_words():
    assert word_groups(["[CLS]", "[SEP]"], [None, None]).labels == ["[CLS]", "[SEP]"]


def test_merge_sums_key_pieces_and_averages_query_pieces_by_hand():
    weights = np.array([[0.5, 0.25, 0.25],
                        [0.1, 0.6, 0.3],
                        [0.2, 0.2, 0.6]], dtype=np.float32)
    groups = word_groups(["cat", "snow", "##man"], [0, 1, 1])
    merged = merge_pieces(weights, groups)
    # row "cat": keys summed -> [0.5, 0.25 + 0.25]; row "snowman": mean of [0.1, 0.9] and [0.2, 0.8]
    np.testing.assert_allclose(merged, [[0.5, 0.5], [0.15, 0.85]], atol=1e-7)


def test_merged_rows_still_sum_to_one_over_layers_and_heads():
    groups = word_groups([f"t{i}" for i in range(7)], [None, 0, 0, 1, 2, 2, None])
    merged = merge_pieces(stochastic(2, 3, 7), groups)
    assert merged.shape == (2, 3, 5, 5) and merged.dtype == np.float32
    np.testing.assert_allclose(merged.sum(-1), 1.0, atol=1e-6)


def test_merge_rejects_weights_of_another_length():
    with pytest.raises(ValueError):
        merge_pieces(np.ones((4, 4)), word_groups(["a", "b", "c"], [0, 1, 2]))


def test_by_word_grows_the_result_without_changing_it():
    tokens = ["[CLS]", "snow", "##man", "melts", "[SEP]"]
    result = Attention(tokens=tokens, weights=stochastic(2, 2, 5), model="hand", notices=["kept"],
                       word_ids=[None, 0, 0, 1, None])
    words = result.by_word()
    assert words.tokens == ["[CLS]", "snowman", "melts", "[SEP]"]
    assert words.weights.shape == (2, 2, 4, 4)
    assert words.notices == ["kept"] and words.meta["level"] == "word" and words.meta["pieces"] == [1, 2, 1, 1]
    expected = result.weights[1, 0, 1:3, 1:3].sum(-1).mean()  # snowman -> snowman: keys summed, queries averaged
    assert words.weights[1, 0, 1, 1] == pytest.approx(expected, abs=1e-6)
    assert result.tokens == tokens  # the original result is untouched


def test_by_word_needs_word_ids():
    with pytest.raises(ValueError, match="where words begin"):
        Attention(tokens=["a", "b"], weights=stochastic(1, 1, 2), model="hand").by_word()


def test_by_word_on_a_real_tokenizer_merges_pieces():
    result = attend("The snowboarders wobbled.", "scratch")
    assert "##board" in "".join(result.tokens)
    words = result.by_word()
    assert "snowboarders" in words.tokens and words.n_tokens < result.n_tokens
    np.testing.assert_allclose(words.weights.sum(-1), 1.0, atol=1e-5)


def hand_result() -> Attention:
    weights = np.zeros((1, 2, 3, 3), dtype=np.float32)
    weights[0, 0] = [[0.7, 0.2, 0.1], [0.05, 0.9, 0.05], [0.3, 0.3, 0.4]]
    weights[0, 1] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.2, 0.8]]
    return Attention(tokens=["a", "<b>", "c"], weights=weights, model="hand")


def test_links_are_exactly_the_pairs_at_or_above_the_threshold():
    links = layer_links(hand_result(), 0, 0.3)
    found = {(int(h), int(q), int(k)): float(w) for h, q, k, w in zip(links.head, links.query, links.key, links.weight)}
    assert found == pytest.approx({(0, 0, 0): 0.7, (0, 1, 1): 0.9, (0, 2, 0): 0.3, (0, 2, 1): 0.3, (0, 2, 2): 0.4,
                                   (1, 0, 0): 1.0, (1, 1, 0): 0.5, (1, 1, 1): 0.5, (1, 2, 2): 0.8})
    assert links.heads == ["0", "1"] and links.pairs == 18 and links.dropped == 0


def test_mean_mode_averages_the_heads_into_one():
    links = layer_links(hand_result(), 0, 0.6, mean=True)
    assert links.heads == ["mean"]
    found = {(int(q), int(k)): float(w) for q, k, w in zip(links.query, links.key, links.weight)}
    assert found == pytest.approx({(0, 0): 0.85, (1, 1): 0.7, (2, 2): 0.6})


def test_budget_keeps_the_strongest_links_and_counts_the_rest():
    links = layer_links(hand_result(), 0, 0.3, budget=3)
    assert len(links) == 3 and links.dropped == 6
    assert sorted(links.weight.tolist()) == pytest.approx([0.8, 0.9, 1.0])


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan")])
def test_bad_thresholds_are_refused(threshold):
    with pytest.raises(ValueError):
        layer_links(hand_result(), 0, threshold)


def decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def test_payload_round_trips_links_as_small_binary_arrays():
    links = layer_links(hand_result(), 0, 0.3)
    data = payload(links, shown=[1, 7], pin="q2")
    assert data["tokens"] == ["a", "<b>", "c"]  # raw text: the component writes it with textContent
    assert data["shown"] == [1] and data["pin"] == "q2"
    head1 = data["heads"][1]
    assert head1["n"] == 4
    assert decode(head1["q"], "<u2").tolist() == [0, 1, 1, 2]
    assert decode(head1["k"], "<u2").tolist() == [0, 0, 1, 2]
    assert decode(head1["w"], "u1").tolist() == [255, 128, 128, 204]  # round(weight × 255)
    json.dumps(data)  # travels as JSON


def test_payload_at_512_tokens_stays_small():
    scores = 4.0 * np.random.default_rng(3).standard_normal((1, 12, 512, 512))  # peaky rows, like trained heads
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    result = Attention(tokens=[f"w{i}" for i in range(512)], weights=weights, model="hand")
    links = layer_links(result, 0, 0.1)
    size = len(json.dumps(payload(links)))
    assert 0 < len(links) and size < 8 * len(links) + 20 * 512  # ≈ 6.7 bytes a link plus the tokens


@pytest.mark.parametrize("raw, expected", [
    (None, (None, None)), ("q3", ("q3", None)), ("K02", ("k2", None)), ("q9", (None, "the text has 5")),
    ("x1", (None, "not like q3")), ("q²", (None, "not like q3")), ("q-1", (None, "not like q3")),
])
def test_parse_pin(raw, expected):
    pin, notice = parse_pin(raw, 5)
    assert pin == expected[0]
    assert (notice is None) if expected[1] is None else expected[1] in notice


@pytest.mark.parametrize("raw, heads, notice", [
    (None, [0, 1, 2, 3], False), ("all", [0, 1, 2, 3], False), ("none", [], False), ("3,1,1", [1, 3], False),
    ("1,9", [1], True), ("x", [0, 1, 2, 3], True),
])
def test_parse_heads(raw, heads, notice):
    found, message = parse_heads(raw, 4)
    assert found == heads and (message is not None) == notice


def test_format_heads_is_the_inverse_of_parse_heads():
    for heads in ([0, 1, 2, 3], [], [2], [0, 3]):
        assert parse_heads(format_heads(heads, 4), 4) == (heads, None)
