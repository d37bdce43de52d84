"""Contributions: which tokens and which heads made the output what it is, by seven methods side by side, with their
agreement and a faithfulness test on the same input."""
import json

import streamlit as st

import ui
from attention.analyses.contributions import METHOD_NOTES, METHODS, TARGETS, agreement, explain, head_views, target_tokens
from attention.run.export import table_csv
from figures.contributions import agreement_map, curves_figure, head_effect_map, head_pair, token_rows

TEXT_B = "The animal didn't cross the street because it was too wide."
TARGET_NAMES = {"similarity": "Similarity of two sentences", "token": "One token's output",
                "next_token": "Next-token logit (decoders)"}
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

text, model = ui.text_and_model("Sentence A")
c1, c2, c3 = st.columns([2, 2, 1])
target = c1.radio("Target", TARGETS, format_func=TARGET_NAMES.get, key="contrib_target", horizontal=False,
                  help="Similarity: the cosine similarity of the two sentences' mean-pooled embeddings (how "
                       "sentence-transformers pools all-MiniLM-L6-v2). One token's output: the norm of its output vector. "
                       "Next-token logit: for decoders, the logit of the predicted next token.")
text_b = None
token = None
if target == "similarity":
    text_b = c2.text_area("Sentence B", key="contrib_text_b", height=90,
                          help="The second sentence; both sentences' tokens get scores.")
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


found = ui.run_core("Computing contributions (first run: gradients, 33 interpolation points, head removals)…",
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
           "Attention, rollout and ALTI sum to 1 per sentence; the others are in their own units.")
st.plotly_chart(token_rows(found.tokens, found.scores, found.segments), width="stretch", key="contrib_rows")

method = st.selectbox("Method in focus", METHODS, key="contrib_method", help="Its note, and its line in the tables below.")
st.info(METHOD_NOTES[method])
rows = found.rows()
with st.container(horizontal=True, gap="small"):
    st.download_button("Scores CSV", lambda: table_csv(rows), "contributions.csv", "text/csv", key="contrib_csv",
                       on_click="ignore", icon=":material/download:")
    st.download_button("Everything JSON", lambda: json.dumps(found.to_json(), ensure_ascii=False), "contributions.json",
                       "application/json", key="contrib_json", on_click="ignore", icon=":material/download:")
    st.download_button("Heads CSV", lambda: table_csv(found.head_rows()), "contribution_heads.csv", "text/csv",
                       key="contrib_heads_csv", on_click="ignore", icon=":material/download:")

st.subheader("Heads: what the target loses without each")
st.caption("Left: target − target with the head removed (its output set to 0). Right: target − target with the head's "
           "output replaced by its mean over tokens (it still writes, but no longer depends on which token asks). "
           "Red: the head raised the target. Click a head to open it below.")
layers, heads = found.head_importance.shape
STATE.clamp("layer", layers)
STATE.clamp("head", heads)
left, right = st.columns(2)
left.plotly_chart(head_effect_map(found.head_importance, "Head removed", "change of target"), width="stretch",
                  key="contrib_removed", selection_mode="points", config={"displayModeBar": False},
                  on_select=ui.open_clicked_head("contrib_removed", "contrib_layer", "contrib_head"))
right.plotly_chart(head_effect_map(found.head_mean_ablation, "Head mean-ablated", "change of target"), width="stretch",
                   key="contrib_mean", selection_mode="points", config={"displayModeBar": False},
                   on_select=ui.open_clicked_head("contrib_mean", "contrib_layer", "contrib_head"))
h1, h2, h3 = st.columns([1, 1, 4], vertical_alignment="bottom")
layer = h1.selectbox("Layer", range(layers), key="contrib_layer")
head = h2.selectbox("Head", range(heads), key="contrib_head")
h3.markdown(f"Removing L{layer} H{head} changes the target by **{-found.head_importance[layer, head]:+.5f}**; "
            f"mean-ablating it by **{-found.head_mean_ablation[layer, head]:+.5f}**.")
view = ui.run_core("Reading the head…", head_views, text, model, layer, head, CONTRIB_TOKENS)
if view is not None:
    st.plotly_chart(head_pair(*view, layer, head), width="stretch", key="contrib_head_pair")
    st.caption("Sentence A. Where the head looks (left) and how much each key's value actually moves through it, "
               "‖α·f(x)‖ (right; Kobayashi et al., 2020): a large weight on a small vector moves little.")

st.subheader("How much the methods agree")
names, spearman, kendall = agreement(found.scores)
a1, a2 = st.columns(2)
a1.plotly_chart(agreement_map(names, spearman, "Spearman rank correlation"), width="stretch", key="contrib_spearman")
a2.plotly_chart(agreement_map(names, kendall, "Kendall τ"), width="stretch", key="contrib_kendall")

st.subheader("Which method is faithful on this input")
st.caption(f"Tokens are taken away in each method's order (replaced by {ui.md_escape(found.replacement)}) and the target "
           "measured again. **Comprehensiveness**: mean drop of the target when the top k are replaced (higher: the "
           "method found what matters). **Sufficiency**: mean drop when only the top k are kept (lower is better). "
           "AOPC over k (DeYoung et al., 2020), against a random order averaged over 10 shuffles.")
st.plotly_chart(curves_figure(found.curves, found.target_value, "target"), width="stretch", key="contrib_curves")
table = found.faithfulness_rows()
best = max((r for r in table if r["method"] != "random"), key=lambda r: r["comprehensiveness"])
st.dataframe(table, hide_index=True, width="stretch")
st.markdown(f"On this input, **{best['method']}** has the highest comprehensiveness "
            f"({best['comprehensiveness']:+.4f}; random {found.faithfulness['random']['comprehensiveness']:+.4f}). "
            "This can differ from sentence to sentence: one input is not a verdict on a method (the README gives the "
            "means over 50 pairs).")
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
