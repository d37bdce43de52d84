"""Induction heads: a two-layer decoder trained here while you watch; the phase change in which its induction heads
form, the previous-token head they are built on (remove it and they fail), and the K-composition that joins them."""
import math
from functools import partial

import streamlit as st

import ui
from attention.domains import induction_mini as im
from attention.run.cache import memoized
from figures.induction import (composition_figure, head_scores_figure, phase_change_figure, removal_figure,
                               text_attention_figure)

DEFAULT_TEXT = "mr dursley of privet drive; mr dursley of privet drive"
STATE = ui.PageState("induction", ui.Text("text", DEFAULT_TEXT, limit=300),
                     ui.Index("removed", None, noun="layer-0 head", fallback=None), shared=())
STATE.load()
config = im.InductionConfig()
symbols = len(im.SYMBOLS)

st.title("Induction heads")
st.caption(
    "An **induction head** completes patterns: having seen *… A B …*, when *A* comes again it looks back at what "
    "followed *A* and predicts *B*. It takes two heads in two layers (Elhage et al., 2021): a **previous-token head** "
    "writes into every position which token came before it, and the induction head's keys read that, so its query "
    "(*A* now) finds the position whose previous token was *A*, and copies the token found there (*B*). In language "
    "models such heads form suddenly early in training, a **phase change** seen as a bump in the loss "
    "(Olsson et al., 2022)."
)
st.info(
    f"**What this model is.** `{im.MODEL_NAME}`, a toy: {config.n_layers} layers × {config.n_heads} heads, attention "
    f"only (no feed-forward units), d_model {config.d_model}, a vocabulary of {config.vocab_size} characters, trained "
    f"here on one CPU thread on rows of random characters repeated with a random period of {config.min_period}–"
    f"{config.max_period} (with one fixed period a head looking that far back would do, and no induction head forms). "
    "**What it is not:** a language model. It knows nothing of words; it can only continue what repeats. The "
    "mechanism it learns is the one found in large language models (Olsson et al., 2022).", icon=":material/science:")
ui.show_url_notices()
st.header("The phase change, step by step")
live = st.empty()     # the first visit trains here: the history so far is drawn at every record


def watch(history: dict) -> None:
    ui.chart(phase_change_figure(history, None, config.steps), f"induction_live_{len(history['step'])}", slot=live)


trained = ui.load_demo(partial(im.load_or_train, watch=watch), im.is_cached(), f"Training {im.MODEL_NAME} on this "
                       "machine, once (then kept on disk)…", lambda message: message, spinner=f"Training {im.MODEL_NAME}…")
live.empty()
if trained is None:
    st.stop()


@memoized("induction_findings", max_items=2)
def cached_findings() -> im.Findings:
    return im.findings(trained.network, trained.config, trained.history)


found = ui.run_core("Measuring the heads…", cached_findings)
if found is None:
    st.stop()
previous, induction = found.previous_head, found.induction_head

st.caption(
    f"Trained in {trained.seconds:.0f} s ({trained.cpu_seconds:.0f} s of processor time, one thread): {config.steps:,} "
    f"steps of {config.batch_size} rows of {config.context} tokens (AdamW, learning rate {config.learning_rate:g}, seed "
    f"{config.seed}). Every {config.record_every} steps the training recorded the loss on each part of its batch and "
    "every head's two scores on a fixed probe. The **first part** of a row (its first copy, and the first token of the "
    "second) cannot be predicted: its loss stays near "
    f"ln {symbols} ≈ {math.log(symbols):.1f} nats, chance among the {symbols} characters. The **repeated part** can, "
    "once an induction head copies it: its loss falls past the midpoint between its first and last values at step "
    f"{found.phase_step} (dashed line), while the layer-1 heads' induction scores rise."
)
ui.chart(phase_change_figure(trained.history, found.phase_step), "induction_phase")

st.header("The heads it found")
st.caption(
    f"Both scores as TransformerLens defines them, on the probe *[BOS], {im.PROBE_LENGTH} random "
    "characters, the same again*: the **induction score** is the mean attention from each token of the second copy to "
    "the token just after its earlier copy; the **previous-token score** is the mean attention from each token to the "
    f"one before it. Strongest: induction, layer {induction[0]} head {induction[1]} ({found.best_induction:.2f}); "
    f"previous token, layer {previous[0]} head {previous[1]} ({found.best_previous:.2f})."
)
ui.chart(head_scores_figure(found), "induction_scores")

st.header("Composition: remove the previous-token head")
if STATE["removed"] is None:
    STATE["removed"] = previous[1]
STATE.clamp("removed", config.n_heads, "layer-0 head")
removed = (0, int(st.selectbox("Layer-0 head to remove", list(range(config.n_heads)),
                               key=STATE.key("removed"), help="Gated to 0 (its output multiplied by 0), as "
                               "trace(gate={(0, head): 0.0}) does. Default: the strongest previous-token head.")))
removal = found.removal_of(removed[1])
m1, m2, m3 = st.columns(3)
for column, label, before, after, colour in (
        (m1, f"Induction score, layer {induction[0]} head {induction[1]}", removal.induction_before[induction],
         removal.induction_after[induction], "normal"),
        (m2, "Loss on the repeated part (nats)", removal.loss_repeated_before, removal.loss_repeated_after, "inverse"),
        (m3, "Loss on the first part (nats)", removal.loss_first_before, removal.loss_first_after, "inverse")):
    column.metric(label, f"{after:.2f}", f"{after - before:+.2f} (was {before:.2f})", delta_color=colour)
st.caption(
    f"Measured here on the probe and on {im.HELD_OUT_ROWS} rows the training never drew, with every head, then with "
    "this one removed. Without the previous-token head the induction heads' keys no longer say which token came "
    "before: they cannot find the earlier copy, and the repeats become about as hard to predict as the first part. "
    "Each layer-0 head removed in turn:"
)
st.dataframe(found.removal_table(), hide_index=True)
ui.chart(removal_figure(removal, removed), "induction_removal")

st.subheader("On a text")
text = st.text_area("Text", key=STATE.key("text"), height=68, help="Any text; lower-cased, one token per character, "
                    f"at most {config.context} tokens. Repeat something to see the induction head find it.")
run = ui.run_trace(text, im.MODEL_NAME)
gated = ui.run_trace(text, im.MODEL_NAME, gate={removed: 0.0}) if run is not None else None
if gated is not None:
    ui.chart(text_attention_figure(run, gated, *induction, removed), "induction_on_text")
    st.caption("In a repeat, each row's weight sits one step right of the diagonal through the earlier copy: on the "
               "token after the earlier occurrence of the current one. Remove the previous-token head and it is gone.")

st.header("K-composition")
low, high = found.composition_range()
untrained_low, untrained_high = found.composition_range(trained=False)
st.caption(
    "How much of each layer-1 head's key side reads what each layer-0 head writes, from the weights alone "
    "(Elhage et al., 2021), in the row-vector convention of TransformerLens: W_OV = W_V W_O (what a head writes), "
    "W_QK = W_Q W_Kᵀ (how it scores), K-composition = ‖W_OV¹ W_QK²ᵀ‖ / (‖W_OV¹‖ ‖W_QK²‖) with Frobenius norms, after "
    "centring the writes and folding layer 1's LayerNorm gain into W_Q and W_K. The previous-token head's row: "
    f"{low:.2f}–{high:.2f}; the untrained network's pairs: {untrained_low:.2f}–{untrained_high:.2f} (right)."
)
ui.chart(composition_figure(found), "induction_composition")

STATE.share(text, text=text, removed=removed[1])
