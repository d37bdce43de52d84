"""Contributions: which tokens and which heads made the output what it is, by seven methods side by side, with their
agreement and a faithfulness test on the same input."""
import json

import numpy as np
import streamlit as st

import ui
from attention.analyses.contributions import METHOD_NOTES, METHODS, TARGETS, explain, head_views, target_tokens, targets_for
from attention.run.export import table_csv
from figures.contributions import agreement_maps, faithfulness_curves, head_effect_maps, head_view_pair, method_rows

TEXT_B = "The animal didn't cross the street because it was too wide."
TARGET_NAMES = {"similarity": "Similarity of two sentences", "token": "One token's output",
                "next_token": "Next-token logit (decoders, encoder–decoders)"}
TRAINED = ("gpt-mini", "translate-mini")          # demo models trained here, offered by name
DATE_SOURCE, DATE_PREFIX = "the third of march, twenty twenty-one", "2021-03-0"   # translate-mini's example
DEFAULT_STEPS, MIN_STEPS, MAX_STEPS = 32, 4, 128


CONTRIB_TOKENS = 64   # tokens read per sentence: every method runs the model tens to hundreds of times


def read_steps(raw: str | None) -> tuple[int, str | None]:
    if raw is None:
        return DEFAULT_STEPS, None
    value, notice = ui.parse_index(raw, "step count")
    if notice or not MIN_STEPS <= value <= MAX_STEPS:
        return DEFAULT_STEPS, f"The link's steps '{raw[:12]}' is not a whole number in {MIN_STEPS}–{MAX_STEPS}; {DEFAULT_STEPS} is used."
    return value, None


STATE = ui.PageState("contrib", ui.Sentence(), ui.Model(), ui.Text("text_b", TEXT_B),
                     ui.Choice("target", TARGETS), ui.Choice("method", METHODS), ui.Index("layer"), ui.Index("head"),
                     ui.Custom("steps", DEFAULT_STEPS, read_steps), ui.Index("token"))
STATE.load()

st.title("Contributions")
st.caption(
    "Where heads look is not the same as what they do to the output. Pick a **target** (a number the model's output "
    "gives) and see which input tokens and which heads made it what it is, by seven methods side by side, how much "
    "they agree, and which of them is **faithful** on this input: removing the tokens a method ranks first should "
    "change the target most."
)
ui.show_url_notices()


def use_date_example() -> None:
    st.session_state["text"], st.session_state["contrib_text_b"] = DATE_SOURCE, DATE_PREFIX


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
target = c1.radio("Target", allowed, format_func=TARGET_NAMES.get, key="contrib_target", horizontal=False,
                  help="Similarity: the cosine similarity of the two sentences' mean-pooled embeddings (how "
                       "sentence-transformers pools all-MiniLM-L6-v2). One token's output: the norm of its output vector. "
                       "Next-token logit: for decoders, the logit of the predicted next token; for encoder–decoders "
                       "(translate-mini), the logit of the predicted next output token given the source and the output so far.")
text_b = None
token = None
if target == "similarity":
    text_b = c2.text_area("Sentence B", key="contrib_text_b", height=90,
                          help="The second sentence; both sentences' tokens get scores.")
elif encoder_decoder:
    if st.session_state.get("contrib_text_b") == TEXT_B:                  # the similarity default is no output of this model
        st.session_state["contrib_text_b"] = ""
    text_b = c2.text_input("Output so far", key="contrib_text_b",
                           help="What the decoder has written: it reads its start token, then these tokens, and the "
                                "target is the logit of the token it predicts next. Empty: the first output token.")
    c2.button("Date example", on_click=use_date_example, key="contrib_date_example",
              help=f"Source ‘{DATE_SOURCE}’, output so far ‘{DATE_PREFIX}’ (translate-mini turns dates in words into ISO dates).")
elif target == "token":
    tokens_a = ui.run_core("Reading the tokens…", target_tokens, text, model, CONTRIB_TOKENS)
    if tokens_a:
        STATE.clamp("token", len(tokens_a))
        token = c2.selectbox("Token", range(len(tokens_a)), key="contrib_token",
                             format_func=lambda i: f"{i} · {tokens_a[i]}", help="The token whose output vector's norm is the target.")
steps = c3.number_input("IG steps", MIN_STEPS, MAX_STEPS, key="contrib_steps", step=4,
                        help="Integrated gradients' interpolation steps (trapezoid rule over steps + 1 points, batched).")
params = {"text": text, "model": model, "target": target, "text_b": text_b, "steps": steps,
          "token": token if target == "token" else None}

bar = st.empty()


def show_progress(fraction: float, message: str) -> None:
    bar.progress(min(max(fraction, 0.0), 1.0), text=message)


