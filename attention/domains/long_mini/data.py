"""What long-mini reads: MiniLM's WordPiece tokens (the bundled tokenizer): rows of random WORDS repeated with a
random period, and the demo text (real prose in which a passage of those words appears twice, far apart).

Training row: [CLS] then a run of `period` random words (period drawn anew per row, 8–24) repeated until the row is
full, so every word after the first run is predictable only by finding its earlier copy: an induction head (Olsson et
al., 2022). In most rows the position ids jump by a random *gap* (0 … `max_gap`) at a random place: with rotary
positions (which see only query − key) the head then learns to find the copy whatever the distance, up to the model's
32,768 positions, while a row stays 64 tokens long. The WORDS are 58 English words that MiniLM's tokenizer keeps
whole; the induction-mini demo trains the same way on characters (attention/domains/induction_mini/data.py), but its
rows have no position gaps and its vocabulary is not MiniLM's, so its generator is not reused here.
"""
from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import torch

CLS, SEP = 101, 102
WORDS = tuple("""amber lantern harbour violin compass falcon meadow copper orchard thunder velvet marble glacier willow
cobalt beacon canyon lemon anchor feather granite island jasmine kettle ladder mirror nectar oyster pepper quartz ribbon
salmon tiger umbrella valley walnut yarn zebra bishop candle dragon eagle forest garlic hammer ivory jungle kingdom
lobster maple needle olive parrot rabbit saddle violet wagon castle""".split())


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """MiniLM's tokenizer (bundled with the app, nothing downloaded), allowed to read 32,768 tokens."""
    from attention.domains.gpt_mini.data import tokenizer as minilm

    tok = minilm()
    tok.model_max_length = 32768
    return tok


def word_ids() -> torch.Tensor:
    """int64 [word]: MiniLM's ids of WORDS (each one whole token)."""
    return torch.tensor(tokenizer().convert_tokens_to_ids(list(WORDS)))


def rows(count: int, length: int, periods: tuple[int, int], max_gap: int, generator: torch.Generator,
         gap_share: float = 0.7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`count` training rows of `length` tokens: (ids int64 [row, length], position ids int64 [row, length], target
    mask bool [row, length]: True where the next token repeats an earlier one, i.e. is predictable by induction)."""
    words = word_ids()
    period = torch.randint(periods[0], periods[1] + 1, (count,), generator=generator)              # [row]
    runs = words[torch.randint(len(words), (count, periods[1]), generator=generator)]              # [row, longest]
    body = runs.gather(1, torch.arange(length - 1)[None, :] % period[:, None])                     # token t = t − period
    ids = torch.cat([torch.full((count, 1), CLS), body], dim=1)                                    # [row, length]
    positions = torch.arange(length).repeat(count, 1)                                              # [row, length]
    cut = torch.randint(1, length, (count,), generator=generator)                                  # where the ids jump
    gap = torch.randint(0, max_gap + 1, (count,), generator=generator) * (torch.rand(count, generator=generator) < gap_share)
    positions = positions + (positions >= cut[:, None]) * gap[:, None]
    target = torch.arange(length)[None, :]                  # the token at t predicts t + 1, which repeats t + 1 − period
    mask = (target >= period[:, None] + 1) & (target < length - 1)
    return ids, positions, mask


PASSAGE = " ".join(random.Random(0).sample(WORDS, 40))   # 40 of the words, in a fixed random order


def filler(count: int) -> list[str]:
    """`count` paragraphs of real prose: Python's reference documentation, shipped with the interpreter."""
    from pydoc_data import topics

    from attention.domains.gpt_mini.data import clean

    paragraphs = [part.strip().replace("\n", " ") for name in sorted(topics.topics)
                  for part in clean(topics.topics[name]).split("\n\n") if len(part.strip()) > 200]
    return [paragraphs[index % len(paragraphs)] for index in range(count)]


@lru_cache(maxsize=4)
def demo_text(tokens: int = 20000, first_at: float = 0.1, second_at: float = 0.85) -> str:
    """Prose of about `tokens` MiniLM tokens in which PASSAGE appears twice: near `first_at` and `second_at` of it."""
    tok = tokenizer()
    parts, total, placed = [], 0, []
    for paragraph in filler(100000):
        for place in (first_at, second_at):
            if place not in placed and total >= place * tokens:
                parts.append(PASSAGE)
                placed.append(place)
                total += len(tok.tokenize(PASSAGE))
        if total >= tokens - 2:
            break
        words = tok.tokenize(paragraph)
        if total + len(words) > tokens - 2:   # the last paragraph is cut to fit
            paragraph = tok.convert_tokens_to_string(words[:tokens - 2 - total])
            words = tok.tokenize(paragraph)
        parts.append(paragraph)
        total += len(words)
    return "\n\n".join(parts)


def passage_positions(ids: list[int]) -> tuple[int, int, int]:
    """(first copy's start, second copy's start, passage length) of PASSAGE in a token id list (ValueError if absent)."""
    passage = tokenizer()(PASSAGE, add_special_tokens=False)["input_ids"]
    size = len(passage)
    starts = [start for start in range(len(ids) - size + 1) if ids[start:start + size] == passage]
    if len(starts) < 2:
        raise ValueError("The text does not hold the passage twice.")
    return starts[0], starts[-1], size
