"""Masks & attention kinds: bidirectional vs causal, real decoders, self vs cross-attention, padding, and recurrence."""
import streamlit as st

import ui
from attention.analyses.batch import attend_padded, gap_alone
from attention.domains import gpt_mini, translate_mini
from figures.generation import roles_caption
from figures.learn import recurrence_figure
from figures.masks import causal_pair_figure, cross_mean_figure, decoder_figure, mask_pair_figure, padding_figure, seq2seq_figures
from ui.masks import translator_report

DEFAULT_DECODER = gpt_mini.MODEL_NAME          # a decoder trained here (what its heads do is measured: head_roles)
DEFAULT_SEQ2SEQ = translate_mini.MODEL_NAME    # an encoder–decoder trained here: its cross-attention aligns
TRANSLATORS = (translate_mini.MODEL_NAME, translate_mini.RANDOM_NAME)
DEFAULT_SOURCE = translate_mini.example(3).source   # a held-out date (never seen in training), written in words
DEFAULT_SECOND = "It was tired."
STATE = ui.PageState("masks", ui.Sentence(), ui.Engine(), ui.Index("layer"), ui.Index("head"),
                     ui.Text("decoder", DEFAULT_DECODER, strip=True, keep_empty=True, limit=200, hide_default=True),
                     ui.Text("seq2seq", DEFAULT_SEQ2SEQ, strip=True, hide_default=True),
                     ui.Text("source", DEFAULT_SOURCE, limit=300, hide_default=True),
                     ui.Text("target", "", keep_empty=True, limit=300, hide_default=True),
                     ui.Text("second", DEFAULT_SECOND, hide_default=True))
STATE.load()


st.title("Masks & attention kinds")
st.caption("A mask decides which tokens each query may look at; whether queries and keys come from the same text decides "
           "between self- and cross-attention. Same maths every time — softmax over scaled scores — with different rules.")
ui.show_url_notices()
text, model, run = ui.learn_trace()   # the sentence's one run; the other sections ask other questions (masks, models)
result = run.result
c1, c2, _ = st.columns([1, 1, 2])
layer, head = ui.layer_and_head("masks", result, [c1, c2], head_help="The head drawn in the comparisons below.")

st.header("Bidirectional (BERT) vs causal (GPT)")
st.caption(
    "BERT is trained as a masked language model: some tokens are hidden and it predicts them from both sides, so every "
    "token may look left and right (Devlin et al., 2019). GPT is trained to predict each next token, on all positions "
    "of a text at once; the **causal** mask stops every position from seeing the tokens it must predict, so only the "
    "lower triangle (itself and earlier tokens) is allowed (Radford et al., 2018). Writing one token after another is "
    "how it *generates* text, not how it is trained."
)
ui.chart(mask_pair_figure(result.tokens), "mask_pair")
causal = ui.run_trace(text, model, causal=True, max_tokens=ui.LEARN_TOKENS)
if causal is not None:
    st.caption("What the mask does, on the same weights run both ways: under the causal mask the upper triangle is "
               "exactly 0 and each row shares its weight among fewer keys; the first token can only attend to itself. "
               "This encoder was never trained with the mask, so its causal pattern is mechanics, not something "
               "learned — a trained decoder follows below.")
    ui.chart(causal_pair_figure(result, causal, layer, head), "causal_pair")

st.subheader("A trained decoder: gpt-mini")
decoder = st.text_input("Decoder model", key="masks_decoder", placeholder="gpt-mini, gpt2 or /models/gpt2",
                        help="gpt-mini (default): a small GPT-style decoder trained here on Python's documentation "
                             "(causal, pre-norm, rotary positions; nothing downloaded). Or any GPT-2-style decoder run by "
                             "Hugging Face transformers: an id needs the network (or the local cache), a folder must hold "
                             "config.json. Code shipped with a model is never run.")
if decoder.strip():
    decoder_name = decoder.strip()
    if decoder_name == gpt_mini.MODEL_NAME:
        ui.train_once(gpt_mini, "gpt-mini")
    decoded = ui.run_attend(text, decoder_name, max_tokens=ui.LEARN_TOKENS)
    if decoded is not None:
        if decoded.meta.get("family") != "decoder":
            ui.warn(f"This is an {decoded.meta.get('family', 'unknown')} model, not a decoder; its attention is shown as it is.")
        ui.chart(decoder_figure(decoded, layer, head), "decoder_head")
        trained_here = (" gpt-mini was trained with the causal mask to predict each next token. " + roles_caption(
            gpt_mini.head_roles()) if decoder_name == gpt_mini.MODEL_NAME else "")
        st.caption(f"Causal: {'yes — nothing above the diagonal' if decoded.meta.get('causal') else 'no'} · "
                   f"{decoded.n_layers} layers × {decoded.n_heads} heads.{trained_here} The Generation page shows it writing.")
