"""The token-link view as a Streamlit custom component (v2).

Its JavaScript and CSS ship in this folder and are read once at import: no CDN, nothing fetched, works
offline. Python hands it `components.payloads.payload(...)` as JSON; tokens are inserted with textContent.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import streamlit as st

from components import DOM_JS

_HERE = Path(__file__).resolve().parent
_MOUNT = st.components.v2.component(
    "token_links",
    js=DOM_JS + (_HERE / "token_links.js").read_text(encoding="utf-8"),
    css=(_HERE / "token_links.css").read_text(encoding="utf-8"),
)


def token_links(data: dict[str, Any], key: str, on_change: Callable[[], None] = lambda: None) -> Any:
    """Draw the links; returns the component's state: `heads` (indices switched on) and `pin` ("q3", "k5" or None)."""
    return _MOUNT(
        key=key, data=data, default={"heads": data["shown"], "pin": data["pin"]},
        on_heads_change=on_change, on_pin_change=on_change,
    )
