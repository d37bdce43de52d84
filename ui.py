"""Shared Streamlit pieces for the pages: URL state, the model picker, running attend() safely.

Lives outside pages/ because Streamlit runs every file in pages/ as a page. The core
(attention/) never imports streamlit; this module is the only bridge.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st

from attention import MODELS, Attention, attend

from attention.run import limits

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
    st.warning(md_escape(message))


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


def show_url_notices() -> None:
    for notice in st.session_state.pop("_url_notices", []):
        warn(notice)


def load_page_state(page: str, defaults: dict[str, Any], readers: dict[str, Callable[[str | None], tuple[Any, str | None]]],
                    shared: tuple[str, ...] = ("text", "model")) -> None:
    """A page's state in session keys "<page>_<name>": from the URL on the page's first run in a session,
    then kept, also across visits to other pages (Streamlit drops widget values of pages not shown).

    Names in `shared` (the sentence and the model) use their own key, common to all pages, and keep the
    session's value when the URL leaves them out, so a sentence carries over between pages."""
    flag = f"_url_loaded_{page}"
    first = not st.session_state.get(flag)
    st.session_state[flag] = True
    saved = st.session_state.setdefault(f"_saved_{page}", {})
    notices = []
    for name, default in defaults.items():
        key = name if name in shared else f"{page}_{name}"
        raw = first_value(name) if first else None
        if first and (raw is not None or key not in st.session_state or name not in shared):
            value, notice = readers[name](raw) if name in readers else (default if raw is None else raw, None)
            notices += [notice] if notice else []
            st.session_state[key] = value
        elif key in st.session_state:
            st.session_state[key] = st.session_state[key]  # re-set, so a page switch does not reset the widget
        else:
            st.session_state[key] = saved.get(key, default)  # back from another page: what it was
        saved[key] = st.session_state[key]
    if first:
        st.session_state["_url_notices"] = notices


def read_fraction(name: str, default: float, low: float = 0.01, high: float = 1.0) -> Callable[[str | None], tuple[float, str | None]]:
    """A URL reader for a number between low and high (e.g. a threshold), with a notice when it is not one."""
    def read(raw: str | None) -> tuple[float, str | None]:
        if raw is None:
            return default, None
        try:
            value = float(raw.strip()[:12])
        except ValueError:
            return default, f"The link's {name} '{raw[:20]}' is not a number; {default} is used."
        if not low <= value <= high:  # also false for nan
            clamped = default if value != value else min(max(value, low), high)
            return clamped, f"The link's {name} {raw[:12]} is outside {low}–{high}; {clamped} is used."
        return value, None
    return read


def read_choice(name: str, choices: tuple[str, ...]) -> Callable[[str | None], tuple[str, str | None]]:
    """A URL reader for one of a few words (the first is the default), with a notice for anything else."""
    def read(raw: str | None) -> tuple[str, str | None]:
        if raw is None or raw.strip().lower() in choices:
            return (raw.strip().lower() if raw else choices[0]), None
        return choices[0], f"The link's {name} '{raw[:20]}' is not one of {', '.join(choices)}; {choices[0]} is used."
    return read


def read_model(raw: str | None) -> tuple[str, str | None]:
    return (raw.strip() if raw and raw.strip() else MODELS[0]), None


def held_heights(heights: dict[str, int]) -> str:
    """A <style> that keeps keyed containers (st.container(key=...)) at least `heights` px tall, also while their
    widgets' scripts are still loading, so a view drawn before them does not jump down when they appear.
    Constant text (names checked, no user input): add it to a constant markdown element with unsafe_allow_html."""
    rules = "".join(f".st-key-{key}{{min-height:{int(px)}px}}" for key, px in heights.items() if re.fullmatch(r"\w+", key))
    return f"<style>{rules}</style>"


def spacer(slot: Any, height: int) -> None:
    """Hold a place `height` px tall in an st.empty() slot until its content is written (a constant, no user text).
    Streamlit pulls the element after a markdown block up by 1rem, hence the 16 px more."""
    slot.markdown(f'<div style="height:{int(height) + 16}px"></div>', unsafe_allow_html=True)


def preset_models() -> list[str]:
    """The models the picker offers by name: the bundled ones, or a hosted demo's allow-list."""
    allowed = limits.current().models
    return list(allowed) if allowed is not None else list(MODELS)


def model_picker(key: str = "model", label: str = "Model") -> str:
    """Preset models plus a field for any id or folder; the chosen name is kept in st.session_state[key]."""
    current = st.session_state.get(key, MODELS[0])
    choice_key, custom_key = f"_{key}_choice", f"_{key}_custom"
    presets = preset_models()
    presets += [] if limits.current().models is not None else [OTHER_MODEL]
    if choice_key not in st.session_state:
        st.session_state[choice_key] = current if current in presets else OTHER_MODEL
        st.session_state[custom_key] = "" if current in presets else current
    if st.session_state[choice_key] not in presets:
        warn(f"The link asked for the model '{current[:80]}', which this public demo does not run; showing {presets[0]}.")
        st.session_state[choice_key] = presets[0]
    choice = st.selectbox(label, presets, key=choice_key, help=MODEL_HELP)
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


