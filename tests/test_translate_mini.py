"""attention/domains/translate_mini/: the date generator (known spans), the tokenizer, the trained encoder–decoder's
held-out accuracy and alignment against its untrained start, and attend()/trace() on it."""
from __future__ import annotations

import datetime

import numpy as np
import pytest

from attention import attend, trace
from attention.domains import translate_mini as tm


@pytest.mark.parametrize("number, words, digits", [(1, "first", "1st"), (3, "third", "3rd"), (11, "eleventh", "11th"),
                                                   (12, "twelfth", "12th"), (21, "twenty-first", "21st"),
                                                   (22, "twenty-second", "22nd"), (30, "thirtieth", "30th"), (31, "thirty-first", "31st")])
def test_ordinals(number, words, digits):
    assert tm.ordinal_words(number) == words and tm.ordinal_digits(number) == digits


@pytest.mark.parametrize("year, words", [(1950, "nineteen fifty"), (1999, "nineteen ninety-nine"), (2000, "two thousand"),
                                         (2005, "two thousand and five"), (2010, "twenty ten"), (2021, "twenty twenty-one")])
def test_years_in_words(year, words):
    assert tm.year_words(year) == words


def test_every_format_marks_the_span_of_each_field():
    date = datetime.date(2021, 3, 3)
    examples = [tm.write_date(date, form) for form in range(len(tm.FORMATS))]
    assert examples[0].source == "the third of march, twenty twenty-one" and examples[0].target == "2021-03-03"
    assert {e.source for e in examples} >= {"march 3rd 2021", "3 march 2021"}
    for e in examples:
        spans = {name: e.source[start:end] for name, (start, end) in e.spans.items()}
        assert spans["month"] == "march" and spans["day"] in {"third", "3", "3rd"}
        assert spans["year"] in {"2021", "twenty twenty-one"}


def test_held_out_dates_never_appear_in_training():
    train, test = tm.split_dates(0, 0.1)
    assert len(train) + len(test) == len(tm.all_dates()) == 36525 and not set(train) & set(test)
    assert len(test) == 3652


def test_the_tokenizer_knows_every_generated_word_and_marks_field_tokens():
    tokenizer = tm.tokenizer()
    examples = tm.generate(tm.all_dates(), 2000, seed=5)
    ids = tokenizer([e.source for e in examples])["input_ids"]
    assert not any(tokenizer.unk_token_id in row for row in ids)
    encoding = tokenizer("March 3rd 2021")
    assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == ["[BOS]", "march", "3", "rd", "2", "0", "2", "1", "[EOS]"]
    assert encoding.word_ids()[0] is None and encoding.word_ids()[-1] is None
    inside = tm.field_tokens(tm.write_date(datetime.date(2021, 3, 3), 1))      # "march 3rd 2021"
    assert inside["month"].tolist() == [False, True] + [False] * 7
    assert inside["day"].tolist() == [False, False, True, True] + [False] * 5
    assert inside["year"].tolist() == [False] * 4 + [True] * 4 + [False]


def test_alignment_scores_by_construction():
    """A fake model whose cross-attention points exactly at each digit's field scores 1; pointing at [BOS] scores 0."""
    import torch

    class Pointing(tm.Translator):
        def __init__(self, config, right: bool):
            super().__init__(config)
            self.right = right

        def encode_decode(self, source_ids, target_ids, mask=None, record=False, head_gates=None):
            batch, n_source = source_ids.shape
            cross = torch.zeros(batch, 2, target_ids.shape[1], n_source)
            for row in range(batch):
                example = self.examples[self.lookup[tuple(source_ids[row].tolist())]]
                inside = tm.field_tokens(example)
                for position, name in enumerate(tm.ISO_FIELDS):
                    where = int(np.flatnonzero(inside[name])[0]) if (name and self.right) else 0
                    cross[row, :, position, where] = 1.0
            return None, type("Pass", (), {"cross": [cross]})()

    examples = tm.generate(tm.all_dates(), 30, seed=2)
    ids = tm.tokenizer()([e.source for e in examples])["input_ids"]
    for right, expected in ((True, 1.0), (False, 0.0)):
        model = Pointing(tm.TranslateConfig(d_model=8, n_heads=2, d_ff=8).engine(), right)
        model.examples, model.lookup = examples, {tuple(row): i for i, row in enumerate(ids)}
        found = tm.alignment(model, examples)
        assert found["score"] == expected and found["outputs"] == 8 * 30
        assert 0.1 < found["chance"] < 0.5


def test_trained_model_meets_its_figures(trained_translate_mini):
    trained = trained_translate_mini
    assert trained.accuracy >= 0.95
    assert trained.alignment["score"] >= 0.8
    assert trained.random_alignment["score"] < 0.5 < trained.alignment["score"]
    report = tm.alignment_report()
    assert report["accuracy"] == trained.accuracy and report["random"]["score"] == trained.random_alignment["score"]
    assert report["examples"] == 1000 and report["held_out_dates"] == 3652


def test_translate_greedy_on_held_out_and_new_wordings(trained_translate_mini):
    example = tm.example(0)
    assert tm.translate(example.source) == example.target
    assert tm.translate("March 3rd 2021") == "2021-03-03"
    assert tm.translate("the twenty-fifth of december, nineteen eighty-four") == "1984-12-25"
    with pytest.raises(ValueError, match="held-out examples"):
        tm.example(10_000)
    with pytest.raises(ValueError, match="not a date translator"):
        tm.translate("march 3rd 2021", "scratch")


def test_attend_and_trace_show_cross_attention_on_the_trained_model(trained_translate_mini):
    source = "the third of march, twenty twenty-one"
    result = attend(source, "translate-mini", target="2021-03-03")
    assert result.meta["family"] == "encoder-decoder"
    assert result.target_tokens == ["[BOS]", "2", "0", "2", "1", "-", "0", "3", "-", "0", "3", "[EOS]"]
    n_layers = trained_translate_mini.config.decoder_layers
    assert result.cross.shape == (n_layers, 4, 12, len(result.tokens))               # [layer, head, target, source]
    np.testing.assert_allclose(result.cross.sum(-1), 1.0, atol=1e-5)
    peaks = result.cross[-1].mean(axis=0).argmax(-1)                                 # [target]
    # row i reads target token i while it writes character i of the date: row 6 (the month's '0') writes the month's
    # second digit, rows 8 and 9 the day's digits
    assert result.tokens[peaks[6]] == "march" and [result.tokens[p] for p in peaks[8:10]] == ["third", "third"]
    run = trace(source, "translate-mini", target="2021-03-03")
    np.testing.assert_allclose(run.cross.weights, result.cross, atol=1e-6)
    random = attend(source, tm.RANDOM_NAME, target="2021-03-03")
    assert random.cross.shape == result.cross.shape and not np.allclose(random.cross, result.cross)


def test_bad_targets_are_refused_for_people():
    with pytest.raises(ValueError, match="target must be text"):
        attend("march 3rd 2021", tm.RANDOM_NAME, target=3)
