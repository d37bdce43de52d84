"""The payloads of the views that keep what they received (views/payloads.py, issue 19), on hand-built results."""
from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from attention import Attention
from views.payloads import (PREFETCH_BYTES, head_view_payload, neighbours, packed_head, prefetch, view_id)


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


def test_links_view_sends_a_layer_and_the_tokens_only_when_the_browser_lacks_them():
    from attention.analyses.links import layer_links
    from views.payloads import payload
    from components.token_links import lean, links_view

    result = made(layers=3, heads=4, n=6, seed=5)
    slot = lambda layer: f"{layer}|0.1|heads"
    full = lambda layer: {**payload(layer_links(result, layer, 0.1), [0, 2], "q1"), "slot": slot(layer)}
    slots = [slot(layer) for layer in range(3)]
    first = links_view(view_id(result), slot(0), full(0), held=set(), prefetched=None, more=True, layer=0, slots=slots)
    assert first["tokens"] == result.tokens and len(first["heads"]) == 4 and first["more"] is True
    assert (first["layer"], first["layers"], first["slots"]) == (0, 3, slots)
    assert first["shown"] == [0, 2] and first["pin"] == "q1"
    # the browser asked for the rest: the other layers come without their tokens
    ahead = links_view(view_id(result), slot(0), full(0), held={slot(0)}, prefetched=[full(1), full(2)], layer=0, slots=slots)
    assert "tokens" not in ahead and "heads" not in ahead
    assert [item["slot"] for item in ahead["prefetch"]] == [slot(1), slot(2)]
    assert all("tokens" not in item and len(item["heads"]) == 4 for item in ahead["prefetch"])
    # a layer it holds travels as a reference: its slot, the heads shown and the pin, nothing of the links
    again = links_view(view_id(result), slot(1), full(1), held={slot(0), slot(1), slot(2)}, layer=1, slots=slots)
    assert set(again) == {"view", "slot", "shown", "pin", "threshold", "more", "layer", "layers", "slots"}
    assert again["slot"] == slot(1) and again["layer"] == 1
    # what travels with every rerun of the view: the script without its comment lines and indentation, line for line
    script = "// why\nfunction f() {\n    return 1;   // kept\n}\n\n  // gone\n"
    assert lean(script) == "function f() {\nreturn 1;   // kept\n}"