def text_and_model(text_label: str = "Text", height: int = 90, picker: Callable[[], str] | None = None) -> tuple[str, str]:
    """The text box and model picker (or another `picker`, e.g. engine_picker) side by side, bound to "text" and "model"."""
    left, right = st.columns([3, 1])
    with left:
        text = st.text_area(text_label, key="text", height=height, help=TEXT_HELP)
    with right:
        model = (picker or model_picker)()
    return text, model


def deployment_note() -> None:
    """In hosted mode, say in the sidebar what this public demo allows."""
    current = limits.current()
    if current.hosted:
        st.sidebar.info(
            f"Public demo: models {', '.join(current.models)}; up to {current.max_tokens} tokens per text and "
            f"{current.max_batch} sentences per batch. Run it yourself for any model and length."
        )


def run_attend(text: str, model: str, spinner_slot: Any = None, **options: Any) -> Attention | None:
    """attend() with a spinner (in `spinner_slot`, an st.empty(), when given: the slot's next content takes its
    place without a gap); a user error becomes a message on the page and None."""
    try:
        with spinner_slot or contextlib.nullcontext(), st.spinner(f"Running {model[:60]} (the first run loads the model)…"):
            result = attend(text, model, **options)
    except ValueError as error:
        st.error(md_escape(str(error)))
        return None
    for notice in result.notices:
        warn(notice)
    return result


SCRATCH_ENGINES = ("scratch:minilm", "scratch")
ENGINE_HELP = (
    "The Learn pages open up the project's own engine, so they run on it:  \n"
    "scratch:minilm: MiniLM's real weights (6 layers × 12 heads); its attention equals minilm's.  \n"
    "scratch: seeded random weights (2 layers × 4 heads), fixed sine/cosine positions.  \n"
    "Or type scratch:<id or folder> for BERT-family, GPT-2 or BART weights you have."
)


