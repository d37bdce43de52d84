"""attention/bias.py: templates, the term's attention, per-head shifts, summary and CSV, on hand-checkable inputs."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from attention.analyses.bias import (
    DEFAULT_TEMPLATES, TERM, BiasReport, PairAttention, Probe, expand, parse_pairs, probe, term_attention, term_span,
)
from attention.run.result import Attention


def test_an_inline_pair_gives_one_sentence_pair():
    probes, notices = expand("The doctor said that {he/she} was late.")
    assert notices == []
    assert [(p.text_a, p.text_b, p.term_a, p.term_b) for p in probes] == [
        ("The doctor said that he was late.", "The doctor said that she was late.", "he", "she")]


def test_occupations_and_names_multiply():
    probes, _ = expand("{name} is a {occupation}.\nThe {occupation} and {he / she}.", occupations="nurse, pilot\npilot",
                       names="John/Mary, Ahmed/Aisha")
    assert len(probes) == 2 * 2 + 2  # duplicates in the list are dropped
    assert probes[0].text_a == "John is a nurse." and probes[0].text_b == "Mary is a nurse." and probes[0].filler == "nurse"
    assert probes[-1].text_a == "The pilot and he." and probes[-1].text_b == "The pilot and she."


def test_the_defaults_expand():
    probes, notices = expand(DEFAULT_TEMPLATES)
    assert len(probes) == 2 + 8 + 8 * 3 and notices == []


def test_too_many_pairs_are_cut_with_a_notice():
    probes, notices = expand("{name} is a {occupation}.", occupations="a, b, c, d", names="x/y, z/w", limit=5)
    assert len(probes) == 5 and "first 5" in notices[0]


@pytest.mark.parametrize("templates, message", [
    ("No slot here.", "exactly one swappable pair"),
    ("{he/she} and {him/her}", "exactly one swappable pair"),
    ("{name} met {he/she}", "exactly one swappable pair"),
    ("The {job} is {he/she}", "unknown slot {job}"),
    ("The {a/b/c} ran.", "is not a pair"),
    ("The {/she} ran.", "is not a pair"),
    ("   \n  ", "at least one template"),
])
def test_unusable_templates_say_why(templates, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        expand(templates)


def test_empty_lists_are_refused_when_a_template_needs_them():
    with pytest.raises(ValueError, match="names list is empty"):
        expand("{name} ran.", names=" , ")
    with pytest.raises(ValueError, match="occupations list is empty"):
        expand("The {occupation} and {he/she}.", occupations="")
    with pytest.raises(ValueError, match="not a pair"):
        parse_pairs("John/Mary, Alex")


def test_term_span_finds_the_swapped_pieces():
    assert term_span(["a", "he", "ran"], ["a", "she", "ran"]) == (slice(1, 2), slice(1, 2))
    assert term_span(["a", "mary", "ran"], ["a", "jo", "##hn", "ran"]) == (slice(1, 2), slice(1, 3))
    assert term_span(["a", "b"], ["a", "b"]) is None


def hand(tokens: list[str], rows: list[list[float]]) -> Attention:
    return Attention(tokens=tokens, weights=np.array(rows, dtype=np.float32)[None, None], model="hand")


PROBE = Probe("t", "", "x he y", "x ma ##ry y", "he", "mary")


def test_term_attention_by_hand_averages_query_pieces_and_sums_key_pieces():
    result_a = hand(["x", "he", "y"], [[1, 0, 0], [0.2, 0.5, 0.3], [0, 0, 1]])
    result_b = hand(["x", "ma", "##ry", "y"], [[1, 0, 0, 0], [0.4, 0.2, 0.2, 0.2], [0.0, 0.1, 0.3, 0.6], [0, 0, 0, 1]])
    found = term_attention(PROBE, result_a, result_b)
    assert found.keys == ["x", TERM, "y"]
    np.testing.assert_allclose(found.a[0, 0], [0.2, 0.5, 0.3])
    # B: query rows 1 and 2 averaged -> [0.2, 0.15, 0.25, 0.4]; key pieces 1-2 summed -> [0.2, 0.4, 0.4]
    np.testing.assert_allclose(found.b[0, 0], [0.2, 0.4, 0.4], atol=1e-7)
    # share of attention that moves: half of |0| + |0.1| + |-0.1|
    assert found.shift[0, 0] == pytest.approx(0.1)


def test_term_attention_is_none_when_the_sentences_tokenise_the_same():
    result = hand(["x", "y"], [[1, 0], [0, 1]])
    assert term_attention(PROBE, result, result) is None


def report() -> BiasReport:
    """Two pairs, 1 layer × 2 heads, keys [x, (itself), the, the] with a repeated word."""
    keys = ["x", TERM, "the", "the"]
    a1 = np.array([[[0.5, 0.5, 0.0, 0.0], [0.1, 0.1, 0.4, 0.4]]])          # [layer, head, key]
    b1 = np.array([[[0.1, 0.9, 0.0, 0.0], [0.1, 0.1, 0.4, 0.4]]])
    a2 = np.array([[[0.3, 0.7, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]])
    b2 = np.array([[[0.3, 0.3, 0.2, 0.2], [0.0, 0.0, 0.5, 0.5]]])
    probe_1 = Probe("=HYPERLINK(1) {he/she}", "", "=HYPERLINK(1) he", "=HYPERLINK(1) she", "he", "she")
    probe_2 = Probe("{John/Mary} x", "", "John x", "Mary x", "John", "Mary")
    return BiasReport("hand", [PairAttention(probe_1, keys, a1, b1), PairAttention(probe_2, keys, a2, b2)])


def test_scores_are_the_mean_shift_per_head():
    scores = report().scores
    np.testing.assert_allclose(scores, [[(0.4 + 0.4) / 2, 0.0]])
    assert report().top_heads(2) == [(0, 0, pytest.approx(0.4)), (0, 1, 0.0)]


def test_key_shifts_sum_a_repeated_word_then_average_over_pairs():
    shifts = dict(report().key_shifts(0, 0))
    assert shifts["x"] == pytest.approx((0.4 + 0.0) / 2)
    assert shifts[TERM] == pytest.approx((-0.4 + 0.4) / 2)
    assert shifts["the"] == pytest.approx((0.0 - 0.4) / 2)
    assert list(dict(report().key_shifts(0, 0))) == ["x", "the", TERM]  # largest |shift| first


def test_summary_names_the_heads_and_the_words_in_plain_language():
    lines = report().summary(count=1)
    assert "2 sentence pairs and 2 heads" in lines[0] and "‘he’, ‘John’" in lines[0] and "20.0%" in lines[0]
    assert lines[1].startswith("Layer 0 · Head 0 moves 40.0%")
    assert "looks more at ‘x’ (+0.200)" in lines[1] and "more at ‘the’ (+0.200)" in lines[1]


def test_a_pair_that_barely_differs_says_so():
    keys = ["x", TERM]
    same = np.array([[[0.5, 0.5]]])
    lines = BiasReport("hand", [PairAttention(PROBE, keys, same, same + [[[0.005, -0.005]]])]).summary()
    assert "attends to both terms alike" in lines[-1]


def test_rows_and_csv_hold_every_pair_and_head_and_defuse_formulas():
    result = report()
    rows = result.rows()
    assert len(rows) == 2 * 1 * 2
    assert rows[0]["shift"] == pytest.approx(0.4) and rows[0]["key_most_changed"] == "x"
    assert (rows[0]["weight_a"], rows[0]["weight_b"]) == (0.5, 0.1)
    parsed = list(csv.DictReader(io.StringIO(result.csv())))
    assert len(parsed) == 4 and parsed[0]["template"] == "'=HYPERLINK(1) {he/she}"  # never a live formula
    assert parsed[2]["sentence_a"] == "John x" and parsed[0]["layer"] == "0"


def test_probe_runs_every_sentence_with_progress_on_a_real_model():
    probes, _ = expand("The {occupation} said that {he/she} was tired.", occupations="nurse, pilot")
    seen = []
    result = probe(probes, "scratch", progress=lambda done, total: seen.append((done, total)), controls=False)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.scores.shape == (2, 4) and len(result.pairs) == 2
    assert result.pairs[0].keys[:3] == ["[CLS]", "the", "nurse"] and TERM in result.pairs[0].keys
    np.testing.assert_allclose(result.pairs[0].a.sum(-1), 1.0, atol=1e-5)  # all of the term's attention is kept


def test_a_pair_of_identical_terms_is_skipped_and_none_left_is_an_error():
    probes, _ = expand("The cat saw {it/it}.")
    with pytest.raises(ValueError, match="No sentence pair differed"):
        probe(probes, "scratch")
