"""Home: type a sentence, see every head attend; open one head, compare heads, share the view."""
import streamlit as st

import ui
from attention.run.api import is_cached
from attention.run.models import is_loaded
from figures import heads_side_by_side
from figures.payloads import grid_payload
from components.heatmap import head_grid, head_heatmap, head_view
from views.payloads import view_id
from ui.zoom import demo_share, is_long, long_view, open_demo, preload, stop_with_long_share

STATE = ui.PageState("home", ui.Sentence(), ui.Model(), ui.Index("layer"), ui.Index("head"),
                     ui.Custom("compare", [], lambda raw: ([part for part in (raw or "").split(",") if part][:6], None)),
                     ui.Flag("fixed"), ui.Text("demo", "", strip=True))
STATE.load()
open_demo(STATE)   # a link's demo=long-mini: a ~20,000-token text, too long for the link to carry

HELD = {"home_inputs": 96, "home_pickers": 40}    # the widgets' heights: places held while a new text is drawn first
HOLD = ui.held_heights(HELD)                      # ... as a CSS rule the views add as they draw
st.title("Attention Lens")
st.caption(
    "Type a sentence and watch every attention head of a real transformer decide which tokens to look at. "
    "Each row of a heatmap is a token asking a question (its **query**); each column is a token offering an answer "
    "(its **key**); the colour is the attention **weight α** the asker gives that key (each row sums to 1). "
    "What actually flows into the asker is α times the key's **value** vector, so a large weight on a small value "
    "can move less than a smaller weight on a large one (Kobayashi et al., 2020)."
)
ui.show_url_notices()

inputs = st.container(key="home_inputs").empty()   # the text box and model picker (the keyed box holds its height)
summary = st.empty()                  # what was computed: tokens, layers, heads
messages = st.container()             # the spinner while the model runs, then any notice
body = st.empty()
grid_col, head_col = body.container().columns([5, 6], gap="large")
with grid_col:
    st.subheader("All layers × heads")
    st.caption("Every head at a glance (rows: layers, columns: heads), each on its own colour scale. "
               "Click a square to open that head.")
    grid_slot = st.empty()
with head_col:
    pickers = st.container(key="home_pickers").empty()
    head_slot = st.empty()
    hover_hint = st.empty()


def _open_head_from_grid() -> None:
    opened = st.session_state["grid"].get("open") or {}
    if "layer" in opened and "head" in opened:
        STATE["layer"], STATE["head"] = int(opened["layer"]), int(opened["head"])


def pending() -> None:
    """Placeholder views: their component script loads while the model runs (the zoomable view's too when the text
    may give a long result)."""
    with head_slot:
        head_heatmap({"pending": "Computing attention…", "hold": HOLD}, key="head_map_pending")
    with grid_slot:
        head_grid({"pending": "Every layer and head appears here.", "hold": HOLD}, key="grid_pending", on_open=lambda: None)
    with hover_hint:
        preload(STATE["text"])


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
    with inputs.container():
        return ui.text_and_model()


def _open(layer: int, head: int) -> None:
    STATE["layer"], STATE["head"] = layer, head


@st.fragment
def head_panel(result) -> None:
    """The chosen head, its Layer and Head boxes (drawn by the heatmap component itself) and the scale toggle. A
    fragment: a change reruns only this. A layer or head chosen in the boxes, or a grid click, is drawn by the browser
    at once from the heads it holds (components.heatmap.head_view), then this view follows on the server."""
    pickers.container().toggle(
        "Colour scale 0–1", key="home_fixed",
        help="Off: each head is coloured from 0 to its own largest weight, so faint heads still show their pattern. "
             "On: every head on the same 0–1 scale, so strengths compare across heads.")
    with head_slot:
        head_view(result, STATE["layer"], STATE["head"], key="head_map", on_open=_open, fixed=STATE["fixed"],
                  pickers=(result.n_layers, result.n_heads), hold=HOLD)
    if st.session_state.get("_home_fragment_run"):   # a rerun of this view alone: the URL follows it here
        STATE.link(text=STATE["text"], model=STATE["model"], layer=STATE["layer"], head=STATE["head"],
                   compare=",".join(STATE["compare"] or []) or None, fixed=STATE["fixed"])
    st.session_state["_home_fragment_run"] = True


def draw_views(result) -> None:
    """The chosen head as a heatmap (with its pickers) and every layer × head as a grid."""
    st.session_state["_home_fragment_run"] = False   # a full run: the share box at the end writes the URL
    if is_long(result):   # too long for the full heatmap: one head as a zoomable map, with its own layers × heads grid
        with body.container():
            long_view(result, STATE, "zoom", link=lambda: STATE.link(model=STATE["model"], layer=STATE["layer"],
                                                                       head=STATE["head"], **demo_share(STATE["text"])))
        return
    head_panel(result)
    with grid_slot:
        head_grid({**grid_payload(result, (STATE["layer"], STATE["head"])), "view": view_id(result), "hold": HOLD}, key="grid",
                  on_open=_open_head_from_grid)


# first sight: a new text on a loaded model is drawn before its widgets (ui.draw_first says why and how)
asked = STATE["text"], STATE["model"]   # what the text box and picker will return
fresh = not is_cached(*asked)
result, (text, model) = ui.draw_first(
    asked, fresh, ready=fresh and asked[1] in ui.preset_models() and is_loaded(asked[1]),
    held=[(inputs, HELD["home_inputs"]), (pickers, HELD["home_pickers"])], pending=pending, compute=compute, show=show,
    inputs=inputs_row, pickers=lambda result: None, draw=draw_views)
if result is None:
    body.empty()
    ui.stop_with_share({"text": text, "model": model}, text)
layer, head = STATE["layer"], STATE["head"]
if is_long(result):
    stop_with_long_share(text, model=model, layer=layer, head=head)
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
STATE.share(text, text=text, model=model, layer=layer, head=head, compare=",".join(chosen) or None, fixed=STATE["fixed"])
