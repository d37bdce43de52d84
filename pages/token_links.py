"""Token links: a line from each query token to the key tokens it attends to, one colour per head."""
import streamlit as st

import ui
from attention.analyses.links import LINK_BUDGET, MERGE_RULE, format_heads, layer_links, parse_heads, parse_pin
from figures.payloads import payload
from views.payloads import PREFETCH_BYTES, view_id
from components.token_links import links_view, token_links
from ui.zoom import is_long, long_view

MODES = {"mean": "Mean of the layer's heads", "heads": "Each head in its colour"}   # the mean first: one readable set of lines

STATE = ui.PageState("links", ui.Sentence(), ui.Model(), ui.Index("layer"), ui.Choice("mode", tuple(MODES)),
                     ui.Param("heads"), ui.Fraction("threshold", 0.1), ui.Flag("words"), ui.Param("pin"))
STATE.load()

st.title("Token links")
st.caption(
    "Queries on the left, keys on the right: each line is one query attending to one key, drawn stronger the more "
    "weight it carries. It opens on the mean of the layer's heads (one set of lines); choose **Each head in its colour** "
    "to see every head and switch them on and off with the coloured squares. Hover a token to isolate its links, "
    "click it to pin them."
)
ui.show_url_notices()

text, model, result = ui.inputs_and_result()
if is_long(result):   # too long for a line per pair: the layer's heads as a zoomable map (ui/zoom.py)
    st.info(f"{result.n_tokens:,} tokens are too many to draw a line for every pair: here is one head of the layer as a "
            "map to zoom into instead (pick the head in its grid).")
    long_view(result, STATE, "links_zoom", link=lambda: STATE.link(text=text, model=model, layer=STATE["layer"]))
    ui.stop_with_share({"text": text, "model": model, "layer": STATE["layer"]}, text)

STATE.clamp("layer", result.n_layers)
# the "Show" radio needs ~350 px to stay on one line, so the toggle has its own line below, as on the Compare page
c2, c3 = st.columns([3, 2], vertical_alignment="bottom")   # the Layer box is drawn by the links component
mode = c2.radio("Show", list(MODES), format_func=MODES.get, key="links_mode", horizontal=True,
                help="Mean: the average of the layer's heads as one set of links. Each head in its colour: toggle heads "
                     "with the squares (double-click one to show it alone; All shows every head).")
threshold = c3.slider("Hide links weaker than", 0.01, 1.0, step=0.01, key="links_threshold",
                      help="Only query–key pairs whose weight is at least this are drawn. Lower it to see weak links; "
                           "raise it to keep long texts light and readable.")
words = st.toggle("Merge word pieces into words", key="links_words", help=MERGE_RULE)

view = result
if words:
    try:
        view = result.by_word()
    except ValueError as error:
        ui.warn(str(error))


def _remember_view() -> None:
    """The component reports head toggles and pins; keep them for the URL (heads only in per-head mode)."""
    state = st.session_state["links_view"]
    if st.session_state.get("links_mode") == "heads" and state.get("heads") is not None:
        st.session_state["links_heads"] = ",".join(str(h) for h in state["heads"]) or "none"
    st.session_state["links_pin"] = state.get("pin")


def _chosen_layer() -> None:
    """The component's Layer box changed (it has drawn a held layer already): this view follows."""
    chosen = st.session_state["links_view"].get("layer")
    if chosen is not None:
        STATE["layer"] = min(max(int(chosen), 0), result.n_layers - 1)


def _slot(layer: int) -> str:
    return f"{layer}|{threshold:g}|{mode}"


def _payload(layer: int, heads: list[int], pin: str | None) -> tuple[dict, object]:
    links = layer_links(view, layer, threshold, mean=mode == "mean")
    return {**payload(links, [0] if mode == "mean" else heads, pin), "slot": _slot(layer)}, links


@st.fragment
def links_panel() -> None:
    """The layer picker and the links. A fragment: a layer change or a head toggle reruns only this, and a layer the
    browser already holds (seen, or prefetched after the first view) is not sent again."""
    layer = int(STATE["layer"])   # the component's own Layer box sets it (_chosen_layer): a held layer is drawn at once
    heads, notice = parse_heads(st.session_state.get("links_heads"), view.n_heads)
    pin, pin_notice = parse_pin(st.session_state.get("links_pin"), view.n_tokens)
    for message in (notice, pin_notice):
        if message:
            ui.warn(message)
    st.session_state["links_heads"], st.session_state["links_pin"] = format_heads(heads, view.n_heads), pin
    record = st.session_state.setdefault("_links_held", {}).setdefault(view_id(view), set())
    wanted = st.session_state.pop("_links_prefetch", False)
    with st.spinner("Collecting links…"):
        full, links = _payload(layer, heads, pin)
    others = [other for other in range(view.n_layers) if other != layer and _slot(other) not in record]
    packed, spent = [], 0
    for other in (sorted(others, key=lambda other: abs(other - layer)) if wanted else []):
        item = _payload(other, heads, pin)[0]
        size = sum(len(head["q"]) + len(head["k"]) + len(head["w"]) for head in item["heads"])
        if packed and spent + size > PREFETCH_BYTES:
            break
        packed.append(item)
        spent += size

    def missing() -> None:
        record.clear()

    token_links(links_view(view_id(view), _slot(layer), full, record, packed, more=bool(others) and not packed,
                           layer=layer, slots=[_slot(each) for each in range(view.n_layers)]),
                key="links_view", on_change=_remember_view, on_missing=missing, on_layer=_chosen_layer,
                on_prefetch=lambda: st.session_state.__setitem__("_links_prefetch", True))
    record.update([_slot(layer), *(item["slot"] for item in packed)])
    level = "words" if view is not result else "tokens"
    st.caption(
        f"Layer {layer} · **{len(links):,}** links ≥ {threshold:.2f} of {links.pairs:,} query–key pairs "
        f"({view.n_tokens} {level}{', ' + str(view.n_heads) + ' heads' if mode == 'heads' else ', mean of ' + str(view.n_heads) + ' heads'})."
    )
    if links.dropped:
        ui.warn(f"{links.dropped:,} more links clear the threshold; only the strongest {LINK_BUDGET:,} are drawn. Raise the threshold to see all.")
    if not len(links):
        st.info("No link reaches the threshold: lower it to see this layer's links.", icon="ℹ️")
    if st.session_state.get("_links_fragment_run"):   # a rerun of this view alone: the URL follows it here
        STATE.link(text=text, model=model, layer=layer, mode=mode, heads=STATE["heads"], threshold=threshold,
                   words=words, pin=STATE["pin"])
    st.session_state["_links_fragment_run"] = True


st.session_state["_links_fragment_run"] = False
links_panel()
STATE.share(text, text=text, model=model, layer=STATE["layer"], mode=mode, heads=STATE["heads"], threshold=threshold,
            words=words, pin=STATE["pin"])
