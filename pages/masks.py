"""Masks & attention kinds: bidirectional vs causal, real decoders, self vs cross-attention, padding, and recurrence."""
import streamlit as st

import ui
from attention import attend
from attention.analyses.batch import attend_padded
from attention.analyses.masks import mask_kinds
from figures import head_heatmap
from figures.learn import cross_figure, matrices_grid, matrix_figure, recurrence_figure

DEFAULT_TARGET = "Das Tier überquerte die Straße nicht, weil es zu müde war."
DEFAULT_SECOND = "It was tired."
STATE = ui.PageState("masks", ui.Sentence(), ui.Engine(), ui.Index("layer"), ui.Index("head"),
                     ui.Text("decoder", "", strip=True, keep_empty=True, limit=200),
                     ui.Text("seq2seq", "scratch", hide_default=True), ui.Text("target", DEFAULT_TARGET, hide_default=True),
                     ui.Text("second", DEFAULT_SECOND, hide_default=True))
STATE.load()


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, width="stretch", key=key, theme=None)


st.title("Masks & attention kinds")
st.caption("A mask decides which tokens each query may look at; whether queries and keys come from the same text decides "
           "between self- and cross-attention. Same maths every time — softmax over scaled scores — with different rules.")
ui.show_url_notices()
text, model, run = ui.learn_trace()   # the sentence's one run; the other sections ask other questions (masks, models)
result = run.result
c1, c2, _ = st.columns([1, 1, 2])
layer, head = ui.layer_and_head("masks", result, [c1, c2], head_help="The head drawn in the comparisons below.")
tokens, n = result.tokens, result.n_tokens

st.header("Bidirectional (BERT) vs causal (GPT)")
st.caption(
    "BERT reads a whole sentence at once, so each word may look both left and right: its mask allows everything. "
    "GPT writes text one token after another and learns to guess the next token, so a token must never see the ones "
    "after it — the **causal** mask allows only the lower triangle (itself and earlier tokens)."
)
chart(matrices_grid(list(mask_kinds(n).values()), ["Bidirectional mask: all allowed", "Causal mask: only earlier tokens"], [tokens] * 2,
                    [tokens] * 2, per_row=2, height_each=360), "mask_pair")
causal = ui.run_trace(text, model, causal=True, max_tokens=ui.LEARN_TOKENS)
if causal is not None:
    st.caption("The same weights run both ways. Under the causal mask the upper triangle is exactly 0 and each row "
               "shares its weight among fewer keys; the first token can only attend to itself.")
    pair = [result.head(layer, head), causal.head(layer, head)]
    titles = [f"{'Causal' if result.meta.get('causal') else 'Bidirectional'}: layer {layer} · head {head}", "Causal mask applied"]
    chart(matrices_grid(pair, titles, [tokens] * 2, [tokens] * 2, per_row=2, height_each=380), "causal_pair")

st.subheader("A real decoder through transformers")
decoder = st.text_input("Decoder model (Hugging Face id or local folder)", key="masks_decoder", placeholder="e.g. gpt2 or /models/gpt2",
                        help="Any GPT-2-style decoder, run by Hugging Face transformers. No decoder weights ship with the app: "
                             "an id needs the network (or the local cache), a folder must hold config.json. "
                             "Code shipped with a model is never run.")
if decoder.strip():
    decoded = ui.run_attend(text, decoder.strip(), max_tokens=ui.LEARN_TOKENS)
    if decoded is not None:
        if decoded.meta.get("family") != "decoder":
            ui.warn(f"This is an {decoded.meta.get('family', 'unknown')} model, not a decoder; its attention is shown as it is.")
        d_layer, d_head = decoded.clamp(layer, head)
        chart(head_heatmap(decoded, d_layer, d_head), "decoder_head")
        st.caption(f"Causal: {'yes — nothing above the diagonal' if decoded.meta.get('causal') else 'no'} · "
                   f"{decoded.n_layers} layers × {decoded.n_heads} heads.")
