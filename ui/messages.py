"""Text shown on a page: user text is escaped for Markdown, so it is shown as text and never rendered."""
from __future__ import annotations

import re

import streamlit as st

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md_escape(text: str) -> str:
    """Text shown literally inside st.error/st.warning/st.markdown (they read Markdown)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def warn(message: str) -> None:
    """A notice on the page (escaped: messages may quote user text)."""
    st.warning(md_escape(message))
