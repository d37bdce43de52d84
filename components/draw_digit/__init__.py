"""A tiny 8×8 drawing pad (Streamlit custom component, v2): paint a digit with the mouse or a finger.

Its JavaScript and CSS ship in this folder and are read once at import: no CDN, nothing fetched. The picture
travels both ways as 64 hex digits, one grey level (0–f) per pixel, row by row (attention.domains.vision.encode_pixels).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import streamlit as st

_HERE = Path(__file__).resolve().parent
_MOUNT = st.components.v2.component(
    "draw_digit",
    js=(_HERE / "draw_digit.js").read_text(encoding="utf-8"),
    css=(_HERE / "draw_digit.css").read_text(encoding="utf-8"),
)


def draw_digit(pixels: str, key: str, on_change: Callable[[], None] = lambda: None) -> Any:
    """Show the pad holding `pixels`; when a stroke ends, st.session_state[key].pixels holds the new 64 hex digits."""
    return _MOUNT(key=key, data={"pixels": pixels}, default={"pixels": pixels}, on_pixels_change=on_change)
