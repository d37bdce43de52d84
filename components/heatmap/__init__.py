"""One head as a canvas heatmap, and every layer × head as a clickable grid (Streamlit custom components, v2).

They draw without waiting for Streamlit's plotly bundle (4.7 MB of script to parse), which makes the first
sight of a share link fast, and they carry weights as uint16 levels / uint8 thumbnails. JavaScript and CSS ship in views/heatmap/
and are read once at import: no CDN, nothing fetched, works offline. Python hands it
`views.payloads.head_payload(...)`; tokens are drawn with fillText/textContent, never as markup.

`head_view` is the app's heatmap that keeps what it received (issue 19): this session's record of the heads the
browser holds lives in st.session_state, so a head already there travels as a reference, and after the first view is
drawn the browser asks for the heads a reader opens next (`views.payloads.prefetch`, within PREFETCH_BYTES).
Call it inside an st.fragment: a change then reruns only that view.
"""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from attention import Attention
from views import DOM_JS, asset
from views.payloads import PREFETCH_BYTES, head_view_payload, neighbours, prefetch, view_id

_COMMON = DOM_JS + asset("heatmap/common.js")  # element(), colours, base64 decoding, the tooltip
_MOUNT = st.components.v2.component(
    "head_heatmap",
    js=_COMMON + asset("heatmap/heatmap.js"),
    css=asset("heatmap/heatmap.css"),
)
_GRID = st.components.v2.component(
    "head_grid",
    js=_COMMON + asset("heatmap/grid.js"),
    css=asset("heatmap/heatmap.css"),
)
_HELD = "_heatmap_held"   # session key: {view id: {"tokens": bool, "heads": {(layer, head), ...}}}
_VIEWS_KEPT = 8           # results remembered per session (the browser's store keeps at least as many at 512 tokens)


def head_heatmap(payload: dict[str, Any], key: str) -> Any:
    """Draw one head from `head_payload(result, layer, head)`."""
    return _MOUNT(key=key, data=payload)


def head_grid(payload: dict[str, Any], key: str, on_open: Callable[[], None]) -> Any:
    """Draw the layers × heads grid from `grid_payload(result)`; a click calls `on_open`, and
    `st.session_state[key].open` is then {"layer": ..., "head": ...}. With `view` in the payload (view_id) a click
    goes first to the heatmap of that result on the page (see head_view), which draws it and calls its own on_open."""
    return _GRID(key=key, data=payload, on_open_change=on_open)


def held_by_browser(result: Attention) -> dict[str, Any]:
    """This session's record of what the browser holds of `result`: {"tokens": bool, "heads": set of (layer, head)}."""
    record = st.session_state.setdefault(_HELD, {})
    view = view_id(result)
    if view not in record:
        while len(record) >= _VIEWS_KEPT:
            record.pop(next(iter(record)))
        record[view] = {"tokens": False, "heads": set()}
    return record[view]


def head_view(result: Attention, layer: int, head: int, key: str, on_open: Callable[[int, int], None],
              fixed: bool = False, pickers: tuple[int, int] | None = None, pair: dict[str, Any] | None = None,
              hold: str | None = None) -> None:
    """The app's heatmap of one head: sends the weights only when the browser lacks them, prefetches the heads beside
    it once it is drawn, and draws a grid click or a picker change at once; `on_open(layer, head)` keeps the page's
    state in step. `pickers` = (layers, heads): the component draws its own Layer and Head boxes (a change is drawn in
    the browser, then the server follows). `pair` = {"result": B, "alignment": Alignment, "title_a", "title_b"}: B's
    head beside A's on one colour scale, and A − B over the aligned tokens, computed in the browser (Compare).
    `hold`: ui.held_heights' rule for the page's keyed containers above the view, added as the view draws (ui.draw_first)."""
    layer, head = result.clamp(layer, head)
    results = [result] + ([pair["result"]] if pair else [])
    records = [held_by_browser(each) for each in results]
    wanted = st.session_state.pop(f"_{key}_prefetch", False)
    near = neighbours(result, layer, head)
    todo = [[pair_ for pair_ in near if pair_ not in record["heads"]] for record in records]
    packed: list[dict[str, Any]] = []
    if wanted and any(todo):   # with a pair, each side's missing heads within half the budget
        budget = PREFETCH_BYTES // len(results)
        packed = [{**item, "view": view_id(each)} for each, missing_ in zip(results, todo) if missing_
                  for item in prefetch(each, missing_, budget)]
    data = head_view_payload(result, layer, head, records[0]["heads"], records[0]["tokens"], fixed, packed,
                             more=any(todo) and not packed)
    if pickers:
        data["pickers"] = {"layers": int(pickers[0]), "heads": int(pickers[1])}
    if hold:
        data["hold"] = hold
    if pair:
        other = head_view_payload(pair["result"], layer, head, records[1]["heads"], records[1]["tokens"])
        alignment = pair["alignment"]
        data["pair"] = {"view": other["view"], "title_a": pair["title_a"], "title_b": pair["title_b"],
                        "a": [int(i) for i in alignment.a], "b": [int(i) for i in alignment.b],
                        "labels": [str(label) for label in alignment.labels],
                        **{k: other[k] for k in ("tokens", "weights", "scale") if k in other}}

    def opened() -> None:
        chosen = st.session_state[key].get("open") or {}
        if "layer" in chosen and "head" in chosen:
            on_open(*result.clamp(int(chosen["layer"]), int(chosen["head"])))

    def missing() -> None:   # the browser let a head go that this record still counted: send everything again
        for record in records:
            record["tokens"] = False
            record["heads"].clear()

    _MOUNT(key=key, data=data, on_open_change=opened, on_missing_change=missing,
           on_prefetch_change=lambda: st.session_state.__setitem__(f"_{key}_prefetch", True))
    for each, record in zip(results, records):
        record["tokens"] = True
        record["heads"].add((layer, head))
        record["heads"].update((item["layer"], item["head"]) for item in packed if item["view"] == view_id(each))