else:
    st.info("Type a decoder id or folder to see a GPT-style model's own causal attention. The from-scratch version is "
            "above; `scratch:<folder>` runs a GPT-2 folder in the project's engine (same numbers as transformers).",
            icon=":material/info:")

st.header("Self-attention vs cross-attention")
st.caption(
    "In **self-attention** queries, keys and values all come from one text. An encoder–decoder (as used for translation) "
    "also has **cross-attention**: the decoder's tokens ask the questions (queries) while the encoder's tokens, from the "
    "source text, supply the keys and values — each target word looks back at the source."
)
t1, t2 = st.columns([3, 1])
target = t1.text_input("Target text (the decoder's side)", key="masks_target", help="For translation, the sentence being written.")
seq2seq = t2.text_input("Encoder–decoder", key="masks_seq2seq", help="scratch (this project's engine with a small random decoder), "
                        "scratch:<BART folder>, or a T5/BART id or folder run by transformers.")
pair = ui.run_attend(text, seq2seq.strip() or "scratch", target=target, max_tokens=ui.LEARN_TOKENS)
if pair is not None and pair.cross is not None:
    e_layer, e_head = pair.clamp(layer, head)
    x_layer, x_head = pair.clamp_target(layer, head)
    left, middle = st.columns(2)
    with left:
        chart(matrix_figure(pair.head(e_layer, e_head), pair.tokens, pair.tokens, f"Encoder self-attention · layer {e_layer} · head {e_head}",
                            signed=False, row_title="source token"), "encoder_self")
    with middle:
        chart(matrix_figure(pair.target_head(x_layer, x_head), pair.target_tokens, pair.target_tokens,
                            f"Decoder self-attention (causal) · layer {x_layer} · head {x_head}", signed=False,
                            row_title="target token"), "decoder_self")
    chart(cross_figure(pair, x_layer, x_head), "cross")
    st.caption(f"Cross-attention is not square: {len(pair.target_tokens)} target tokens × {pair.n_tokens} source tokens. "
               "Every target token may look at the whole source, but at its own text only causally.")

st.header("Padding: sentences of different lengths in one batch")
second = st.text_input("A second sentence for the batch", key="masks_second",
                       help="Models run several texts at once as one rectangle, so shorter ones are filled up with [PAD] tokens.")
batch = ui.run_core("Running both sentences as one batch…", attend_padded, [text, second], model, ui.LEARN_TOKENS)
if batch is not None:
    b_layer, b_head = batch.clamp(layer, head)
    padded = [batch.head(i, b_layer, b_head) for i in range(2)]
    masks = [batch.key_mask(i) for i in range(2)]
    names = [f"Sentence {i + 1} ({batch.lengths[i]} tokens{', padded' if batch.is_padded(i) else ''})" for i in range(2)]
    chart(matrices_grid([*masks, *padded], [f"Padding mask · {name}" for name in names] + [f"Attention · {name}" for name in names],
                        batch.tokens * 2, batch.tokens * 2, per_row=2, height_each=340), "padding")
    gap = max(batch.gap_to(i, attend(sentence, model, max_tokens=ui.LEARN_TOKENS).weights) for i, sentence in enumerate([text, second]))
    st.caption("The padding mask hides the [PAD] columns, so no real token attends to padding (weight exactly 0) and every "
               f"sentence gets the same numbers as when it runs alone (largest difference here {gap:.1e}). "
               "The [PAD] rows are computed too, and simply thrown away.")

st.header("Self-attention vs a recurrent network")
st.caption(
    "A recurrent network (RNN, LSTM) reads one token per step and carries a memory forward: information from the first "
    "word reaches the last only after passing through every step in between, and step t must wait for step t − 1. "
    "Self-attention links every pair of tokens directly — one hop, whatever the distance — and computes all pairs at once. "
    "The price: n × n scores instead of n steps."
)
chart(recurrence_figure(min(max(n, 4), 12)), "recurrence")

STATE.share(text, text=text, model=model, layer=layer, head=head, decoder=decoder.strip() or None, seq2seq=seq2seq,
            target=target, second=second)
