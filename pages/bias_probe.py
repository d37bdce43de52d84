"""Bias probe: does attention from a term change when it is swapped (he/she, John/Mary) in the same sentence?"""
import streamlit as st

import ui
from attention import attend
from attention.run import limits
from attention.run.cache import memoized
from attention.analyses.bias import ALPHA, DEFAULT_NAMES, DEFAULT_OCCUPATIONS, DEFAULT_TEMPLATES, expand, probe, seat_all
from figures.inspect import excess_map, key_shift_bars, layer_head_map
from ui.bias import head_numbers, report_table, seat_panel

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
    "to every other token, in every layer and head, and measures how much of it moves when the term is swapped — and "
    "how much more than when a control word is swapped in: another word of the same gender, or for a pronoun, which "
    "has none, the neuter one."
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
cap = max(1, limits.current().max_batch // 4)  # each pair is four sentences: the gender swap and its two control swaps
expanded = ui.run_core(None, expand, templates, occupations, names, limit=cap)
if expanded is None:
    ui.stop_with_share(params, templates)
probes, notices = expanded

run_key = (tuple(probes), model)
if st.session_state.get("_bias_run", (None,))[0] != run_key:
    report = ui.run_with_progress(f"Probing {len(probes)} sentence pairs and their controls on {model[:60]}…", probe, probes,
                                  model, step=lambda done, total: f"Sentence {done} of {total}", attend=attend)
    if report is None:
        ui.stop_with_share(params, templates)
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

# SEAT for both attribute pairs (about a second each on MiniLM); a message instead where the model cannot run it
seat_results = memoized("seat", max_items=8)(seat_all)

scores = report.scores
side_a, side_b = report.sides()
controlled = report.has_controls
summary_col, seat_col = st.columns([3, 2], gap="large")
with summary_col:
    st.subheader("Summary: where heads look")
    st.markdown("\n".join(f"- {ui.md_escape(line)}" for line in report.summary()))
    st.caption(
        "A swap moves some attention just because the word is different. Each gendered swap is also run as control "
        "swaps that change the word but not to the other gender: another word of the same gender (John → James, Mary → "
        "Emma, man → guy …) or, for pronouns, which have no same-gender alternative, the neuter one (he → it, she → it; "
        "the lists are in attention/analyses/bias/probes.py). The **excess** is the gender swap's shift minus the controls' shift. "
        "A head is reported only if its excess survives a sign-flip permutation test over the sentence pairs with "
        "Benjamini–Hochberg correction over all heads (false discovery rate 5%). Pairs built from one template are not "
        "independent, so treat p-values as a guide.")
with seat_col:
    seat_panel(seat_results, model)

for name, top, size in zip(("layer", "head"), report.opening_head(ALPHA), scores.shape):
    if STATE[name] is None:
        STATE[name] = top
    STATE.clamp(name, size)


map_col, head_col = st.columns([1, 1], gap="large")
with map_col:
    st.subheader("Attention moved, per head")
    if controlled:
        excess_tab, shift_tab, control_tab = st.tabs(["Excess over controls", "Shift (any swap)", "Control shift"])
        with excess_tab:
            st.caption(f"Gender swap minus control swaps, mean over {len(report.controlled)} pairs, in points of the "
                       "term's attention (red: the gender swap moves more). Outlined: the excess survives the test. "
                       "Hover for p-values; click a head to open it.")
            ui.head_map(excess_map(report.excess, report.p_values, report.adjusted_p, ALPHA), "bias_excess", "bias")
        with control_tab:
            st.caption("Mean share of the term's attention that moves under the control swaps (another word of the same gender; for "
                           "pronouns, the neuter one).")
            ui.head_map(layer_head_map(report.control, "", "moved (control)"), "bias_control", "bias")
    else:
        shift_tab = st.container()
    with shift_tab:
        st.caption(f"Mean over {len(report.pairs)} pairs of the share of the term's attention that moves when {side_a} "
                   f"becomes {side_b} (half the summed absolute change, 0–100%), whatever the reason. Click a head to open it.")
        ui.head_map(layer_head_map(scores, "", "moved"), "bias_map", "bias")
with head_col:
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", range(scores.shape[0]), key="bias_layer",
                         help="Opens on the surviving head of largest |excess| (if none survives, the largest |excess|; "
                              "without controls, the head that moves most).")
    head = c2.selectbox("Head", range(scores.shape[1]), key="bias_head", help="Heads count from 0.")
    if controlled:
        head_numbers(report, layer, head)
    st.plotly_chart(key_shift_bars(report.key_shifts(layer, head)[:20], f"Layer {layer} · Head {head}: where the term looks",
                                   (side_a, side_b)), width="stretch", key="bias_keys")
    st.caption("Mean change of attention from the term to each word (A − B), the 20 largest. ‘(itself)’ is the term's "
               "attention to its own tokens.")

report_table(report)

with st.expander("Privacy: what this app keeps, and what attention can reveal", icon=":material/lock:"):
    st.markdown(
        "**What this app keeps.** The texts you type and their results stay in this server's memory in bounded caches "
        "(least recently used dropped first), and trained demo weights on disk; nothing is sent elsewhere, no "
        "telemetry.  \n**What attention can reveal about training data.** Attention weights are computed from the "
        "text you give; they show how the model processes *that* text, not which documents it was trained on. Models "
        "can memorise training text, but finding it takes other tools (e.g. extraction or membership-inference "
        "attacks; Carlini et al., 2021), not an attention map.")

STATE.share(templates, **params, layer=layer, head=head)
