"""A result too long for the full heatmap, as the pages show it: the zoomable map of one head (components/zoom) in a
fragment, so a zoom step reruns only the view; the page's layer and head follow a grid click and go into the URL."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from attention import Attention
from attention.domains import long_mini
from components.zoom import zoom_preload, zoom_view
from ui.run import stop_with_share
from ui.state import PageState

DEMO = long_mini.MODEL_NAME   # demo=long-mini in a link: long-mini on its demo text
LONG_TEXT_CHARS = 2_000       # a text longer than this may give a long result (the zoomable view): see preload()


def is_long(result: Attention) -> bool:
    """True when the result keeps queries and keys instead of every weight (attend() decided it was too long)."""
    return not result.has_weights


def open_demo(state: PageState) -> None:
    """On a link's demo=long-mini (once per session): long-mini and its ~20,000-token demo text, which is too long for
    a link to carry. Any other value is left alone with a notice."""
    asked = state["demo"]
    if not asked or st.session_state.get("_demo_opened") == asked:
        return
    st.session_state["_demo_opened"] = asked
    if asked != DEMO:
        st.warning(f"The link's demo '{asked[:40]}' is not one this app has; it has demo={DEMO}.")
        return
    state["text"], state["model"] = long_mini.demo_text(), DEMO


def demo_share(text: str) -> dict[str, Any]:
    """The link's text parameter: demo=long-mini when the text is the demo text, else the text itself."""
    demo = len(text) > 50_000 and long_mini.PASSAGE in text and text == long_mini.demo_text()   # cheap checks first
    return {"demo": DEMO} if demo else {"text": text}


def preload(text: str) -> None:
    """While `text` runs: when it may give a long result, the zoomable view with nothing to draw (zoom_preload), so
    its script is loaded (and Streamlit's first-mount import done) before the run ends."""
    if len(text) > LONG_TEXT_CHARS:
        zoom_preload(key="zoom_preload")


def stop_with_long_share(text: str, **params: Any) -> None:
    """End the page run of a long result with its share box: the link carries demo=long-mini for the demo text (so
    the box says nothing of the link cutting the text), else the text."""
    shared = demo_share(text)
    stop_with_share({**params, **shared}, shared.get("text", ""))


def model_note(result: Attention, text: str | None = None) -> str | None:
    """What long-mini is, for the page (None for other models), and where to look when `text` (what was run) is its
    demo text; its numbers come from its config and the result's own tokens."""
    if result.model != DEMO:
        return None
    c = long_mini.LongMiniConfig()
    note = (f"**long-mini** is a small Llama trained on this machine: {c.layers} layers, {c.heads} query heads sharing "
            f"{c.kv_heads} key/value heads (grouped-query attention), rotary positions (base {c.rope_theta:,.0f}) for up "
            f"to {c.max_positions:,} tokens, trained on runs of random words repeated with position gaps up to "
            f"{c.max_gap:,}, so that its layer-1 induction heads find an earlier copy far back, not only nearby.")
    if text is not None and "demo" in demo_share(text):
        first, second, size = long_mini.passage_positions(
            long_mini.data.tokenizer().convert_tokens_to_ids(list(result.tokens)))
        note += (f" The demo text is Python's documentation with one {size}-token passage placed twice, at token "
                 f"{first:,} and at token {second:,}: open layer 1 and look for the stripe {second - first:,} tokens "
                 "left of the diagonal.")
    return note


def long_view(result: Attention, state: PageState, key: str, link: Callable[[], Any] | None = None) -> None:
    """The zoomable map of `result` at the state's layer and head (a session value when the page has no head
    parameter); `link()` writes the page's URL after a change made in the view."""
    state.clamp("layer", result.n_layers)
    head_key = state.key("head") if "head" in state.params else f"_{key}_head"
    st.session_state[head_key] = min(max(int(st.session_state.get(head_key) or 0), 0), result.n_heads - 1)

    def chosen() -> tuple[int, int]:
        return int(state["layer"]), int(st.session_state[head_key])

    def opened(layer: int, head: int) -> None:
        state["layer"], st.session_state[head_key] = layer, head

    note = model_note(result, state["text"] if "text" in state.params else None)
    if note:
        st.caption(note)
    st.session_state[f"_{key}_fragment"] = False
    _panel(result, chosen, key, opened, link)


@st.fragment
def _panel(result: Attention, chosen: Callable[[], tuple[int, int]], key: str, opened: Callable[[int, int], None],
           link: Callable[[], Any] | None) -> None:
    zoom_view(result, *chosen(), key=key, on_open=opened)
    if link and st.session_state.get(f"_{key}_fragment"):   # a rerun of this view alone: the URL follows it here
        link()
    st.session_state[f"_{key}_fragment"] = True
