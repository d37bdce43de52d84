"""Widgets the pages share: the text box, the model and engine pickers, layer/head/token pickers, the share box, and
the helpers that let the home page draw its heatmap before its widgets (first sight)."""
from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

import streamlit as st

from attention import MODELS, Attention
from attention.run import limits
from ui.messages import warn
from ui.state import SCRATCH_ENGINES, clamp_index, share_box  # share_box: also ui.widgets' name

OTHER_MODEL = "Other: a Hugging Face id or a local folder"
MODEL_HELP = (
    "minilm: the bundled all-MiniLM-L6-v2 (6 layers × 12 heads, BERT's architecture), a MiniLM distilled from a larger "
    "model (Wang et al., 2020) and fine-tuned for sentence embeddings; findings about BERT's heads need not carry over. "
    "Run by Hugging Face transformers.  \n"
    "scratch: this project's own encoder with seeded random weights (2 layers × 4 heads).  \n"
    "scratch:minilm: this project's own encoder holding MiniLM's real weights; its attention equals minilm's within 1e-5.  \n"
    "Other: any Hugging Face model id or local model folder (offline machines can only use local ones), or a model "
    "trained here: gpt-mini (a small GPT-style decoder trained on Python's documentation), translate-mini (a small "
    "encoder–decoder trained on dates in words → ISO dates) or induction-mini (a 2-layer decoder trained on repeated "
    "random characters, with induction heads: see Induction heads)."
)
TEXT_HELP = "Any text. Long texts are cut to the model's limit (512 tokens for MiniLM), with a notice."
ENGINE_HELP = (
    "The Learn pages open up the project's own engine, so they run on it:  \n"
    "scratch:minilm: MiniLM's real weights (6 layers × 12 heads); its attention equals minilm's within 1e-5.  \n"
    "scratch: seeded random weights (2 layers × 4 heads), fixed sine/cosine positions.  \n"
    "Or type scratch:<id or folder> for BERT-family, GPT-2 or BART weights you have."
)
R = TypeVar("R")


def preset_models() -> list[str]:
    """The models the picker offers by name: the bundled ones, or a hosted demo's allow-list (less the trained demo
    models, which the pages that use them name themselves, unless they are all the list holds)."""
    allowed = limits.current().models
    if allowed is None:
        return list(MODELS)
    return [name for name in allowed if name not in limits.DEMO_MODELS] or list(allowed)


def hosted_allows(name: str) -> bool:
    """False only on a hosted demo whose allow-list leaves the model `name` out."""
    allowed = limits.current().models
    return allowed is None or name in allowed


def model_picker(key: str = "model", label: str = "Model", extra: tuple[str, ...] = ()) -> str:
    """Preset models (and `extra`, e.g. demo models trained here, unless a hosted demo's allow-list is the whole choice)
    plus a field for any id or folder; the chosen name is kept in st.session_state[key]. A name set there from outside
    (a link, another page, a button) is shown as the choice on the next run."""
    current = st.session_state.get(key) or MODELS[0]
    choice_key, custom_key, seen_key = f"_{key}_choice", f"_{key}_custom", f"_{key}_seen"
    hosted = limits.current().models is not None
    presets = [*preset_models(), *([] if hosted else extra)]
    options = presets if hosted else [*presets, OTHER_MODEL]
    if choice_key not in st.session_state or st.session_state.get(seen_key) != current:
        st.session_state[choice_key] = current if current in presets else OTHER_MODEL
        st.session_state[custom_key] = "" if current in presets else current
    if st.session_state[choice_key] not in options:
        warn(f"The link asked for the model '{current[:80]}', which this public demo does not run; showing {presets[0]}.")
        st.session_state[choice_key] = presets[0]
    choice = st.selectbox(label, options, key=choice_key, help=MODEL_HELP)
    if choice == OTHER_MODEL:
        custom = st.text_input(
            "Model id or folder", key=custom_key, placeholder="e.g. bert-base-uncased or /models/my-bert",
            help="A Hugging Face model id (needs the network unless cached) or a local folder holding config.json. "
            "Code shipped with a model is never run.",
        )
        st.session_state[key] = custom.strip() or MODELS[0]
    else:
        st.session_state[key] = choice
    st.session_state[seen_key] = st.session_state[key]
    return st.session_state[key]


def _engine_name(name: str) -> str:
    name = str(name or SCRATCH_ENGINES[0]).strip()
    if name == "scratch" or name.startswith("scratch:"):
        return name
    if name == MODELS[0]:
        return SCRATCH_ENGINES[0]  # the bundled MiniLM: the engine holds the same weights and gives the same numbers
    warn(f"This page opens up the project's own engine, so '{name[:80]}' runs as 'scratch:{name[:80]}' (the same weights).")
    return f"scratch:{name}"


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


