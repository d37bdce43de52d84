"""Shared Streamlit pieces for the pages: URL state, the model picker, running attend() safely.

Lives outside pages/ because Streamlit runs every file in pages/ as a page. The core
(attention/) never imports streamlit; this module is the only bridge.
"""
from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st

from attention import MODELS, Attention, attend

DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
OTHER_MODEL = "Other: a Hugging Face id or a local folder"
URL_TEXT_CAP = 6000  # characters of text kept in a share link (more than a 512-token model reads)
MODEL_HELP = (
    "minilm: the bundled real BERT encoder (all-MiniLM-L6-v2, 6 layers × 12 heads), run by Hugging Face transformers.  \n"
    "scratch: this project's own encoder with seeded random weights (2 layers × 4 heads).  \n"
    "scratch:minilm: this project's own encoder holding MiniLM's real weights; its attention equals minilm's.  \n"
    "Other: any Hugging Face model id or local model folder (offline machines can only use local ones)."
)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md_escape(text: str) -> str:
    """Text shown literally inside st.error/st.warning/st.markdown (they read Markdown)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def warn(message: str) -> None:
    st.warning(md_escape(message), icon="⚠️")


def first_value(name: str) -> str | None:
    """A query parameter's value (the last one when it is repeated), or None."""
    values = st.query_params.get_all(name)
    return values[-1] if values else None


def parse_index(raw: str | None, name: str) -> tuple[int, str | None]:
    """A 0-based index from the URL: (value, notice when it was not a usable number)."""
    if raw is None:
        return 0, None
    cleaned = raw.strip()
    if re.fullmatch(r"[+-]?\d{1,6}", cleaned):
        value = int(cleaned)
        if value < 0:
            return 0, f"The link asked for {name} {value}; {name}s count from 0, so {name} 0 is shown."
        return value, None
    return 0, f"The link's {name} '{raw[:20]}' is not a number; {name} 0 is shown."


def load_url_state(defaults: dict[str, Any], readers: dict[str, Callable[[str | None], tuple[Any, str | None]]]) -> None:
    """Once per session, copy the URL's query parameters into session state (readers turn text into values)."""
    if st.session_state.get("_url_loaded"):
        return
    st.session_state["_url_loaded"] = True
    notices = []
    for key, default in defaults.items():
        raw = first_value(key)
        if key in readers:
            value, notice = readers[key](raw)
            notices += [notice] if notice else []
        else:
            value = default if raw is None else raw
        st.session_state[key] = value
    st.session_state["_url_notices"] = notices


def show_url_notices() -> None:
    for notice in st.session_state.pop("_url_notices", []):
        warn(notice)


def read_model(raw: str | None) -> tuple[str, str | None]:
    return (raw.strip() if raw and raw.strip() else MODELS[0]), None


def model_picker(key: str = "model") -> str:
    """Preset models plus a field for any id or folder; the chosen name is kept in st.session_state[key]."""
    current = st.session_state.get(key, MODELS[0])
    choice_key, custom_key = f"_{key}_choice", f"_{key}_custom"
    if choice_key not in st.session_state:
        st.session_state[choice_key] = current if current in MODELS else OTHER_MODEL
        st.session_state[custom_key] = "" if current in MODELS else current
    choice = st.selectbox("Model", [*MODELS, OTHER_MODEL], key=choice_key, help=MODEL_HELP)
    if choice == OTHER_MODEL:
        custom = st.text_input(
            "Model id or folder", key=custom_key, placeholder="e.g. bert-base-uncased or /models/my-bert",
            help="A Hugging Face model id (needs the network unless cached) or a local folder holding config.json. "
            "Code shipped with a model is never run.",
        )
        st.session_state[key] = custom.strip() or MODELS[0]
    else:
        st.session_state[key] = choice
    return st.session_state[key]


def read_text(raw: str | None) -> tuple[str, str | None]:
    return (raw if raw and raw.strip() else DEFAULT_TEXT), None


TEXT_HELP = "Any text. Long texts are cut to the model's limit (512 tokens for MiniLM), with a notice."


def text_and_model(text_label: str = "Text", height: int = 90) -> tuple[str, str]:
    """The text box and model picker side by side, bound to session keys "text" and "model"."""
    left, right = st.columns([3, 1])
    with left:
        text = st.text_area(text_label, key="text", height=height, help=TEXT_HELP)
    with right:
        model = model_picker()
    return text, model


def run_attend(text: str, model: str, **options: Any) -> Attention | None:
    """attend() with a spinner; a user error becomes a message on the page and None."""
    try:
        with st.spinner(f"Running {model[:60]} (the first run loads the model)…"):
            result = attend(text, model, **options)
    except ValueError as error:
        st.error(md_escape(str(error)), icon="🚫")
        return None
    for notice in result.notices:
        warn(notice)
    return result


def clamp_index(key: str, size: int, name: str) -> None:
    """Keep st.session_state[key] inside 0..size-1, saying so when a link asked for more."""
    value = int(st.session_state.get(key, 0))
    if value > size - 1:
        warn(f"This model has {size} {name}s (0–{size - 1}); {name} {value} does not exist, so {name} {size - 1} is shown.")
        st.session_state[key] = size - 1


def sync_url(params: dict[str, Any]) -> str:
    """Write the view into the URL's query parameters; returns the share link."""
    wanted = {name: str(value) for name, value in params.items() if value is not None}
    if "text" in wanted:
        wanted["text"] = wanted["text"][:URL_TEXT_CAP]
    if {name: first_value(name) for name in st.query_params} != wanted:
        st.query_params.from_dict(wanted)
    base = st.context.url or ""
    return f"{base}?{urlencode(wanted)}"


def share_box(link: str, text: str) -> None:
    """The share link, with Streamlit's copy button."""
    with st.container(border=True):
        st.markdown("**Share this view** — the link opens exactly what you see. Use the copy icon at the right.")
        st.code(link, language=None, wrap_lines=True)
        if len(text) > URL_TEXT_CAP:
            warn(f"The link keeps the first {URL_TEXT_CAP:,} characters of the text.")
