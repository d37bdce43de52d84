"""long-mini, the long-context demo: its training rows, its transformers folder read through the recorded path, and
the induction head's stripe from a passage's second copy to its first, thousands of tokens back."""
from __future__ import annotations

import numpy as np
import torch

from attention import attend
from attention.domains import long_mini
from attention.domains.long_mini.data import WORDS, rows, tokenizer

STRIPE_THRESHOLD = 0.3   # mean weight the best layer-1 head puts on the token after the earlier copy
SMALL_TEXT = 6000        # tokens of the test's demo text (the share link's has 20,000); the copies ≥ 5,000 apart


def test_rows_repeat_their_run_and_jump_positions():
    generator = torch.Generator().manual_seed(3)
    ids, positions, mask = rows(8, 64, (8, 24), 30000, generator)
    words = set(tokenizer().convert_tokens_to_ids(list(WORDS)))
    assert set(ids[:, 1:].flatten().tolist()) <= words and (ids[:, 0] == 101).all()
    for row in range(8):
        targets = torch.nonzero(mask[row]).flatten()
        period = int(targets[0]) - 1                     # the first predictable next token is at period + 1
        assert all(int(ids[row, t + 1]) == int(ids[row, t + 1 - period]) for t in targets.tolist())
        steps = positions[row, 1:] - positions[row, :-1]
        assert (steps >= 1).all() and (steps > 1).sum() <= 1   # one jump at most, never backwards
    assert (positions[:, -1] > 63).any()                      # some rows do jump


def test_demo_text_holds_the_passage_twice_far_apart():
    text = long_mini.demo_text(SMALL_TEXT, first_at=0.05, second_at=0.95)
    ids = tokenizer()(text)["input_ids"]
    first, second, size = long_mini.passage_positions(ids)
    assert abs(len(ids) - SMALL_TEXT) <= 2 and second - first >= 5000 and size == 40


def test_induction_stripe_to_the_earlier_copy(trained_long_mini):
    text = long_mini.demo_text(SMALL_TEXT, first_at=0.05, second_at=0.95)
    result = attend(text, long_mini.MODEL_NAME)
    assert not result.has_weights and result.meta["kv_groups"] == 2 and result.meta["causal"]
    first, second, size = long_mini.passage_positions(list(tokenizer()(text)["input_ids"]))
    # query: the second copy's token j; key: the first copy's token j + 1 (what comes next, by induction)
    stripe = []
    for head in range(result.n_heads):
        block = result.tile(1, head, slice(second, second + size - 1), slice(first + 1, first + size))
        stripe.append(float(np.diagonal(block).mean()))
    best = int(np.argmax(stripe))
    assert stripe[best] > STRIPE_THRESHOLD, stripe
    # the same query's row: its strongest key lies in the first copy, over 5,000 tokens back
    row = result.row(1, best, second + 10)
    assert int(np.argmax(row)) == first + 11 and second - first >= 5000
    # and the head is no stripe anywhere else: the same queries' weight on keys just before the first copy is small
    before = result.tile(1, best, slice(second, second + size - 1), slice(first - size, first - 1))
    assert float(np.diagonal(before).mean()) < 0.05
