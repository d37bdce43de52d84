"""Token links: a line from each query token to the key tokens it attends to, one colour per head."""
import json

import streamlit as st

import ui
from attention.analyses.links import LINK_BUDGET, MERGE_RULE, format_heads, layer_links, parse_heads, parse_pin
from figures.payloads import payload
from components.token_links import token_links

MODES = {"heads": "Each head in its colour", "mean": "Mean of the layer's heads"}

STATE = ui.PageState("links", ui.Sentence(), ui.Model(), ui.Index("layer"), ui.Choice("mode", tuple(MODES)),
                     ui.Param("heads"), ui.Fraction("threshold", 0.1), ui.Flag("words"), ui.Param("pin"))
STATE.load()

st.title("Token links")
st.caption(
    "Queries on the left, keys on the right: each line is one query attending to one key, drawn stronger the more "
    "weight it carries. Switch heads on and off with the coloured squares, hover a token to isolate its links, "
    "click it to pin them."
)
ui.show_url_notices()

text, model, result = ui.inputs_and_result()

STATE.clamp("layer", result.n_layers)
# the "Show" radio needs ~350 px to stay on one line (its label then lines up with the others); four widgets in one
# row leave it too little at common widths, so the toggle has its own line below, as on the Compare page
c1, c2, c3 = st.columns([1, 3, 2], vertical_alignment="bottom")
layer = c1.selectbox("Layer", range(result.n_layers), key="links_layer",
                     help="Layers count from 0 (nearest the input). All heads of this layer are available.")
mode = c2.radio("Show", list(MODES), format_func=MODES.get, key="links_mode", horizontal=True,
                help="Each head in its colour: toggle heads with the squares (double-click one to show it alone). "
                     "Mean: the average of the layer's heads as one set of links.")
threshold = c3.slider("Hide links weaker than", 0.01, 1.0, step=0.01, key="links_threshold",
                      help="Only query–key pairs whose weight is at least this are drawn (and sent to the browser). "
                           "Lower it to see weak links; raise it to keep long texts light.")
words = st.toggle("Merge word pieces into words", key="links_words", help=MERGE_RULE)

view = result
if words:
    try:
        view = result.by_word()
    except ValueError as error:
        ui.warn(str(error))

heads, notice = parse_heads(st.session_state.get("links_heads"), view.n_heads)
pin, pin_notice = parse_pin(st.session_state.get("links_pin"), view.n_tokens)
for message in (notice, pin_notice):
    if message:
        ui.warn(message)
st.session_state["links_heads"], st.session_state["links_pin"] = format_heads(heads, view.n_heads), pin


def _remember_view() -> None:
    """The component reports head toggles and pins; keep them for the URL (heads only in per-head mode)."""
    state = st.session_state["links_view"]
    if st.session_state.get("links_mode") == "heads" and state.get("heads") is not None:
        st.session_state["links_heads"] = ",".join(str(h) for h in state["heads"]) or "none"
    st.session_state["links_pin"] = state.get("pin")


with st.spinner("Collecting links…"):
    links = layer_links(view, layer, threshold, mean=mode == "mean")
data = payload(links, [0] if mode == "mean" else heads, pin)
token_links(data, key="links_view", on_change=_remember_view)

sent_kb = len(json.dumps(data)) / 1024
level = "words" if view is not result else "tokens"
st.caption(
    f"Layer {layer} · **{len(links):,}** links ≥ {threshold:.2f} of {links.pairs:,} query–key pairs "
    f"({view.n_tokens} {level}{', ' + str(view.n_heads) + ' heads' if mode == 'heads' else ', mean of ' + str(view.n_heads) + ' heads'}) · "
    f"{sent_kb:,.1f} KB sent to the browser."
)
if links.dropped:
    ui.warn(f"{links.dropped:,} more links clear the threshold; only the strongest {LINK_BUDGET:,} are drawn. Raise the threshold to see all.")
if not len(links):
    st.info("No link reaches the threshold: lower it to see this layer's links.", icon="ℹ️")

STATE.share(text, text=text, model=model, layer=layer, mode=mode, heads=STATE["heads"], threshold=threshold, words=words,
            pin=STATE["pin"])
