"""Bias probe: does attention from a term change when it is swapped (he/she, John/Mary) in the same sentence?"""
import pandas as pd
import streamlit as st

import ui
from attention import attend
from attention.run import limits
from attention.analyses.bias import DEFAULT_NAMES, DEFAULT_OCCUPATIONS, DEFAULT_TEMPLATES, expand, probe
from figures.inspect import key_shift_bars, layer_head_map

TEMPLATE_HELP = (
    "One sentence a line. Mark the swapped pair with braces and a slash, e.g. {he/she}, or write {name} to use each pair "
    "of the names list. {occupation} is filled with each entry of the occupations list. Each line needs exactly one pair."
)


# the templates are this page's own text ("text" in the link, not the shared sentence); layer and head: absent, the
# head that moves most
STATE = ui.PageState("bias", ui.Text("text", DEFAULT_TEMPLATES), ui.Text("occupations", DEFAULT_OCCUPATIONS),
                     ui.Text("names", DEFAULT_NAMES), ui.Model(), ui.Index("layer", None), ui.Index("head", None),
                     shared=("model",))
STATE.load()

st.title("Bias probe")
st.caption(
    "Write sentences with a swappable pair of terms. For every pair, the probe reads the attention *from* the term "
    "to every other token, in every layer and head, and measures how much of it moves when the term is swapped."
)
ui.show_url_notices()

left, right = st.columns([3, 2])
with left:
    templates = st.text_area("Templates", key="bias_text", height=150, help=TEMPLATE_HELP)
with right:
    occupations = st.text_area("Occupations", key="bias_occupations", height=68,
                               help="Comma- or line-separated; each fills {occupation} in turn.")
    names = st.text_input("Name pairs", key="bias_names", help="Pairs for {name}, comma-separated, e.g. John/Mary, James/Emma.")
    model = ui.model_picker()

params = {"text": templates, "occupations": occupations, "names": names, "model": model}
cap = max(1, limits.current().max_batch // 2)  # each pair is two sentences
try:
    probes, notices = expand(templates, occupations, names, limit=cap)
except ValueError as error:
    st.error(ui.md_escape(str(error)))
    ui.stop_with_share(params, templates)

run_key = (tuple(probes), model)
if st.session_state.get("_bias_run", (None,))[0] != run_key:
    bar = st.progress(0.0, text=f"Probing {len(probes)} sentence pairs on {model[:60]}…")
    try:
        report = probe(probes, model, progress=lambda done, total: bar.progress(done / total, text=f"Sentence {done} of {total}"),
                       attend=attend)
    except ValueError as error:
        bar.empty()
        st.error(ui.md_escape(str(error)))
        ui.stop_with_share(params, templates)
    bar.empty()
    st.session_state["_bias_run"] = (run_key, report)
report = st.session_state["_bias_run"][1]
for notice in notices + report.notices:
    ui.warn(notice)

st.info(
    "**What this can and cannot tell.** Attention weights show where a head reads from, not why the model decides "
    "what it does: other weights (values, later layers, the MLPs) can undo or amplify what a head reads, and different "
    "attention patterns can give the same prediction (Jain & Wallace, 2019, *Attention is not Explanation*; Wiegreffe & "
    "Pinter, 2019, *Attention is not not Explanation*). A head that treats ‘he’ and ‘she’ differently is a lead to "
    "investigate, not proof of biased outputs; a head that treats them alike does not prove fairness.",
    icon="⚖️",
)

scores = report.scores
side_a, side_b = report.sides()
st.subheader("Summary")
st.markdown("\n".join(f"- {ui.md_escape(line)}" for line in report.summary()))

top_layer, top_head, _ = report.top_heads(1)[0]
for name, top, size in (("layer", top_layer, scores.shape[0]), ("head", top_head, scores.shape[1])):
    if STATE[name] is None:
        STATE[name] = top
    STATE.clamp(name, size)


map_col, head_col = st.columns([1, 1], gap="large")
with map_col:
    st.subheader("Attention moved, per head")
    st.caption(f"Mean over {len(report.pairs)} pairs of the share of the term's attention that moves when {side_a} "
               f"becomes {side_b} (half the summed absolute change, 0–100%). Click a head to open it.")
    st.plotly_chart(layer_head_map(scores, "", "moved"), width="stretch", key="bias_map", selection_mode="points",
                    on_select=ui.open_clicked_head("bias_map", "bias_layer", "bias_head"), config={"displayModeBar": False})
with head_col:
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", range(scores.shape[0]), key="bias_layer", help="Opens with the head that moves most.")
    head = c2.selectbox("Head", range(scores.shape[1]), key="bias_head", help="Heads count from 0.")
    st.plotly_chart(key_shift_bars(report.key_shifts(layer, head)[:20], f"Layer {layer} · Head {head}: where the term looks",
                                   (side_a, side_b)), width="stretch", key="bias_keys")
    st.caption("Mean change of attention from the term to each word (A − B), the 20 largest. ‘(itself)’ is the term's "
               "attention to its own tokens.")

st.subheader("Table")
frame = pd.DataFrame(report.rows()).sort_values("shift", ascending=False, kind="stable")
st.caption(f"{len(frame):,} rows: one per sentence pair and head, largest shift first; the CSV holds every row.")
first = ["layer", "head", "shift"]   # the key columns stay in view; the long sentence columns scroll
st.dataframe(frame.head(500), width="stretch", hide_index=True, height=320,
             column_order=[*first, *(name for name in frame.columns if name not in first)],
             column_config={"shift": st.column_config.NumberColumn(format="%.3f")})
st.download_button("Download CSV", report.csv(), file_name="attention_bias_probe.csv", mime="text/csv", icon=":material/download:",
                   help="Every row: templates, both sentences, terms, layer, head, the shift and the key that changed most.")

STATE.share(templates, **params, layer=layer, head=head)
