"""`translate-mini`: a small encoder–decoder on the project's engine, trained here to turn dates written in words into
ISO dates, so that its cross-attention can be checked against alignments known in advance.

    "the third of march, twenty twenty-one" ──► encoder (2 layers) ──► decoder (1 layer, causal, cross-attention)
        ──► "2021-03-03", one character at a time (greedy)

The data come from a seeded generator (every date 1950-01-01 … 2049-12-31, written in seven formats); a tenth of the
dates never appear in training, in any format, and the scores are measured on them. Because the generator knows which
characters of the source hold the day, the month and the year, we know which source span each output digit depends on:
the *alignment score* is the share of output digits whose cross-attention (last decoder layer, mean over its heads)
peaks inside that span.

Tokenizer: a word-level vocabulary of our own (every word the generator writes, each digit on its own, punctuation),
not MiniLM's WordPiece: it keeps most years whole ("2021" is one piece) but splits others ("2043" -> "204", "##3") and
keeps "03" and "3rd" whole, so a digit would sit in pieces of different sizes and the output could not be written one
digit per token; its vocabulary of 30,522 pieces would also make this small model mostly embedding table.

Read in this order:
    data.py     the date generator, the formats, the held-out dates, the word-level tokenizer
    model.py    the encoder–decoder (Translator) and greedy decoding
    train.py    training from a fixed seed on one CPU thread
    scores.py   exact match and the alignment score
    cache.py    train once, keep on disk, load (store.py); the figures; the backends the engine serves
Every name is importable from `attention.domains.translate_mini` itself.
"""
from attention.domains.translate_mini.data import (Example, FIELDS, FIRST_DATE, FORMATS, ISO_FIELDS, LAST_DATE,
                                                   MONTHS, SPECIALS, all_dates, field_tokens, generate, number_words,
                                                   ordinal_digits, ordinal_words, split_dates, tokenizer, vocabulary,
                                                   write_date, year_words)
from attention.domains.translate_mini.model import (MODEL_NAME, RANDOM_NAME, TranslateConfig, Translator, decode,
                                                    translate, untrained)
from attention.domains.translate_mini.train import Progress, train
from attention.domains.translate_mini.scores import alignment, exact_match
from attention.domains.translate_mini.cache import (TRAINING_VERSION, Trained, alignment_report, backend, cache_path,
                                                    example, held_out, is_cached, load_or_train)

__all__ = [
    "Example", "FIELDS", "FIRST_DATE", "FORMATS", "ISO_FIELDS", "LAST_DATE", "MODEL_NAME", "MONTHS", "Progress",
    "RANDOM_NAME", "SPECIALS", "TRAINING_VERSION", "Trained", "TranslateConfig", "Translator", "alignment",
    "alignment_report", "all_dates", "backend", "cache_path", "decode", "exact_match", "example", "field_tokens",
    "generate", "held_out", "is_cached", "load_or_train", "number_words", "ordinal_digits", "ordinal_words",
    "split_dates", "tokenizer", "train", "translate", "untrained", "vocabulary", "write_date", "year_words"
]