def layer_and_head(page: str, result: Attention, columns: list, head_label: str = "Head",
                   head_help: str = "Heads count from 0; each has its own query/key/value projections.") -> tuple[int, int]:
    """Layer and head pickers bound to "<page>_layer" / "<page>_head", clamped to the model with a notice."""
    clamp_index(f"{page}_layer", result.n_layers, "layer")
    clamp_index(f"{page}_head", result.n_heads, "head")
    layer = columns[0].selectbox("Layer", range(result.n_layers), key=f"{page}_layer", help="Layers count from 0 (nearest the input).")
    head = columns[1].selectbox(head_label, range(result.n_heads), key=f"{page}_head", help=head_help)
    return layer, head


def token_picker(page: str, result: Attention, column: Any, label: str, help: str) -> int:
    """A token picker bound to "<page>_query"; it opens on "it" (the classic example sentence) or the first word."""
    key = f"{page}_query"
    if st.session_state.get(key) is None:
        st.session_state[key] = result.tokens.index("it") if "it" in result.tokens else min(1, result.n_tokens - 1)
    clamp_index(key, result.n_tokens, "query token")
    return column.selectbox(label, range(result.n_tokens), key=key, format_func=lambda i: f"{i} · {result.tokens[i]}", help=help)


def open_clicked_head(chart: str, layer_key: str, head_key: str) -> Callable[[], None]:
    """An on_select callback for a layers × heads map with a marker per head (trace 1): a click opens that head."""
    def open_head() -> None:
        points = [p for p in st.session_state[chart].selection.points if p.get("curve_number") == 1]
        if points:
            st.session_state[layer_key], st.session_state[head_key] = int(points[0]["y"]), int(points[0]["x"])
    return open_head


def held_heights(heights: dict[str, int]) -> str:
    """The CSS rule that keeps keyed containers (st.container(key=...)) at least `heights` px tall, also while their
    widgets' scripts are still loading, so a view drawn before them does not jump down when they appear. The page hands
    it to its first-drawn views (`hold` of components.heatmap), which add it to the document as they draw: a <style>
    the page drew itself (markdown with HTML, st.html) comes from a lazily loaded script that a loaded machine runs after
    the view, which then moved down by the rule's height. Constant text: container names are checked, no user input."""
    return "".join(f".st-key-{key}{{min-height:{int(px)}px}}" for key, px in heights.items() if re.fullmatch(r"\w+", key))


def spacer(slot: Any, height: int) -> None:
    """Hold a place `height` px tall in an st.empty() slot until its content is written: an empty native container of
    that height (drawn at once, unlike HTML in markdown, which waits for a lazily loaded script)."""
    slot.container(height=int(height), border=False)


def draw_first(asked: tuple[str, str], fresh: bool, ready: bool, held: list[tuple[Any, int]], pending: Callable[[], None],
               compute: Callable[[str, str], R | None], show: Callable[[R], None], inputs: Callable[[], tuple[str, str]],
               pickers: Callable[[R], None], draw: Callable[[R], None]) -> tuple[R | None, tuple[str, str]]:
    """Run a view whose first sight matters in the order that shows it soonest: (result or None, (text, model)).

    Why: Streamlit sends elements in the order the script makes them, and the browser builds them in that order.
    For a text the server has not computed (`fresh`: a share link, an edit) on a model already loaded (`ready`),
    the page holds the widgets' places (`held`: st.empty() slots and heights, so nothing jumps), sends placeholder
    views (`pending`: their component script starts loading while the model runs), computes what the session asked
    (`asked`: what the text box and picker will return), draws the views, and only then builds the widgets, whose
    scripts no longer delay the heatmap (bench/bench_browser.py measures first sight; bench/README.md has figures).
    Otherwise (a cached text: instant anyway; a model still to load: its widgets should show at once) the usual
    order: widgets, compute, `show` (summary, clamping), `pickers`, `draw`.
    `compute` shows its own messages and returns None on a user error."""
    early = fresh and ready
    result = None
    if fresh:
        if early:
            for slot, height in held:
                spacer(slot, height)
        pending()
        if early:
            result = compute(*asked)
            if result is not None:
                show(result)
                draw(result)
    answered = inputs()
    if early and answered != asked:
        st.rerun()   # the widgets answered something else than the session held: draw that instead
    if not early:
        result = compute(*answered)
    if result is None:
        return None, answered
    if not early:
        show(result)
    pickers(result)
    if not early:
        draw(result)
    return result, answered
