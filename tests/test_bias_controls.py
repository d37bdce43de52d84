"""attention/analyses/bias.py: control swaps, excess, the sign-flip test with Benjamini–Hochberg, and SEAT — on inputs
whose answers are known by construction."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from attention.analyses import bias
from attention.analyses.bias import (CONTROL_NAMES, CONTROL_WORDS, benjamini_hochberg, control_probes, control_term, expand,
                                     probe, seat, sign_flip_p, weat)


def test_control_terms_keep_the_gender_and_the_case():
    assert control_term("he") == "it" and control_term("She") == "It" and control_term("his") == "its"
    assert control_term("John") == "James" and control_term("Mary") == "Emma"
    assert control_term("Daniel") == "John" and control_term("anna") == "mary"           # each list wraps round
    assert control_term("Zeno", ["Zeno", "Ulf"]) == "Ulf"                                 # another name of the same side
    assert control_term("her") is None and control_term("Zeno", ["Zeno"]) is None


def test_control_probes_refill_the_template_with_the_control_word():
    item = expand("The {occupation} said that {he/she} was tired.", occupations="nurse")[0][0]
    control_a, control_b = control_probes(item)
    assert (control_a.text_a, control_a.text_b) == ("The nurse said that he was tired.", "The nurse said that it was tired.")
    assert (control_b.text_a, control_b.text_b) == ("The nurse said that she was tired.", "The nurse said that it was tired.")


def test_every_control_is_a_different_word_and_names_stay_in_their_list():
    assert all(word != control for word, control in CONTROL_WORDS.items())
    male, female = CONTROL_NAMES
    assert all(control_term(name) in male for name in male) and all(control_term(name) in female for name in female)


def test_sign_flips_are_exact_for_few_pairs():
    constant = np.ones((6, 1, 2))                       # 6 pairs, every difference +1: only the observed and all-flipped tie
    np.testing.assert_allclose(sign_flip_p(constant), 2 / 2**6)
    symmetric = np.array([1.0, -1.0, 2.0, -2.0]).reshape(4, 1, 1)   # mean exactly 0: every flip is at least as far
    assert sign_flip_p(symmetric)[0, 0] == 1.0


def test_sign_flips_are_sampled_for_many_pairs_and_never_reach_zero():
    p = sign_flip_p(np.ones((20, 1, 1)), permutations=999, seed=1)
    assert p[0, 0] == pytest.approx(1 / 1000, abs=2e-3) and p[0, 0] > 0


def test_sign_flip_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(0)
    p = sign_flip_p(rng.normal(size=(10, 40, 50)))         # 2,000 null cells, exact test over 1,024 flips
    assert 0.03 < (p <= 0.05).mean() < 0.07 and 0.45 < np.median(p) < 0.55


def test_benjamini_hochberg_by_hand():
    adjusted = benjamini_hochberg(np.array([[0.01, 0.04], [0.03, 0.005]]))
    np.testing.assert_allclose(adjusted, [[0.02, 0.04], [0.04, 0.02]])
    assert benjamini_hochberg(np.array([0.9, 0.99])).max() <= 1.0


# A fake model on whitespace tokens. Head 0 only tells words apart: the term looks at one position per word, a different
# one for every word it is compared with, so *any* swap moves all of its attention. Head 1 tells genders apart: male
# names look at position 1, female names at position 2.
SLOT = {"John": 0, "Mary": 1, "James": 2, "Emma": 3, "Michael": 4, "Sarah": 0, "David": 1, "Linda": 2}
MALE = {"John", "James", "Michael", "David"}


def fake_attend(text: str, model: str) -> SimpleNamespace:
    tokens = text.rstrip(".").split()
    n = len(tokens)
    weights = np.zeros((1, 2, n, n))
    weights[0, :] = np.eye(n)
    weights[0, 0, 0] = np.eye(n)[SLOT[tokens[0]]]
    weights[0, 1, 0] = np.eye(n)[1 if tokens[0] in MALE else 2]
    return SimpleNamespace(tokens=tokens, weights=weights, notices=[])


def fake_report() -> bias.BiasReport:
    probes, _ = expand("{name} works as a {occupation}.", occupations="nurse, pilot, baker, judge",
                       names="John/Mary, James/Emma, Michael/Sarah")
    return probe(probes, "fake", attend=fake_attend)


def test_controls_cancel_a_pure_word_change_and_keep_a_gender_effect():
    report = fake_report()
    assert len(report.pairs) == 12 and len(report.controlled) == 12
    np.testing.assert_allclose(report.scores, [[1.0, 1.0]])          # both heads move all of the term's attention
    np.testing.assert_allclose(report.control, [[1.0, 0.0]])         # a same-gender name moves head 0 only
    np.testing.assert_allclose(report.excess, [[0.0, 1.0]])
    assert report.excess.dtype == np.float32 and report.control.dtype == np.float32
    np.testing.assert_allclose(report.p_values, [[1.0, 2 / 2**12]])  # exact: 4,096 flips of 12 pairs
    np.testing.assert_allclose(report.adjusted_p, [[1.0, 2 * 2 / 2**12]])
    assert report.surviving() == [(0, 1, pytest.approx(1.0), pytest.approx(1 / 1024))]
    summary = " ".join(report.summary())
    assert "Layer 0 · Head 1: 100.0 points more than the controls" in summary and "Head 0:" not in summary


def test_the_summary_says_plainly_when_no_excess_survives():
    report = fake_report()
    report.pairs = [bias.PairAttention(p.probe, p.keys, p.a[:, :1], p.b[:, :1]) for p in report.pairs]   # head 0 only
    report.controls = [tuple(bias.PairAttention(c.probe, c.keys, c.a[:, :1], c.b[:, :1]) for c in pair)
                       for pair in report.controls]
    lines = report.summary()
    assert report.surviving() == [] and "No head's excess survives the test" in lines[-1]
    assert not any(line.startswith("Layer") for line in lines)


def test_without_controls_the_report_is_as_before():
    probes, _ = expand("{name} works as a {occupation}.", occupations="nurse", names="John/Mary")
    seen = []
    report = probe(probes, "fake", attend=fake_attend, controls=False, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)] and not report.has_controls and np.isnan(report.excess).all()
    assert "control_shift" not in report.rows()[0]
    assert len(probe(probes, "fake", attend=fake_attend).rows()[0]) == len(report.rows()[0]) + 1


def test_pairs_without_a_control_word_are_named():
    probes, _ = expand("I saw {her/him} there.")
    report = probe(probes, "scratch")
    assert not report.has_controls and any("‘her’" in n for n in report.notices)


def test_probe_with_controls_on_a_real_model():
    probes, _ = expand("The {occupation} said that {he/she} was tired.", occupations="nurse, pilot")
    seen = []
    report = probe(probes, "scratch", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 8) for i in range(1, 9)]
    assert report.excess.shape == report.control.shape == report.p_values.shape == (2, 4)
    np.testing.assert_allclose(report.excess, report.scores - report.control, atol=1e-6)   # every pair has controls
    assert ((report.p_values > 0) & (report.p_values <= 1)).all()


# --- SEAT ---------------------------------------------------------------------------------------------------------

def test_weat_by_hand():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    x, y = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 1.0]])    # s = 1, 0 and −1, 0
    found = weat(x, y, a, b)
    assert found["effect_size"] == pytest.approx(1.0 / np.sqrt(2 / 3))
    assert found["p_value"] == pytest.approx(2 / 6)                # 2 of the 6 splits of 4 reach the observed 2
    assert weat(y, x, a, b)["effect_size"] == pytest.approx(-found["effect_size"])


def test_weat_p_values_hold_their_level_under_the_null():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    p = np.array([weat(rng.normal(size=(4, 8)), rng.normal(size=(4, 8)), a, b)["p_value"] for _ in range(400)])
    assert 0.01 < (p <= 0.05).mean() < 0.09          # exact over C(8, 4) = 70 splits: the level is 3/70


def test_seat_finds_an_effect_built_into_the_embeddings():
    male, female = bias.SEAT_NAMES
    career, family = bias.SEAT_ATTRIBUTES["career-family"]

    def embed(sentences):
        def vector(sentence):
            words = set(sentence.rstrip(".").split())
            return [1.0, 0.0] if words & set(male) | words & set(career) else [0.0, 1.0]
        return np.array([vector(s) for s in sentences])

    found = seat(test="career-family", embed=embed, permutations=2000)
    n = len(male) * len(bias.NAME_TEMPLATES)
    assert found["effect_size"] == pytest.approx(2 * np.sqrt((2 * n - 1) / (2 * n)))   # s = ±1: the largest effect
    assert found["p_value"] == pytest.approx(1 / 2001)
    assert found["sentences"] == {"x": 40, "y": 40, "a": 40, "b": 40} and found["attributes"] == ("career", "family")
    flat = seat(test="math-arts", embed=lambda sentences: np.ones((len(sentences), 2)))
    assert flat["effect_size"] == 0.0 and flat["p_value"] == 1.0


def test_seat_on_minilm_and_bad_names():
    found = seat("minilm", "career-family", permutations=500)
    assert -2 <= found["effect_size"] <= 2 and 0 < found["p_value"] <= 1 and "p =" in found["meaning"]
    with pytest.raises(ValueError, match="Unknown SEAT test"):
        seat("minilm", "colours")
    with pytest.raises(ValueError, match="not one run by transformers"):
        seat("scratch", "career-family")


def test_the_view_opens_on_the_surviving_head_else_the_largest_excess_else_the_largest_shift():
    report = fake_report()
    assert report.opening_head() == (0, 1)                           # head 1 survives the test
    assert report.opening_head(alpha=0.0) == (0, 1)                  # none survives: still the largest |excess|
    report.controls = []                                             # no controls: the head that moves most
    report.pairs = [bias.PairAttention(p.probe, p.keys, p.a, p.b * np.array([1.0, 0.0])[None, :, None] + p.a *
                                       np.array([0.0, 1.0])[None, :, None]) for p in report.pairs]   # head 1 never moves
    assert report.opening_head() == (0, 0)


def test_the_table_is_every_row_largest_shift_first():
    report = fake_report()
    report.pairs[3] = bias.PairAttention(report.pairs[3].probe, report.pairs[3].keys, report.pairs[3].a, report.pairs[3].a)
    table = report.table()
    assert len(table) == len(report.rows()) == 12 * 2
    assert list(table["shift"]) == sorted(table["shift"], reverse=True) and table["shift"].iloc[-1] == 0.0


def test_seat_all_runs_every_test_and_keeps_each_message():
    found = bias.seat_all("any", embed=lambda sentences: np.eye(2)[[len(s) % 2 for s in sentences]])
    assert set(found) == set(bias.SEAT_LABELS) and all(isinstance(v, dict) for v in found.values())
    assert {v["test"] for v in found.values()} == set(bias.SEAT_LABELS)
    refused = bias.seat_all("scratch")                               # SEAT needs a transformers model: a message each
    assert all(isinstance(v, str) and "not one run by transformers" in v for v in refused.values())
