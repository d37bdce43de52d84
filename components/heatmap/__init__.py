"""One head as a canvas heatmap, and every layer × head as a clickable grid (Streamlit custom components, v2).

They draw without waiting for Streamlit's plotly bundle (4.7 MB of script to parse), which makes the first
sight of a share link fast, and they carry weights as uint16 levels / uint8 thumbnails. JavaScript and CSS ship in this folder
and are read once at import: no CDN, nothing fetched, works offline. Python hands it
`components.payloads.head_payload(...)`; tokens are drawn with fillText/textContent, never as markup.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import streamlit as st

from components import DOM_JS

_HERE = Path(__file__).resolve().parent
_COMMON = DOM_JS + (_HERE / "common.js").read_text(encoding="utf-8")  # element(), colours, base64 decoding, the tooltip
_MOUNT = st.components.v2.component(
    "head_heatmap",
    js=_COMMON + (_HERE / "heatmap.js").read_text(encoding="utf-8"),
    css=(_HERE / "heatmap.css").read_text(encoding="utf-8"),
)
_GRID = st.components.v2.component(
    "head_grid",
    js=_COMMON + (_HERE / "grid.js").read_text(encoding="utf-8"),
    css=(_HERE / "heatmap.css").read_text(encoding="utf-8"),
)


def head_heatmap(payload: dict[str, Any], key: str) -> Any:
    """Draw one head from `head_payload(result, layer, head)`."""
    return _MOUNT(key=key, data=payload)


def head_grid(payload: dict[str, Any], key: str, on_open: Callable[[], None]) -> Any:
    """Draw the layers × heads grid from `grid_payload(result)`; a click calls `on_open`, and
    `st.session_state[key].open` is then {"layer": ..., "head": ...}."""
    return _GRID(key=key, data=payload, on_open_change=on_open)