else:
    st.info("Type a decoder (gpt-mini, a Hugging Face id or a folder) to see a GPT-style model's own causal attention. "
            "`scratch:<folder>` runs a GPT-2 folder in the project's engine (its attention equals transformers' within 1e-5).",
            icon=":material/info:")

st.header("Self-attention vs cross-attention")
st.caption(
    "In **self-attention** queries, keys and values all come from one text. An encoder–decoder (as used for translation) "
    "also has **cross-attention**: the decoder's tokens ask the questions (queries) while the encoder's tokens, from the "
    "source text, supply the keys and values — each target word looks back at the source."
)
t0, t1, t2 = st.columns([3, 2, 2])
source = t0.text_input("Source text (the encoder's side)", key="masks_source",
                       help="For translate-mini, a date in words, e.g. “the third of march, twenty twenty-one”, “march "
                            "3rd 2021”, “3 march 2021”, “twenty-fourth of june 1999” (years 1950–2049; lower case).")
target = t1.text_input("Target text (the decoder's side)", key="masks_target", placeholder="blank: the model's own output",
                       help="For translation, the text being written. Left blank with translate-mini: its own greedy "
                            "translation, so each row is what the model writes.")
seq2seq = t2.text_input("Encoder–decoder", key="masks_seq2seq",
                        help="translate-mini (trained here: dates in words → ISO dates), scratch:random-translate-mini (the "
                             "same network untrained), scratch (random weights, a small random decoder), "
                             "scratch:<BART folder>, or a T5/BART id or folder run by transformers.")
seq2seq_name = seq2seq.strip() or DEFAULT_SEQ2SEQ
if not ui.hosted_allows(seq2seq_name):
    ui.warn(f"This public demo does not run {seq2seq_name[:60]}; the cross-attention below uses scratch (random weights), "
            "which shows stripes, not alignments.")
    seq2seq_name = "scratch"
translator = seq2seq_name in TRANSLATORS
if translator:
    ui.train_once(translate_mini, "translate-mini")
written = (ui.run_core("Translating…", translate_mini.translate, source, translate_mini.MODEL_NAME) or ""
           if translator and not target.strip() else "")
if written:
    st.caption(f"translate-mini writes: **{ui.md_escape(written)}** (the target rows below).")
# with no target typed: the translator's own output, else (another encoder–decoder) the source read back as the target
pair = ui.run_attend(source, seq2seq_name, target=target.strip() or written or source, max_tokens=ui.LEARN_TOKENS) if source.strip() else None
if not source.strip():
    st.info("Type a source text to see cross-attention.", icon=":material/info:")
if pair is not None and pair.cross is not None:
    encoder_self, decoder_self, cross = seq2seq_figures(pair, layer, head)
    if translator:
        ui.chart(cross_mean_figure(pair, seq2seq_name), "cross_mean")
        report = ui.run_core("Reading translate-mini's held-out figures…", translate_mini.alignment_report)
        if report is not None:
            translator_report(report)
    elif seq2seq_name == "scratch":
        st.caption("scratch has random weights: its cross-attention shows stripes, not alignments. translate-mini is "
                   "trained and aligns.")
    left, middle = st.columns(2)
    ui.chart(encoder_self, "encoder_self", slot=left)
    ui.chart(decoder_self, "decoder_self", slot=middle)
    ui.chart(cross, "cross")
    st.caption(f"Cross-attention is not square: {len(pair.target_tokens)} target tokens × {pair.n_tokens} source tokens. "
               "Every target token may look at the whole source, but at its own text only causally.")

st.header("Padding: sentences of different lengths in one batch")
second = st.text_input("A second sentence for the batch", key="masks_second",
                       help="Models run several texts at once as one rectangle, so shorter ones are filled up with [PAD] tokens.")
batch = ui.run_core("Running both sentences as one batch…", attend_padded, [text, second], model, ui.LEARN_TOKENS)
if batch is not None:
    ui.chart(padding_figure(batch, layer, head), "padding")
    gap = gap_alone(batch, [text, second], ui.LEARN_TOKENS)
    st.caption("The padding mask hides the [PAD] columns, so no real token attends to padding (weight exactly 0) and every "
               f"sentence gets the same numbers as when it runs alone, up to rounding (largest difference here {gap:.1e}). "
               "The [PAD] rows are computed too, and simply thrown away.")

st.header("Self-attention vs a recurrent network")
st.caption(
    "A recurrent network (RNN, LSTM) reads one token per step and carries a memory forward: information from the first "
    "word reaches the last only after passing through every step in between, and step t must wait for step t − 1. "
    "Self-attention links every pair of tokens directly — one hop, whatever the distance — and computes all pairs at once. "
    "The price: n × n scores instead of n steps."
)
ui.chart(recurrence_figure(min(max(result.n_tokens, 4), 12)), "recurrence")

STATE.share(text, text=text, model=model, layer=layer, head=head, decoder=decoder.strip(), seq2seq=seq2seq.strip(),
            source=source, target=target, second=second)
