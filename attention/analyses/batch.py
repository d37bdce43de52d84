"""Sentences of different lengths in one batch: the short one is padded, and the padding mask hides the pad tokens."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attention.run.api import attend, prepare


@dataclass(frozen=True)
class PaddedBatch:
    """Attention of a padded batch. Padded positions are keys no query may look at (weight exactly 0 from a scratch
    engine; below 1e-30 from transformers, which adds a very large negative number instead of -inf)."""

    model: str
    tokens: list[list[str]]   # per sentence, padded with the pad token to the longest length
    lengths: list[int]        # real tokens per sentence
    mask: np.ndarray          # [batch, key] bool, True for real tokens
    weights: np.ndarray       # [batch, layer, head, query, key] float32
    notices: list[str]

    def sentence(self, index: int) -> np.ndarray:
        """One sentence's attention without its padding: [layer, head, query, key] over its real tokens."""
        n = self.lengths[index]
        return self.weights[index, :, :, :n, :n]

    def clamp(self, layer: int, head: int) -> tuple[int, int]:
        """(layer, head) kept inside the model's layers and heads."""
        return min(layer, self.weights.shape[1] - 1), min(head, self.weights.shape[2] - 1)

    def head(self, index: int, layer: int, head: int) -> np.ndarray:
        """One sentence's head as the batch ran it, padding included: [query, key] over the padded length."""
        return self.weights[index, layer, head]

    def key_mask(self, index: int) -> np.ndarray:
        """The padding mask as the sentence's queries see it: [query, key] float, 1 for real keys, 0 for [PAD] keys."""
        width = len(self.tokens[index])
        return np.broadcast_to(self.mask[index], (width, width)).astype(float)

    def is_padded(self, index: int) -> bool:
        return self.lengths[index] < len(self.tokens[index])

    def gap_to(self, index: int, alone: np.ndarray) -> float:
        """Largest |this sentence's batched attention − `alone`| ([layer, head, query, key] of the sentence run alone)."""
        return float(np.abs(self.sentence(index) - alone).max())


def attend_padded(texts: list[str], model: str = "scratch:minilm", max_tokens: int | None = None) -> PaddedBatch:
    """Run texts of different lengths as one padded batch with a padding mask (scratch engines, transformers encoders/decoders)."""
    if not isinstance(texts, (list, tuple)) or not 2 <= len(texts) <= 8:
        raise ValueError("A padded batch needs between two and eight texts.")
    options = {} if max_tokens is None else {"max_tokens": max_tokens}
    prepared = [prepare(text, model, **options) for text in texts]
    backend = prepared[0].backend
    lengths = [len(p.ids) for p in prepared]
    weights = backend.run_padded([p.ids for p in prepared])
    pad = backend.tokenizer.pad_token or "<pad>"
    width = max(lengths)
    notices = [f"Text {index + 1}: {notice}" for index, p in enumerate(prepared) for notice in p.notices]
    return PaddedBatch(
        model=model.strip(), tokens=[p.tokens + [pad] * (width - len(p.tokens)) for p in prepared], lengths=lengths,
        mask=np.arange(width)[None, :] < np.array(lengths)[:, None], weights=weights, notices=notices,
    )


def gap_alone(batch: PaddedBatch, texts: list[str], max_tokens: int | None = None) -> float:
    """Largest |batched − alone| attention over the batch's `texts`, each also run on its own by the same model: 0 (or
    rounding) when the padding mask does its job."""
    options = {} if max_tokens is None else {"max_tokens": max_tokens}
    return max(batch.gap_to(index, attend(text, batch.model, **options).weights) for index, text in enumerate(texts))
