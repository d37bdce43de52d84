"""Word pieces grouped back into words, and attention merged over them (sum over a word's key pieces, mean over its
query pieces, so rows still sum to 1). Here, beside the result type that uses them (Attention.by_word); the analyses
read them as attention.analyses.words."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_PIECE_MARKS = ("##",)          # WordPiece: a continuation piece starts with ##
_SPACE_MARKS = ("Ġ", "▁")       # byte-level BPE / SentencePiece: a word-initial piece starts with these


@dataclass(frozen=True)
class WordGroups:
    """Consecutive token positions merged into one word each: `starts[i]` is word i's first token."""

    labels: list[str]
    starts: np.ndarray          # [word] int, increasing, starts[0] == 0
    word_ids: list[int | None]  # per word: its index among real words, None for special tokens
    n_tokens: int

    @property
    def sizes(self) -> np.ndarray:
        """Tokens per word: [word]."""
        return np.diff(np.append(self.starts, self.n_tokens))


def _piece_text(token: str, first: bool) -> str:
    if not first:
        for mark in _PIECE_MARKS:
            if token.startswith(mark) and len(token) > len(mark):
                return token[len(mark):]
    for mark in _SPACE_MARKS:
        if token.startswith(mark) and len(token) > len(mark):
            return token[len(mark):]
    return token


def word_groups(tokens: list[str], word_ids: list[int | None]) -> WordGroups:
    """Group tokens into words from the tokenizer's word ids (None = special token, a word of its own)."""
    if len(tokens) != len(word_ids):
        raise ValueError(f"{len(tokens)} tokens but {len(word_ids)} word ids.")
    labels: list[str] = []
    starts: list[int] = []
    ids: list[int | None] = []
    previous: object = object()  # matches nothing, so the first token opens a word
    for position, (token, word) in enumerate(zip(tokens, word_ids)):
        if word is None or word != previous:
            starts.append(position)
            labels.append(_piece_text(token, first=True))
            ids.append(word)
        else:
            labels[-1] += _piece_text(token, first=False)
        previous = word
    return WordGroups(labels=labels, starts=np.array(starts, dtype=np.int64), word_ids=ids, n_tokens=len(tokens))


def merge_pieces(weights: np.ndarray, groups: WordGroups) -> np.ndarray:
    """Token weights [..., query, key] -> word weights [..., query word, key word]:
    sum over a word's key pieces, mean over its query pieces."""
    if weights.shape[-1] != groups.n_tokens or weights.shape[-2] != groups.n_tokens:
        raise ValueError(f"weights {weights.shape} do not cover {groups.n_tokens} tokens.")
    to_words = np.add.reduceat(weights, groups.starts, axis=-1)               # [..., query, key word]
    summed = np.add.reduceat(to_words, groups.starts, axis=-2)                # [..., query word, key word]
    return (summed / groups.sizes[:, None]).astype(np.float32)
