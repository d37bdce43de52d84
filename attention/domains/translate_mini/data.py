"""The data: every date 1950–2049 written in seven formats by a seeded generator that knows which source words hold
the day, the month and the year; the held-out dates; the word-level tokenizer."""
from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np


FIELDS = ("year", "month", "day")
ISO_FIELDS = ("year",) * 4 + (None,) + ("month",) * 2 + (None,) + ("day",) * 2   # what each character of YYYY-MM-DD copies
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_ONES = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_ONES = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                 "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
                 "eighteenth", "nineteenth")
_ORDINAL_TENS = {20: "twentieth", 30: "thirtieth"}
# The seven ways of writing a date. Slots: day_words ("third"), day ("3"), day_th ("3rd"), month ("march"),
# year_words ("twenty twenty-one"), year ("2021"). Each slot belongs to one field (day, month or year).
FORMATS = (
    "the {day_words} of {month}, {year_words}",
    "{month} {day_th} {year}",
    "{day} {month} {year}",
    "{month} the {day_words}, {year_words}",
    "{day_words} of {month} {year}",
    "{month} {day}, {year}",
    "{day_th} {month} {year_words}",
)
_SLOT_FIELD = {"day_words": "day", "day": "day", "day_th": "day", "month": "month", "year_words": "year", "year": "year"}
_SLOT = re.compile(r"\{(\w+)\}")


def number_words(n: int) -> str:
    """1–99 in words: 21 -> 'twenty-one'."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def ordinal_words(n: int) -> str:
    """1–31 as an ordinal in words: 3 -> 'third', 21 -> 'twenty-first'."""
    if n < 20:
        return _ORDINAL_ONES[n]
    tens, ones = divmod(n, 10)
    return f"{_TENS[tens]}-{_ORDINAL_ONES[ones]}" if ones else _ORDINAL_TENS[n]


def ordinal_digits(n: int) -> str:
    """3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def year_words(year: int) -> str:
    """1950–2049 as spoken: 1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand and five', 2021 -> 'twenty twenty-one'."""
    if not FIRST_DATE.year <= year <= LAST_DATE.year:
        raise ValueError(f"The generator writes years {FIRST_DATE.year}–{LAST_DATE.year}; {year} is outside.")
    if year < 2000:
        return f"nineteen {number_words(year - 1900)}"
    if year < 2010:
        return "two thousand" + (f" and {_ONES[year - 2000]}" if year > 2000 else "")
    return f"twenty {number_words(year - 2000)}"


class Example(NamedTuple):
    """One generated pair: the source text, its ISO date, and the character span [start, end) of each field in the source."""

    source: str
    target: str
    spans: dict[str, tuple[int, int]]
    format: int


def write_date(date: datetime.date, form: int) -> Example:
    """A date in words in format `form` (an index of FORMATS), with the source span of its day, month and year."""
    values = {"day_words": ordinal_words(date.day), "day": str(date.day), "day_th": ordinal_digits(date.day),
              "month": MONTHS[date.month - 1], "year_words": year_words(date.year), "year": str(date.year)}
    text, spans, last = "", {}, 0
    template = FORMATS[form]
    for match in _SLOT.finditer(template):
        text += template[last:match.start()]
        value = values[match[1]]
        spans[_SLOT_FIELD[match[1]]] = (len(text), len(text) + len(value))
        text += value
        last = match.end()
    return Example(text + template[last:], date.isoformat(), spans, form)


def all_dates() -> list[datetime.date]:
    """Every date the generator writes, in order: 36,525 days from 1950-01-01 to 2049-12-31."""
    first = FIRST_DATE.toordinal()
    return [datetime.date.fromordinal(day) for day in range(first, LAST_DATE.toordinal() + 1)]


def split_dates(seed: int, held_out: float) -> tuple[list[datetime.date], list[datetime.date]]:
    """(training dates, held-out dates): a seeded shuffle; held-out dates never appear in training, in any format."""
    dates = all_dates()
    order = np.random.default_rng(seed).permutation(len(dates))
    cut = int(round(held_out * len(dates)))
    return [dates[i] for i in order[cut:]], [dates[i] for i in order[:cut]]


def generate(dates: list[datetime.date], count: int, seed: int) -> list[Example]:
    """`count` examples: dates drawn (with replacement) from `dates`, each in a format drawn uniformly."""
    rng = np.random.default_rng(seed)
    picks, forms = rng.integers(len(dates), size=count), rng.integers(len(FORMATS), size=count)
    return [write_date(dates[p], int(f)) for p, f in zip(picks, forms)]


def vocabulary() -> list[str]:
    """Every token: the special ones, then digits and punctuation, then every word the generator writes (sorted)."""
    words = set(MONTHS) | {"the", "of", "and", "thousand", "st", "nd", "rd", "th"}
    for n in range(1, 100):
        words.update(number_words(n).split("-"))
    for n in range(1, 32):
        words.update(ordinal_words(n).split("-"))
    return [*SPECIALS, *"0123456789", ",", "-", *sorted(words - {""})]


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """A transformers fast tokenizer over `vocabulary()`: lower-cased, split at spaces and punctuation, one token per
    digit, wrapped as [BOS] … [EOS]. Words outside the vocabulary become [UNK]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(vocabulary())}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    inner.normalizer = normalizers.Lowercase()
    inner.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(),
                                                   pre_tokenizers.Digits(individual_digits=True)])
    inner.post_processor = processors.TemplateProcessing(single="[BOS] $A [EOS]",
                                                         special_tokens=[("[BOS]", vocab["[BOS]"]), ("[EOS]", vocab["[EOS]"])])
    return PreTrainedTokenizerFast(tokenizer_object=inner, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
                                   eos_token="[EOS]", model_max_length=64)


def field_tokens(example: Example) -> dict[str, np.ndarray]:
    """For each field, which source tokens (with [BOS]/[EOS]) lie inside its span: {field: bool [source token]}."""
    offsets = tokenizer()(example.source, return_offsets_mapping=True)["offset_mapping"]
    starts = np.array([s for s, _ in offsets])
    ends = np.array([e for _, e in offsets])
    real = ends > starts                                                  # special tokens have the empty span (0, 0)
    return {name: real & (starts >= lo) & (ends <= hi) for name, (lo, hi) in example.spans.items()}
