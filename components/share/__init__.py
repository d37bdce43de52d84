"""The share link with a Copy button (a Streamlit custom component, v2; code ships in this folder)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

_HERE = Path(__file__).resolve().parent
_MOUNT = st.components.v2.component(
    "share_link",
    js=(_HERE / "share.js").read_text(encoding="utf-8"),
    css=(_HERE / "share.css").read_text(encoding="utf-8"),
)


def share_link(link: str, key: str = "share_link") -> None:
    """Show `link` in a read-only field with a Copy button."""
    _MOUNT(key=key, data={"link": link})
