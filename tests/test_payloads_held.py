"""The payloads of the views that keep what they received (components/payloads.py, issue 19), on hand-built results."""
from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from attention import Attention
from components.payloads import (PREFETCH_BYTES, head_view_payload, neighbours, packed_head, prefetch, view_id)


def made(layers: int = 3, heads: int = 4, n: int = 6, seed: int = 0, model: str = "m") -> Attention:
    rng = np.random.default_rng(seed)
    weights = rng.random((layers, heads, n, n)).astype(np.float32) ** 4
    weights /= weights.sum(-1, keepdims=True)
    return Attention(tokens=[f"t{i}" for i in range(n)], weights=weights, model=model)


def test_view_id_names_the_weights_model_and_tokens():
    a = made()
    assert view_id(a) == view_id(made())
    assert view_id(a) != view_id(made(model="other"))
    b = made()
    b.tokens[0] = "changed"   # the dataclass holds the list; a different text gives different tokens
    assert view_id(b) != view_id(a)


def test_neighbours_are_the_heads_beside_then_one_layer_away_then_the_rest_of_the_layer():
    result = made(layers=3, heads=4)
    assert neighbours(result, 1, 1)[:4] == [(1, 2), (1, 0), (2, 1), (0, 1)]
    assert set(neighbours(result, 1, 1)) == {(1, 0), (1, 2), (1, 3), (2, 1), (0, 1)}
    assert (1, 1) not in neighbours(result, 1, 1)
    assert neighbours(result, 0, 0)[:2] == [(0, 1), (1, 0)]


def test_packed_head_gives_the_weights_back_within_half_a_level():
    result = made(n=9)
    packed = packed_head(result, 2, 3)
    levels = np.frombuffer(zlib.decompress(base64.b64decode(packed["data"])), dtype=np.uint8).reshape(9, 9)
    shown = levels / 255 * packed["scale"]
    assert np.abs(shown - result.head(2, 3)).max() <= packed["scale"] / 510 + 1e-7
    assert packed["scale"] == pytest.approx(float(result.head(2, 3).max()))


def test_prefetch_stops_at_its_budget_in_order():
    result = made(layers=2, heads=8, n=64, seed=3)
    order = neighbours(result, 0, 0)
    one = len(packed_head(result, *order[0])["data"])
    chosen = prefetch(result, order, budget=int(one * 2.5))
    assert [(p["layer"], p["head"]) for p in chosen] == order[:len(chosen)]
    assert 1 <= len(chosen) <= 3 and sum(len(p["data"]) for p in chosen) <= int(one * 2.5)
    assert len(prefetch(result, order, budget=1)) == 1   # at least one, whatever the budget
    assert len(prefetch(result, order)) == len(order)     # 64 tokens: the whole neighbourhood fits PREFETCH_BYTES
    assert sum(len(p["data"]) for p in prefetch(result, order)) <= PREFETCH_BYTES


def test_head_view_payload_sends_weights_and_tokens_only_when_the_browser_lacks_them():
    result = made()
    first = head_view_payload(result, 1, 2, held=set(), has_tokens=False)
    assert first["tokens"] == result.tokens and "weights" in first and first["title"] == "Layer 1 · Head 2"
    again = head_view_payload(result, 1, 2, held={(1, 2)}, has_tokens=True, fixed=True)
    assert "weights" not in again and "tokens" not in again and again["fixed"] is True
    assert again["view"] == first["view"] == view_id(result)
    other = head_view_payload(result, 9, 9, held={(1, 2)}, has_tokens=True)   # clamped to the model's last head
    assert (other["layer"], other["head"]) == (2, 3) and "weights" in other