def run_core(label: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any | None:
    """A core computation with a spinner; a user error becomes a message on the page and None."""
    try:
        with st.spinner(label):
            return function(*args, **kwargs)
    except ValueError as error:
        st.error(md_escape(str(error)))
        return None


def _engine_name(name: str) -> str:
    name = str(name or SCRATCH_ENGINES[0]).strip()
    if name == "scratch" or name.startswith("scratch:"):
        return name
    if name == MODELS[0]:
        return SCRATCH_ENGINES[0]  # the bundled MiniLM: the engine holds the same weights and gives the same numbers
    warn(f"This page opens up the project's own engine, so '{name[:80]}' runs as 'scratch:{name[:80]}' (same weights, same attention).")
    return f"scratch:{name}"


def read_engine(raw: str | None) -> tuple[str, str | None]:
    """URL reader for the Learn pages' model: scratch:minilm unless the link names one."""
    return (raw.strip() if raw and raw.strip() else SCRATCH_ENGINES[0]), None


def engine_picker(key: str = "model") -> str:
    """Pick the project's own engine and its weights; the name is kept in st.session_state[key] (shared with other pages)."""
    choice_key, seen_key = f"_{key}_engine", f"_{key}_engine_seen"
    current = st.session_state.get(key) or SCRATCH_ENGINES[0]
    if choice_key not in st.session_state or st.session_state.get(seen_key) != current:
        st.session_state[choice_key] = _engine_name(current)   # set from outside: a link or another page
    options = list(dict.fromkeys([*SCRATCH_ENGINES, st.session_state[choice_key]]))
    choice = st.selectbox("Engine", options, key=choice_key, accept_new_options=True, help=ENGINE_HELP)
    st.session_state[key] = st.session_state[seen_key] = _engine_name(choice)
    return st.session_state[key]


LEARN_TOKENS = 128  # the Learn pages read this many tokens: every step stays legible and the page light (~1 MB)


def engine_result(**options: Any) -> tuple[str, str, Attention]:
    """The Learn pages' input: text, engine picker and attend(); on a user error the message, the share box, and stop."""
    text, model = text_and_model(picker=engine_picker)
    result = run_attend(text, model, max_tokens=LEARN_TOKENS, **options)
    if result is None:
        share_box(sync_url({"text": text, "model": model}), text)
        st.stop()
    return text, model, result


def layer_and_head(page: str, result: Attention, columns: list, head_label: str = "Head",
                   head_help: str = "Heads count from 0; each has its own query/key/value projections.") -> tuple[int, int]:
    """Layer and head pickers bound to "<page>_layer" / "<page>_head", clamped to the model with a notice."""
    clamp_index(f"{page}_layer", result.n_layers, "layer")
    clamp_index(f"{page}_head", result.n_heads, "head")
    layer = columns[0].selectbox("Layer", range(result.n_layers), key=f"{page}_layer", help="Layers count from 0 (nearest the input).")
    head = columns[1].selectbox(head_label, range(result.n_heads), key=f"{page}_head", help=head_help)
    return layer, head


def read_token(raw: str | None) -> tuple[int | None, str | None]:
    """URL reader for a token index; absent: None, so that token_picker chooses the opening token."""
    return (None, None) if raw is None else parse_index(raw, "query token")


def token_picker(page: str, result: Attention, column: Any, label: str, help: str) -> int:
    """A token picker bound to "<page>_query"; it opens on "it" (the classic example sentence) or the first word."""
    key = f"{page}_query"
    if st.session_state.get(key) is None:
        st.session_state[key] = result.tokens.index("it") if "it" in result.tokens else min(1, result.n_tokens - 1)
    clamp_index(key, result.n_tokens, "query token")
    return column.selectbox(label, range(result.n_tokens), key=key, format_func=lambda i: f"{i} · {result.tokens[i]}", help=help)


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
    from components.share import share_link

    with st.container(border=True):
        st.markdown("**Share this view** — the link opens exactly what you see.")
        share_link(link)
        if len(text) > URL_TEXT_CAP:
            warn(f"The link keeps the first {URL_TEXT_CAP:,} characters of the text.")


def read_flag(raw: str | None) -> tuple[bool, None]:
    """A URL reader for an on/off switch: 1, true, yes or on mean on; anything else off."""
    return raw is not None and raw.strip().lower() in ("1", "true", "yes", "on"), None


def open_clicked_head(chart: str, layer_key: str, head_key: str) -> Callable[[], None]:
    """An on_select callback for a layers × heads map with a marker per head (trace 1): a click opens that head."""
    def open_head() -> None:
        points = [p for p in st.session_state[chart].selection.points if p.get("curve_number") == 1]
        if points:
            st.session_state[layer_key], st.session_state[head_key] = int(points[0]["y"]), int(points[0]["x"])
    return open_head


def inputs_and_result(**options: Any) -> tuple[str, str, Attention]:
    """The text box and model picker, then attend(); on a user error the page stops with its message and share box."""
    text, model = text_and_model()
    result = run_attend(text, model, **options)
    if result is None:
        stop_with_share({"text": text, "model": model}, text)
    return text, model, result


def stop_with_share(params: dict[str, Any], text: str) -> None:
    """End this page run after a message (bad text, model or template), still offering the link to what was asked."""
    share_box(sync_url(params), text)
    st.stop()


def figure_exports(fig: Any, name: str, key: str) -> None:
    """PNG, SVG and offline HTML buttons for one plotly figure; each file is made only when its button is clicked."""
    from figures import export

    images = export.images_available()
    with st.container(horizontal=True, gap="small"):
        for kind, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
            st.download_button(kind.upper(), lambda kind=kind: export.figure_image(fig, kind), f"{name}.{kind}", mime,
                               key=f"{key}_{kind}", on_click="ignore", icon=":material/download:", disabled=not images,
                               help=None if images else "Image export needs Chromium on the server; HTML works everywhere.")
        st.download_button("HTML", lambda: export.view_html([fig], name), f"{name}.html", "text/html", key=f"{key}_html",
                           on_click="ignore", icon=":material/download:", help="One file that opens offline (plotly inlined).")


def result_exports(result: Attention, key: str, max_text_tokens: int = 128) -> None:
    """The current result (tokens, weights [layer, head, query, key], model, options) as NPZ, and as CSV and JSON
    while it is small enough for text files; each can be loaded back with attention.run.export.from_npz/from_csv/from_json."""
    from figures import export

    with st.container(horizontal=True, gap="small"):
        st.download_button("Attention NPZ", lambda: export.to_npz(result), "attention.npz", "application/octet-stream",
                           key=f"{key}_npz", on_click="ignore", icon=":material/download:")
        small = result.n_tokens <= max_text_tokens
        hint = None if small else f"Text files are offered up to {max_text_tokens} tokens; NPZ holds any length."
        st.download_button("Attention CSV", lambda: export.to_csv(result), "attention.csv", "text/csv", key=f"{key}_csv",
                           on_click="ignore", icon=":material/download:", disabled=not small, help=hint)
        st.download_button("Attention JSON", lambda: export.to_json(result), "attention.json", "application/json",
                           key=f"{key}_json", on_click="ignore", icon=":material/download:", disabled=not small, help=hint)


def _leave_pages_directory_mode() -> None:
    """On a fresh server, a first visit straight to a page URL makes Streamlit run that file from pages/ alone
    (its older pages-directory mode), without app.py's navigation and page set-up. Leave that mode at once
    and run again, so the visit goes through app.py like every other."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()
