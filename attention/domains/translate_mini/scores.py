"""The held-out figures: exact match, and how often cross-attention peaks on the source span a digit copies."""
from __future__ import annotations

from typing import Any

import torch

from attention.domains.translate_mini.data import FIELDS, ISO_FIELDS, Example, field_tokens, tokenizer
from attention.domains.translate_mini.model import Translator, _text, decode


def _grouped(examples: list[Example]) -> list[list[int]]:
    """Indices of examples grouped by tokenised source length (batches without padding)."""
    groups: dict[int, list[int]] = {}
    for index, ids in enumerate(tokenizer()([e.source for e in examples])["input_ids"]):
        groups.setdefault(len(ids), []).append(index)
    return list(groups.values())


def exact_match(network: Translator, examples: list[Example]) -> float:
    """Share of examples whose greedy output equals the ISO date exactly."""
    encode, right = tokenizer(), 0
    for group in _grouped(examples):
        ids = torch.tensor(encode([examples[i].source for i in group])["input_ids"])
        right += sum(_text(out) == examples[i].target for i, out in zip(group, decode(network, ids)))
    return right / len(examples)


def alignment(network: Translator, examples: list[Example]) -> dict[str, Any]:
    """How often cross-attention finds the right source span: for every output digit (teacher-forced on the reference
    date), the source token where the last decoder layer's cross-attention, averaged over its heads, peaks; a hit when
    that token lies inside the span of the field (day, month, year) the digit copies. Returns the overall share, the
    share per field, and `chance`: the share a peak drawn uniformly over the source tokens would reach."""
    encode = tokenizer()
    hits = {name: 0 for name in FIELDS}
    counts = {name: 0 for name in FIELDS}
    chance = 0.0
    for group in _grouped(examples):
        source = torch.tensor(encode([examples[i].source for i in group])["input_ids"])
        target = torch.tensor(encode([examples[i].target for i in group])["input_ids"])
        with torch.inference_mode():
            _, decoded = network.encode_decode(source, target[:, :-1])
        peaks = decoded.cross[-1].mean(dim=1).argmax(dim=-1).numpy()       # [batch, target] from [batch, head, target, source]
        for row, index in enumerate(group):
            inside = field_tokens(examples[index])
            for position, name in enumerate(ISO_FIELDS):                    # query `position` writes character `position`
                if name is None:
                    continue
                counts[name] += 1
                hits[name] += bool(inside[name][peaks[row, position]])
                chance += inside[name].mean()
    total = sum(counts.values())
    return {"score": sum(hits.values()) / total, "per_field": {n: hits[n] / counts[n] for n in FIELDS},
            "chance": float(chance / total), "outputs": total}
