"""What induction-mini reads: a character-level vocabulary of 64 tokens, and runs of random tokens repeated with a
random period (the setting where only an induction head can predict the repeats).

Vocabulary: [BOS], [UNK], "▁" (any white space), a–z, 0–9 and 25 punctuation marks; text is lower-cased, every
character is one token, and every text starts with [BOS]. A training row is [BOS] then random tokens t₁ … t_p (the
*first part*) repeated until the row is full: token t equals token t − p. The period p is drawn anew for every row
(8–31 by default): with one fixed period, a head looking p tokens back would predict the repeats without any induction
head forming (measured in issue 25: induction score 0.02).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

SPACE = "▁"
SPECIALS = ("[BOS]", "[UNK]")
SYMBOLS = (SPACE, *"abcdefghijklmnopqrstuvwxyz0123456789", *".,;:!?'\"-()/&+=*#@$%_<>{}")
BOS, UNK = 0, 1
PROBE_LENGTH = 31     # random tokens in each copy of the probe: [BOS] and two copies fill 63 of the 64 positions


def vocabulary() -> list[str]:
    """Every token, in id order: [BOS], [UNK], then the 62 symbols (64 in all)."""
    return [*SPECIALS, *SYMBOLS]


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """A transformers fast tokenizer over `vocabulary()`: lower-cased, one token per character (white space read as
    "▁"), a [BOS] first; characters outside the vocabulary become [UNK]."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(vocabulary())}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    inner.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(Regex(r"\s"), SPACE)])
    inner.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    inner.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", BOS)])
    inner.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="[UNK]", bos_token="[BOS]", model_max_length=64)


def repeated_rows(count: int, length: int, periods: tuple[int, int], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` rows of [BOS] + `length` tokens, each a random run repeated with its own period drawn from
    periods[0] … periods[1]: (ids int64 [row, 1 + length], period int64 [row]). Symbols are drawn with replacement."""
    low, high = periods
    period = torch.randint(low, high + 1, (count,), generator=generator)                  # [row]
    runs = torch.randint(len(SPECIALS), len(SPECIALS) + len(SYMBOLS), (count, high), generator=generator)  # [row, high]
    position = torch.arange(length)                                                        # [length]
    body = runs.gather(1, position[None, :] % period[:, None])                             # [row, length]: t = t − p
    return torch.cat([torch.full((count, 1), BOS), body], dim=1), period


def parts(period: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which next-token targets (positions 1 … length of a row) fall in each part: (first, repeated), bool [row, length].

    first: targets 1 … p + 1, the first copy and the first token of the second (nothing before says what they will
    be); repeated: targets p + 2 onwards, each predictable by finding its previous token's earlier copy."""
    target = torch.arange(1, length + 1)[None, :]                                          # [1, length]
    first = target <= period[:, None] + 1
    return first, ~first


def probe(sequences: int = 4, length: int = PROBE_LENGTH, seed: int = 0) -> np.ndarray:
    """The standard probe of the head scores: [BOS], `length` random symbols, the same symbols again (Olsson et al.,
    2022; the probe attention.analyses.generation.head_scores draws for this model): int64 [sequence, 1 + 2·length]."""
    pool = np.arange(len(SPECIALS), len(vocabulary()))
    draws = np.random.default_rng(seed).choice(pool, size=(sequences, length))
    return np.concatenate([np.full((sequences, 1), BOS), draws, draws], axis=1).astype(np.int64)
