"""Patching: run a corrupted input again with one activation at a time taken from a clean run, and see which heads,
positions and blocks bring the clean answer back (activation patching)."""
import streamlit as st

import ui
from attention import patch
from attention.run.cache import memoized
from figures.patching import blocks_figure, head_map, residual_map

# induction-mini: the clean text repeats "kqzmwtrbfx"; after its last "w" an induction head predicts "t", the token that
# followed "w" in the earlier copy. The corrupted text swaps "w" and "x" in the earlier copy: there "w" is followed by "k".
INDUCTION = {"clean": "kqzmwtrbfxkqzmw", "corrupted": "kqzmxtrbfwkqzmw", "answer": "t", "wrong": "k",
             "model": "induction-mini", "prefix": ""}
DATES = {"clean": "the third of march, twenty twenty-one", "corrupted": "the fifth of march, twenty twenty-one",
         "answer": "3", "wrong": "5", "model": "translate-mini", "prefix": "2021-03-0"}
DEMOS = ("induction-mini", "gpt-mini", "translate-mini")

STATE = ui.PageState("patching", ui.Text("clean", INDUCTION["clean"]), ui.Text("corrupted", INDUCTION["corrupted"]),
                     ui.Text("answer", INDUCTION["answer"], strip=True, keep_empty=True),
                     ui.Text("wrong", INDUCTION["wrong"], strip=True, keep_empty=True),
                     ui.Model("model", INDUCTION["model"]), ui.Text("prefix", "", keep_empty=True), shared=())
STATE.load()
run_patch = memoized("patching", max_items=16)(patch)


def use(example: dict) -> None:
    """Fill every input with an example."""
    for name, value in example.items():
        STATE[name] = value


st.title("Patching")
st.caption(
    "Which parts of the model carry the difference between two inputs? Run the **clean** input and a **corrupted** "
    "one (the same number of tokens, a few changed), then run the corrupted one again with **one activation at a time "
    "taken from the clean run**: a head's output, the residual stream at one layer and position, a layer's attention "
    "or feed-forward block. Each cell says how much of the clean answer that one activation brings back: **0** = as "
    "corrupted, **1** = as clean (Meng et al., 2022; Wang et al., 2023)."
)
ui.show_url_notices()

b1, b2 = st.columns(2)
b1.button("Induction example (induction-mini)", on_click=use, args=(INDUCTION,), key="patching_induction",
          icon=":material/repeat:", help="A repeated random sequence; the corrupted one changes the earlier copy.")
b2.button("Date example (translate-mini)", on_click=use, args=(DATES,), key="patching_dates", icon=":material/event:",
          help="‘the third of march …’ against ‘the fifth …’: which activations write the day's digit?")
c1, c2 = st.columns(2)
clean = c1.text_input("Clean input", key="patching_clean", help="The input whose answer you want to trace.")
corrupted = c2.text_input("Corrupted input", key="patching_corrupted",
                          help="The same input with a few tokens changed, as many tokens long (positions are matched one to one).")
c3, c4, c5, c6 = st.columns([1, 1, 2, 2])
answer = c3.text_input("Answer", key="patching_answer", help="The clean input's next token (one token). Empty: the clean "
                       "input's top prediction (an encoder: the similarity of its output with the clean output).")
wrong = c4.text_input("Wrong", key="patching_wrong", help="The corrupted input's next token: the metric is logit(answer) − "
                      "logit(wrong). Empty: the answer's logit alone.")
prefix = c5.text_input("Output so far (encoder–decoders)", key="patching_prefix",
                       help="What an encoder–decoder's decoder has written; the answer is its next token.")
with c6:
    model = ui.model_picker(key="patching_model", extra=DEMOS)
params = {"clean": clean, "corrupted": corrupted, "answer": answer, "wrong": wrong, "model": model, "prefix": prefix or None}

found = ui.run_core("Patching every head, position and block (a demo model trains on first use)…", run_patch, clean,
                    corrupted, model, answer or None, wrong or None, prefix=prefix or None)
if found is None:
    ui.stop_with_share(params, clean)
for notice in found.notices:
    ui.warn(notice)

m1, m2, m3 = st.columns(3)
m1.metric("Clean", f"{found.clean_value:.3f}", help=found.metric)
m2.metric("Corrupted", f"{found.corrupted_value:.3f}", help=found.metric)
m3.metric("Patches run", found.passes, help="One pass each, stacked along the batch axis.")
st.caption(f"**Metric:** {ui.md_escape(found.metric)}. Restored = (patched − corrupted) ÷ (clean − corrupted).")

st.subheader("Heads")
top = ", ".join(f"{found.head_label(row, head)} ({value:.2f})" for row, head, value in found.top_heads(5))
st.caption(f"Each cell: the corrupted input run with that head's output taken from the clean run. Restores most: {top}. "
           "Several heads doing the same job share the effect: each may restore only part of it, and their "
           "layer's attention block (below) shows them together.")
ui.chart(head_map(found), "patching_heads")

st.subheader("Residual stream")
st.caption("Each cell: the stream entering a layer (row 0 the embeddings, the last row the output) at one position, "
           "taken from the clean run. Patching an embedding where the inputs are the same changes nothing; the "
           "answer moves from the changed positions towards the last one, layer by layer.")
ui.chart(residual_map(found), "patching_residual")

st.subheader("Attention and feed-forward blocks")
st.caption("Each bar: one block's output (before it is added to the stream) taken from the clean run.")
ui.chart(blocks_figure(found), "patching_blocks")

STATE.share(clean, **params)
