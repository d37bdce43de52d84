"""Word pieces grouped back into words, and attention merged over them (sum over a word's key pieces, mean over its
query pieces, so rows still sum to 1). The grouping itself lives in attention/run/words.py, beside the result type that
uses it (the run layer imports nothing from the analyses); its names are re-exported here."""
from __future__ import annotations

from attention.run.words import WordGroups, merge_pieces, word_groups

__all__ = ["MERGE_RULE", "WordGroups", "merge_pieces", "word_groups"]

MERGE_RULE = (
    "Word pieces are merged back into words: a word's attention *to* another word is the **sum** over that "
    "word's key pieces (attention paid to any piece counts), and *from* a word it is the **mean** over its "
    "query pieces (each piece asks once). Rows still sum to 1."
)
