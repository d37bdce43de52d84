"""Positions: how a transformer knows word order — position codes, and the experiment that shows why they are needed."""
import streamlit as st

import ui
from figures.learn import matrix_figure, permutation_figure
from attention.analyses.positions import learned, permutation_experiment, similarity, sinusoidal

SINE_DIMENSIONS = 64   # the "scratch" engine's width, whose positions are these sine/cosine codes
DEFAULT_HEAD = 2       # MiniLM's layer-0 head 2 attends to the previous position: the shuffle shows it at once


def read_count(raw: str | None) -> tuple[int, str | None]:
    if raw is None:
        return 64, None
    value, notice = ui.parse_index(raw, "number of positions")
    if notice:
        return 64, notice
    shown = min(max(value, 8), 512)
    return shown, None if shown == value else f"The pictures cover 8 to 512 positions, so {shown} are shown."


STATE = ui.PageState("positions", ui.Sentence(), ui.Engine(), ui.Index("layer"), ui.Index("head", DEFAULT_HEAD),
                     ui.Index("seed", noun="shuffle", hide_default=True), ui.Custom("count", 64, read_count, hide_default=True))
STATE.load()

st.title("Positions")
st.caption(
    "Attention compares every token with every other, but nothing in a dot product says which token came first: "
    "to attention alone, “dog bites man” and “man bites dog” hold the same tokens. Transformers therefore add a "
    "**position code** to each token's embedding before the first layer, as BERT, GPT-2 and the original Transformer "
    "do, so that order can shape the scores. Other models put position inside attention, in every layer: T5 adds a "
    "learned bias per (bucketed) relative distance to the scores (Raffel et al., 2020), RoPE rotates queries and keys by their "
    "position (Su et al., 2021), and ALiBi subtracts a penalty growing with distance (Press et al., 2022)."
)
ui.show_url_notices()

st.subheader("Fixed sine and cosine codes")
count = st.slider("Positions shown", 8, 512, key="positions_count", help="How many positions the two pictures below cover.")
codes = sinusoidal(count, SINE_DIMENSIONS)
st.caption(
    "The original Transformer needs no training for this: dimension pair *i* of position *p* holds sin and cos of "
    "p / 10000^(2i/d). Early dimensions swing fast (they tell neighbours apart), late ones slowly (they tell "
    "beginning from end), like the hands of a clock. The `scratch` engine uses exactly these, "
    f"with d = {SINE_DIMENSIONS}."
)
left, right = st.columns(2)
ui.chart(matrix_figure(codes, None, None, "Position code (rows: positions, columns: dimensions)", row_title="position",
                       column_title="dimension", scale_title="value"), "sine_codes", slot=left)
ui.chart(matrix_figure(similarity(codes), None, None, "How alike two positions' codes are (cosine)", row_title="position",
                       column_title="position", scale_title="cosine"), "sine_similarity", slot=right)
st.caption("Left: red is positive, blue negative; the stripes widen from left to right as the dimensions slow down. "
           "Right: the dark red diagonal is each position against itself (cosine 1); the red fades with distance, so a "
           "position's code is most like its neighbours', and the likeness depends only on the distance, wherever in "
           "the text the pair sits (every code has the same length, and sin·sin + cos·cos depends only on the offset).")

st.subheader("Learned position embeddings (MiniLM)")
table = ui.run_core("Reading MiniLM's position table…", learned, "scratch:minilm", count)
if table is not None:
    st.caption(f"BERT-style models learn a vector per position instead ({table.shape[1]} numbers each for MiniLM, up to "
               "512 positions). Nobody told it about sines, yet training gave neighbouring positions similar vectors too. "
               "The colours of the vectors end at the 99th percentile of their sizes, so a few very large numbers (position "
               "0 has some) do not wash out the rest; hover shows every exact value.")
    left, right = st.columns(2)
    ui.chart(matrix_figure(table, None, None, "Learned position vectors", row_title="position", column_title="dimension",
                           clip=0.99, scale_title="value"), "learned_codes", slot=left)
    ui.chart(matrix_figure(similarity(table), None, None, "How alike two learned positions are (cosine)", row_title="position",
                           column_title="position", scale_title="cosine"), "learned_similarity", slot=right)
    st.caption("Right: red along the diagonal — neighbouring positions have similar vectors (blue: opposite directions). "
               "Position 0's vector, with its few large numbers, stands apart from the rest.")

st.subheader("The experiment: shuffle the words")
st.caption(
    "Take a sentence, shuffle its tokens, and run one head twice: once with positions switched off, once with them on. "
    "Without positions the head's pattern simply moves with the tokens (mathematicians say attention is "
    "*permutation-equivariant*): it cannot notice that the order changed. With positions the pattern itself changes."
)
text, model, run = ui.learn_trace()   # the page's one run of the engine on the sentence
result = run.result
c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
layer, head = ui.layer_and_head("positions", result, [c1, c2], head_help="Which head's pattern to compare.")
seed = c3.number_input("Shuffle number", 0, 999_999, key="positions_seed", step=1,
                       help="Each number is a different (repeatable) shuffle; the first and last tokens stay in place.")
experiment = ui.run_core("Running the shuffled sentence…", permutation_experiment, text, model, layer, head, int(seed), ui.LEARN_TOKENS)
if experiment is not None:
    st.caption("Shuffled: " + " · ".join(ui.md_escape(token) for token in experiment.shuffled_tokens))
    m1, m2 = st.columns(2)
    m1.metric("Without positions: largest difference", f"{experiment.gap_without:.1e}",
              help="Between the shuffled sentence's pattern and the original pattern moved with its tokens. Zero up to rounding.")
    m2.metric("With positions: largest difference", f"{experiment.gap_with:.3f}",
              help="The same comparison with position codes added: the order now changes the weights themselves.")
    ui.chart(permutation_figure(experiment), "permutation")
    st.caption("Top row: the two pictures are the same up to rounding — without positions the head cannot tell the orders apart. "
               "Bottom row: they differ — the position codes let the model see that the words moved.")

STATE.share(text, text=text, model=model, layer=layer, head=head, seed=int(seed), count=count)
