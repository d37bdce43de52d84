"""Contributions: which tokens and which heads made the output what it is, by seven methods side by side, with their
agreement and a faithfulness test on the same input."""
import json

import streamlit as st

import ui
from attention.analyses.contributions import METHOD_NOTES, METHODS, REMOVALS, TARGETS, explain, targets_for
from attention.run.export import table_csv
from figures.contributions import agreement_maps, method_rows
from ui.contributions import (CONTRIB_TOKENS, REMOVAL_HELP, TARGET_HELP, TARGET_NAMES, TEXT_B, faithfulness_panel,
                              heads_panel, target_inputs)

TRAINED = ("gpt-mini", "translate-mini")          # demo models trained here, offered by name
DEFAULT_STEPS, MIN_STEPS, MAX_STEPS = 32, 4, 128


def read_steps(raw: str | None) -> tuple[int, str | None]:
    if raw is None:
        return DEFAULT_STEPS, None
    value, notice = ui.parse_index(raw, "step count")
    if notice or not MIN_STEPS <= value <= MAX_STEPS:
        return DEFAULT_STEPS, f"The link's steps '{raw[:12]}' is not a whole number in {MIN_STEPS}–{MAX_STEPS}; {DEFAULT_STEPS} is used."
    return value, None


STATE = ui.PageState("contrib", ui.Sentence(), ui.Model(), ui.Text("text_b", TEXT_B),
                     ui.Choice("target", TARGETS), ui.Choice("method", METHODS), ui.Index("layer"), ui.Index("head"),
                     ui.Custom("steps", DEFAULT_STEPS, read_steps), ui.Index("token"), ui.Choice("removal", REMOVALS))
STATE.load()

st.title("Contributions")
st.caption(
    "Where heads look is not the same as what they do to the output. Pick a **target** (a number the model's output "
    "gives) and see which input tokens and which heads made it what it is, by seven methods side by side, how much "
    "they agree, and which of them is **faithful** on this input: removing the tokens a method ranks first should "
    "change the target most."
)
ui.show_url_notices()


text, model = ui.text_and_model("Sentence A (or an encoder–decoder's source)",
                                picker=lambda: ui.model_picker(extra=TRAINED))   # with the demo models trained here
allowed = ui.run_core("Reading the model…", targets_for, model)
if allowed is None:
    ui.stop_with_share({"text": text, "model": model}, text)
encoder_decoder = allowed == ("next_token",)
if st.session_state.get("contrib_target") not in allowed:
    ui.warn(f"{model[:80]} is an encoder–decoder: its target is the logit of the next output token, shown instead.")
    st.session_state["contrib_target"] = allowed[0]
c1, c2, c3 = st.columns([2, 2, 1])
target = c1.radio("Target", allowed, format_func=TARGET_NAMES.get, key="contrib_target", help=TARGET_HELP)
text_b, token = target_inputs(c2, target, encoder_decoder, text, model, STATE.clamp)
steps = c3.number_input("IG steps", MIN_STEPS, MAX_STEPS, key="contrib_steps", step=4,
                        help="Integrated gradients' interpolation steps (trapezoid rule over steps + 1 points, batched).")
removal = c3.selectbox("Removal", REMOVALS, key="contrib_removal", help=REMOVAL_HELP)
params = {"text": text, "model": model, "target": target, "text_b": text_b, "steps": steps, "removal": removal,
          "token": token if target == "token" else None}

bar = st.empty()


def show_progress(fraction: float, message: str) -> None:
    bar.progress(min(max(fraction, 0.0), 1.0), text=message)


found = ui.run_core(f"Computing contributions (first run: gradients, {int(steps) + 1} interpolation points, head removals)…",
                    explain, text, model, target=target, text_b=text_b, token=token, steps=int(steps), progress=show_progress,
                    max_tokens=CONTRIB_TOKENS, removal=removal)
bar.empty()
if found is None:
    ui.stop_with_share(params, text)
for notice in found.notices:
    ui.warn(notice)

m1, m2, m3 = st.columns(3)
m1.metric("Target", f"{found.target_value:.4f}", help=found.target_label)
m2.metric("Integrated gradients: completeness gap", f"{found.completeness_gap:.3%}",
          help="|Σ scores − (f(input) − f(baseline))| ÷ |f(input) − f(baseline)| (Sundararajan et al., 2017), the "
               "largest over the explained sentences. f(baseline) = "
               + ", ".join(f"{value:.4f}" for value in found.f_baselines) + ".")
m3.metric("Tokens", len(found.tokens))
st.caption(f"**Target:** {ui.md_escape(found.target_label)}.  **Baseline** of integrated gradients: "
           f"{ui.md_escape(found.baseline)}.")

st.subheader("Tokens, by every method")
st.caption("One row per method. Each row is divided by its largest |score| so all rows share one diverging scale "
           "(red: pushes the target up or contributes most; blue: pushes it down); hover for the exact score. "
           + ("Attention, rollout and ALTI sum to 1 per sentence; the others are in their own units." if not encoder_decoder
              else "Encoder–decoder: the source's tokens (src·) then the decoder's (dec·: its start token and the output "
                   "so far). Attention and value norms read the last decoder layer from the target's row: cross-attention "
                   "over the source (attention sums to 1 there), self-attention over the decoder's tokens (1 there too); "
                   "rollout and ALTI are carried through the cross-attention and sum to 1 over both; the others are in "
                   "their own units."))
ui.chart(method_rows(found, encoder_decoder), "contrib_rows", theme="streamlit")

method = st.selectbox("Method in focus", METHODS, key="contrib_method", help="Its note, and its line in the tables below.")
st.info(METHOD_NOTES[method])
if method in found.unavailable:
    ui.warn(f"{method} is not available for this model (it needs the project's engine); its note is shown, without scores.")
rows = found.rows()
with st.container(horizontal=True, gap="small"):
    ui.download("Scores CSV", lambda: table_csv(rows), "contributions.csv", "text/csv", key="contrib_csv")
    ui.download("Everything JSON", lambda: json.dumps(found.to_json(), ensure_ascii=False), "contributions.json",
                "application/json", key="contrib_json")
    ui.download("Heads CSV", lambda: table_csv(found.head_rows()), "contribution_heads.csv", "text/csv",
                key="contrib_heads_csv")

layer, head = heads_panel(found, text, model, text_b, encoder_decoder, STATE.clamp)

st.subheader("How much the methods agree")
for column, figure, key in zip(st.columns(2), agreement_maps(found.scores), ("contrib_spearman", "contrib_kendall")):
    ui.chart(figure, key, slot=column, theme="streamlit")

faithfulness_panel(found)

with st.expander("What each method measures, and what it cannot claim"):
    for name in METHODS:
        st.markdown(f"**{name}** — {METHOD_NOTES[name]}")
    st.markdown("No method here proves *why* the model does something: each answers a narrower question (where "
                "weights point, what vectors move, what a small change would do, what removing tokens or heads does), "
                "and removing tokens creates inputs the model never saw.")

params.update({"method": method, "layer": layer, "head": head})
STATE.share(text, **params)
