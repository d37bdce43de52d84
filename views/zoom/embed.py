"""A long result's zoomable view with no server behind it (a notebook cell, one offline HTML file).

In the app, the view asks Python for each head's overview and queries/keys as the reader opens heads. Here everything
must travel in the page, so it carries, for as many heads as fit in `max_bytes` (the head asked for first, then the
rest of its layer, then the other layers):
  - both overviews (max and mean pooling, payload.overview_payload),
  - the head's queries and each row's log-sum-exp (payload.record_payload), with the keys once per key/value head
    (grouped-query heads share them), from which the browser computes every window and row exactly, as in the app.
A head whose queries and keys cannot travel (a mask other than causal or full, padding, a model's own bias, more than
payload.RECORD_BYTES) is shown as its overviews only, and the view says so when asked to zoom. Sentence and block
levels are the app's: the file says so.
"""
from __future__ import annotations

import json
from typing import Any

from attention import Attention
from views.zoom.payload import kv_groups, overview_payload, record_payload, zoom_payload

FILE_BYTES = 24_000_000       # a long result's offline file holds heads while it stays under this
NOTEBOOK_BYTES = 8_000_000    # a notebook cell's share (a saved notebook carries it)


def head_order(result: Attention, layer: int, head: int) -> list[tuple[int, int]]:
    """The heads in the order they are added: the one asked for, the rest of its layer, then every other layer."""
    layer, head = result.clamp(layer, head)
    rest = [(layer, h) for h in range(result.n_heads) if h != head]
    others = [(l, h) for l in range(result.n_layers) if l != layer for h in range(result.n_heads)]
    return [(layer, head), *rest, *others]


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def embedded(result: Attention, layer: int = 0, head: int = 0, max_bytes: int = FILE_BYTES) -> dict[str, Any]:
    """{base, tokens, layer, head, heads: {"l|h": {max, mean, record}}, keys: {"l|g": base64}, held, total, exact,
    note}: what the standalone view needs to zoom into the heads that fit in `max_bytes` (always the first one)."""
    layer, head = result.clamp(layer, head)
    base = zoom_payload(result, layer, head, "max", overview=False, tokens=False)
    tokens = [str(token) for token in result.tokens]
    groups = kv_groups(result)
    heads: dict[str, Any] = {}
    keys: dict[str, str] = {}
    used = _size(tokens) + _size(base)
    for l, h in head_order(result, layer, head):
        entry: dict[str, Any] = {"max": overview_payload(result, l, h, "max"), "mean": overview_payload(result, l, h, "mean")}
        record = record_payload(result, l, h)
        new_key: dict[str, str] = {}
        if record is not None:
            kv = f"{l}|{h // groups}"
            key_data = record.pop("k")
            if kv not in keys:
                new_key[kv] = key_data
            record["kv"] = kv
        entry["record"] = record
        cost = _size(entry) + _size(new_key)
        if heads and used + cost > max_bytes:
            break
        heads[f"{l}|{h}"] = entry
        keys.update(new_key)
        used += cost
    total = result.n_layers * result.n_heads
    exact = sum(1 for entry in heads.values() if entry["record"] is not None)
    held = ", ".join(f"L{key.replace('|', 'H')}" for key in heads) if len(heads) < total else "every head"
    note = (f"This page holds {len(heads)} of {total} heads ({held}), within {max_bytes / 1e6:.0f} MB: each as its "
            f"overview (max and mean pooling)" + (f", and {exact} with their queries and keys, so zooming and a query's "
                                                  "row are computed exactly in the page" if exact else "") + ". "
            "Other heads, and sentence or block levels, open in the app.")
    return {"base": base, "tokens": tokens, "layer": layer, "head": head, "heads": heads, "keys": keys,
            "held": len(heads), "total": total, "exact": exact, "note": note}
