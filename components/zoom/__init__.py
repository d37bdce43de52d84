"""A long attention head as a zoomable map (Streamlit custom component, v2): it opens on the head's overview and
fetches the part on screen from Python as the reader zooms, exact once a cell is one weight (views/zoom/zoom.js).

Requests travel through the component's triggers ("window", "row", "level", "open", "pool", "record", "missing"):
each reruns only the fragment that draws the view (call `zoom_view` inside an st.fragment), which answers with one
small payload (components/zoom/payload.py). Once a head's overview is drawn, the view asks for its queries and keys
("record", when they fit in RECORD_BYTES): from then on it computes every window itself, exactly as Attention.tile
does, so a zoom step costs no round trip (a rerun of the fragment under load took ~1 s in bench/bench_zoom.py). What the browser already holds (the tokens, the overviews it has drawn) is not sent
again: this session keeps a record of it, as the heatmap does.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import streamlit as st

from attention import Attention
from attention.run import limits
from views import DOM_JS, asset
from views.payloads import view_id
from views.zoom.payload import grouped_payload, record_payload, row_payload, window_payload, zoom_payload

_COMMON = asset("heatmap/common.js")   # colours, base64, tooltip, pending
_MOUNT = st.components.v2.component(
    "zoom_view",
    js=DOM_JS + _COMMON + asset("zoom/zoom.js"),
    css=asset("zoom/zoom.css"),
)
_HELD = "_zoom_held"      # session key: {view id: {"tokens": bool, "overviews": {(layer, head, pool), ...}}}
_VIEWS_KEPT = 4
POOLS = ("max", "mean")


def _wire(data: dict[str, Any]) -> str:
    """The view's data as one JSON string (zoom.js parses it): given a dict, Streamlit checks each of its values for a
    dataframe, item by item through a list (0.27 s for 32,000 tokens). (The first mount of a component in a process
    still imports pandas, 0.22 s: zoom_preload does it while the model runs.)"""
    return json.dumps(data)


def zoom_pending(message: str, key: str) -> Any:
    """A placeholder drawn while the model runs (the component's script loads meanwhile)."""
    return _MOUNT(key=key, data=_wire({"pending": message}))


def zoom_preload(key: str) -> Any:
    """The view with nothing to draw, mounted while a text that may give a long result runs: the page loads the
    view's script, and the server imports pandas if no component did before (Streamlit does at a first mount)."""
    return _MOUNT(key=key, data=_wire({"preload": True}))


def _held(result: Attention) -> dict[str, Any]:
    record = st.session_state.setdefault(_HELD, {})
    view = view_id(result)
    if view not in record:
        while len(record) >= _VIEWS_KEPT:
            record.pop(next(iter(record)))
        record[view] = {"tokens": False, "overviews": set()}
    return record[view]


def zoom_view(result: Attention, layer: int, head: int, key: str, on_open: Callable[[int, int], None]) -> None:
    """Draw one head of `result` as a zoomable map with its layers × heads grid; answer the view's requests (a window,
    a row, a sentence or block level, another head: `on_open(layer, head)`, another pooling). Errors a request can
    cause (a window outside the map) are shown on the view, not raised."""
    asked = st.session_state.setdefault(f"_{key}_asked", {})
    pool = st.session_state.setdefault(f"_{key}_pool", "max")
    record = _held(result)
    layer, head = result.clamp(layer, head)
    data = zoom_payload(result, layer, head, pool, overview=(layer, head, pool) not in record["overviews"],
                        tokens=not record["tokens"])
    try:
        window = asked.pop("window", None)
        if window and (window.get("layer"), window.get("head"), window.get("pool")) == (layer, head, pool):
            data["window"] = {**window_payload(result, layer, head, (window["q0"], window["q1"]),
                                               (window["k0"], window["k1"]), pool), "seq": int(window.get("seq", 0))}
        row = asked.pop("row", None)
        if row and (row.get("layer"), row.get("head")) == (layer, head):
            data["row"] = row_payload(result, layer, head, int(row["query"]))
        wanted = asked.pop("record", None) or (window if window and window.get("record") else None)
        if wanted and (wanted.get("layer"), wanted.get("head")) == (layer, head):
            data["record"] = record_payload(result, layer, head) or {"layer": layer, "head": head, "none": True}
        level = asked.pop("level", None)
        if level and (level.get("layer"), level.get("head")) == (layer, head) and level.get("by") in ("sentence", "block"):
            data["grouped"] = grouped_payload(result, layer, head, by=level["by"])
    except (ValueError, KeyError, TypeError) as error:
        data["error"] = str(error)

    def on(name: str) -> Callable[[], None]:
        def remember() -> None:
            value = (st.session_state.get(key) or {}).get(name)
            if isinstance(value, dict):
                asked[name] = value
        return remember

    def opened() -> None:
        value = (st.session_state.get(key) or {}).get("open") or {}
        if "layer" in value and "head" in value:
            on_open(*result.clamp(int(value["layer"]), int(value["head"])))

    def pooled() -> None:
        value = (st.session_state.get(key) or {}).get("pool") or {}
        if value.get("pool") in POOLS:
            st.session_state[f"_{key}_pool"] = value["pool"]

    def missing() -> None:   # the browser lost what this record counted: send it all again
        record["tokens"] = False
        record["overviews"].clear()

    _MOUNT(key=key, data=_wire(data), on_window_change=on("window"), on_row_change=on("row"), on_level_change=on("level"),
           on_record_change=on("record"),
           on_open_change=opened, on_pool_change=pooled, on_missing_change=missing)
    record["tokens"] = True
    record["overviews"].add((layer, head, pool))
    _warm_layer(result, layer, head)


WARM_HEADS = 8   # after a long head is drawn, this many other heads of its layer get their overviews in the background


def _warm_layer(result: Attention, layer: int, head: int) -> None:
    """Start computing the overviews of the nearest other heads of `layer` (once per result and layer), so a click on
    one of them finds it ready; not in hosted mode, where the server's CPU is shared by every visitor."""
    if result.has_weights or limits.current().hosted:
        return
    warmed = st.session_state.setdefault("_zoom_warmed", set())
    if (view_id(result), layer) in warmed:
        return
    warmed.add((view_id(result), layer))
    others = sorted((h for h in range(result.n_heads) if h != head), key=lambda h: abs(h - head))[:WARM_HEADS]
    result.warm(layer, others)
