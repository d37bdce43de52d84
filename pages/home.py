"""Home: type a sentence, see every head attend; open one head, compare heads, share the view."""
import streamlit as st

import ui
from attention.run.api import is_cached
from attention.engine.backends import is_loaded
from figures import heads_side_by_side
from figures.payloads import grid_payload, head_payload
from components.heatmap import head_grid, head_heatmap

STATE = ui.PageState("home", ui.Sentence(), ui.Model(), ui.Index("layer"), ui.Index("head"),
                     ui.Custom("compare", [], lambda raw: ([part for part in (raw or "").split(",") if part][:6], None)))
STATE.load()

HELD = {"home_inputs": 96, "home_pickers": 68}    # the widgets' heights: places held while a new text is drawn first
st.title("Attention Lens")
st.caption(
    "Type a sentence and watch every attention head of a real transformer decide which tokens to look at. "
    "Each row of a heatmap is a token asking a question (its **query**); each column is a token offering an answer "
    "(its **key**); the colour is how much of the answer's content (its **value**) flows into the asker."
    + ui.held_heights(HELD),
    unsafe_allow_html=True,   # only for the constant style rule; the text above is ours, not the user's
)
ui.show_url_notices()

inputs = st.empty()                   # the text box and model picker
summary = st.empty()                  # what was computed: tokens, layers, heads
messages = st.container()             # the spinner while the model runs, then any notice
body = st.empty()
grid_col, head_col = body.container().columns([5, 6], gap="large")
with grid_col:
    st.subheader("All layers × heads")
    st.caption("Every head at a glance, each on its own colour scale. Click a square to open that head.")
    grid_slot = st.empty()
with head_col:
    pickers = st.empty()
    head_slot = st.empty()
    hover_hint = st.empty()


def _open_head_from_grid() -> None:
    opened = st.session_state["grid"].get("open") or {}
    if "layer" in opened and "head" in opened:
        STATE["layer"], STATE["head"] = int(opened["layer"]), int(opened["head"])


def pending() -> None:
    """Placeholder views: their component script loads while the model runs."""
    with head_slot:
        head_heatmap({"pending": "Computing attention…"}, key="head_map_pending")
    with grid_slot:
        head_grid({"pending": "Every layer and head appears here."}, key="grid_pending", on_open=lambda: None)


def compute(text: str, model: str):
    with messages:
        return ui.run_attend(text, model, spinner_slot=summary)


def show(result) -> None:
    """What was computed (tokens, layers, heads), and the layer and head clamped to this model."""
    with messages:
        STATE.clamp("layer", result.n_layers)
        STATE.clamp("head", result.n_heads)
    engine = "from-scratch engine" if result.meta.get("engine") == "scratch" else "Hugging Face transformers"
    summary.caption(
        f"**{result.n_tokens}** tokens · **{result.n_layers}** layers × **{result.n_heads}** heads · "
        f"{ui.md_escape(result.meta.get('family', 'encoder'))}{' (causal)' if result.meta.get('causal') else ' (bidirectional)'} · {engine}"
    )


def inputs_row() -> tuple[str, str]:
    with inputs.container(key="home_inputs"):
        return ui.text_and_model()


def layer_head_pickers(result) -> None:
    c1, c2 = pickers.container(key="home_pickers").columns(2)
    c1.selectbox("Layer", range(result.n_layers), key="home_layer", help="Layers count from 0 (nearest the input).")
    c2.selectbox("Head", range(result.n_heads), key="home_head", help="Heads count from 0; each has its own query/key/value projections.")


def draw_views(result) -> None:
    """The chosen head as a heatmap and every layer × head as a grid."""
    layer, head = STATE["layer"], STATE["head"]
    with head_slot:
        head_heatmap(head_payload(result, layer, head), key="head_map")
    with grid_slot:
        head_grid(grid_payload(result, (layer, head)), key="grid", on_open=_open_head_from_grid)


# first sight: a new text on a loaded model is drawn before its widgets (ui.draw_first says why and how)
asked = STATE["text"], STATE["model"]   # what the text box and picker will return
fresh = not is_cached(*asked)
result, (text, model) = ui.draw_first(
    asked, fresh, ready=fresh and asked[1] in ui.preset_models() and is_loaded(asked[1]),
    held=[(inputs, HELD["home_inputs"]), (pickers, HELD["home_pickers"])], pending=pending, compute=compute, show=show,
    inputs=inputs_row, pickers=layer_head_pickers, draw=draw_views)
if result is None:
    body.empty()
    ui.stop_with_share({"text": text, "model": model}, text)
layer, head = STATE["layer"], STATE["head"]
hover_hint.caption("Hover a cell for its query, key and weight.")

st.subheader("Compare heads")
pairs = [(lay, hd) for lay in range(result.n_layers) for hd in range(result.n_heads)]
labels = {f"L{lay}·H{hd}": (lay, hd) for lay, hd in pairs}
STATE["compare"] = [part for part in STATE["compare"] if part in labels]
chosen = st.multiselect(
    "Heads to compare", list(labels), key="home_compare", max_selections=6, placeholder="Pick two or more heads",
    help="Chosen heads are drawn side by side on one shared colour scale, so their strengths compare directly.",
)
if chosen:
    st.plotly_chart(heads_side_by_side(result, [labels[c] for c in chosen]), width="stretch", key="compare_map")

ui.result_exports(result, "home_export")   # this sentence's attention as NPZ, CSV, JSON
STATE.share(text, text=text, model=model, layer=layer, head=head, compare=",".join(chosen) or None)