found = ui.run_core(f"Computing contributions (first run: gradients, {int(steps) + 1} interpolation points, head removals)…",
                    explain, text, model, target=target, text_b=text_b, token=token, steps=int(steps), progress=show_progress,
                    max_tokens=CONTRIB_TOKENS)
bar.empty()
if found is None:
    ui.stop_with_share(params, text)
for notice in found.notices:
    ui.warn(notice)

m1, m2, m3 = st.columns(3)
m1.metric("Target", f"{found.target_value:.4f}", help=found.target_label)
m2.metric("Integrated gradients: completeness gap", f"{found.completeness_gap:.3%}",
          help="|Σ scores − (f(input) − f(baseline))| ÷ |f(input) − f(baseline)| (Sundararajan et al., 2017). "
               f"f(baseline) = {found.f_baseline:.4f}.")
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

st.subheader("Heads: what the target loses without each")
st.caption("Left: target − target with the head removed (its output set to 0). Right: target − target with the head's "
           "output replaced by its mean over tokens (it still writes, but no longer depends on which token asks). "
           "Red: the head raised the target. Click a head to open it below."
           + (" Rows: the encoder's layers, then the decoder's self-attention layers, then its cross-attention layers "
              "(blank where a stack has fewer heads)." if encoder_decoder else ""))
layers, heads = found.head_importance.shape
rows = found.layer_names
STATE.clamp("layer", layers)
STATE.clamp("head", heads)
for column, figure, key in zip(st.columns(2), head_effect_maps(found), ("contrib_removed", "contrib_mean")):
    with column:
        ui.head_map(figure, key, "contrib")
h1, h2, h3 = st.columns([1, 1, 4], vertical_alignment="bottom")
layer = h1.selectbox("Layer", range(layers), key="contrib_layer", format_func=lambda l: str(l) if rows[l] == f"layer {l}"
                     else f"{l} · {rows[l]}")
head = h2.selectbox("Head", range(heads), key="contrib_head")
name = found.head_name(layer, head)
if np.isfinite(found.head_importance[layer, head]):
    h3.markdown(f"Removing {name} changes the target by **{-found.head_importance[layer, head]:+.5f}**; "
                f"mean-ablating it by **{-found.head_mean_ablation[layer, head]:+.5f}**.")
else:
    h3.markdown(f"{ui.md_escape(name)}: no such head, or head removal is not available for this model.")
view = ui.run_core("Reading the head…", head_views, text, model, layer, head, CONTRIB_TOKENS, text_b if encoder_decoder else None)
if view is not None:
    ui.chart(head_view_pair(view), "contrib_head_pair", theme="streamlit")
    st.caption(("Cross-attention: decoder queries × source keys. " if "cross" in view.title else "")
               + ("Where the head looks (left) and how much each key's value actually moves through it, ‖α·f(x)‖ "
                  "(right; Kobayashi et al., 2020): a large weight on a small vector moves little."
                  if view.norms is not None else "Where the head looks (value-weighted norms need the project's engine)."))

st.subheader("How much the methods agree")
for column, figure, key in zip(st.columns(2), agreement_maps(found.scores), ("contrib_spearman", "contrib_kendall")):
    ui.chart(figure, key, slot=column, theme="streamlit")

st.subheader("Which method is faithful on this input")
st.caption(f"Tokens are taken away in each method's order (replaced by {ui.md_escape(found.replacement)}) and the target "
           "measured again. **Comprehensiveness**: mean drop of the target when the top k are replaced (higher: the "
           "method found what matters). **Sufficiency**: mean drop when only the top k are kept (lower is better). "
           "AOPC over k (DeYoung et al., 2020), against a random order averaged over 10 shuffles.")
ui.chart(faithfulness_curves(found), "contrib_curves", theme="streamlit")
best = found.most_comprehensive()
st.dataframe(found.faithfulness_rows(), hide_index=True, width="stretch")
st.markdown(f"On this input, **{best['method']}** has the highest comprehensiveness "
            f"({best['comprehensiveness']:+.4f}; random {found.faithfulness['random']['comprehensiveness']:+.4f}). "
            "This can differ from input to input: one input is not a verdict on a method (the README gives MiniLM's "
            "means over 50 sentence pairs).")
if target == "similarity":
    st.caption("For similarity, replacing tokens in both sentences by the same token makes them alike, so the target "
               "can rise as tokens go and the numbers can be negative: compare each method with random.")

with st.expander("What each method measures, and what it cannot claim"):
    for name in METHODS:
        st.markdown(f"**{name}** — {METHOD_NOTES[name]}")
    st.markdown("No method here proves *why* the model does something: each answers a narrower question (where "
                "weights point, what vectors move, what a small change would do, what removing tokens or heads does), "
                "and removing tokens creates inputs the model never saw.")

params.update({"method": method, "layer": layer, "head": head})
STATE.share(text, **params)
