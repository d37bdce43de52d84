"""Step by step: one head of the project's own engine opened up, from embeddings to the head's output."""
import numpy as np
import streamlit as st

import ui
from figures.learn import matrix_figure, scaling_figure, softmax_row_figure, weighted_sum_figure
from attention.analyses.steps import toy_steps, trace_steps
from attention.domains import gpt_mini

DK_CHOICES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

STATE = ui.PageState("steps", ui.Sentence(), ui.Engine(), ui.Index("layer"), ui.Index("head"),
                     ui.Index("query", None, noun="query token"), ui.Flag("causal"))
STATE.load()

st.title("Step by step")
st.caption(
    "Follow one attention head through every step, with the real numbers of the engine that draws the heatmaps. "
    "Each token turns into three vectors: a **query** (the question it asks of the others), a **key** (the label it "
    "offers so that questions can find it) and a **value** (what it contributes). Nothing is picked: every value "
    "contributes to the output in proportion to its weight."
)
ui.show_url_notices()
text, model = ui.text_and_model(picker=ui.engine_picker)
engine = model
if STATE["causal"]:
    # causal mode runs a trained decoder, not an encoder with a mask bolted on (its causal patterns would mean nothing)
    engine = gpt_mini.MODEL_NAME
    ui.train_once(gpt_mini, "gpt-mini")
    from figures.generation import roles_caption   # what its heads do, measured (gpt_mini.head_roles)
    st.info("Causal mode runs **gpt-mini**, a small GPT-style decoder (causal, pre-norm, rotary positions) trained here "
            f"on Python's documentation. {roles_caption(gpt_mini.head_roles())} The engine picker's model is an encoder, "
            "trained to look both ways; switch the mask off to open it up again.", icon=":material/info:")
run = ui.run_trace(text, engine, max_tokens=ui.LEARN_TOKENS)   # the page's one engine run
if run is None:
    ui.stop_with_share({"text": text, "model": model}, text)
result = run.result
c1, c2, c3, c4 = st.columns([1, 1, 2, 2], vertical_alignment="bottom")
layer, head = ui.layer_and_head("steps", result, [c1, c2], head_help="Each head has its own query, key and value projections.")
focus = ui.token_picker("steps", result, c3, "Query token", "The token whose question we follow through softmax and the weighted sum.")
causal = c4.toggle("Causal (GPT-style decoder)", key="steps_causal",
                   help="On: gpt-mini, a decoder trained here, where each token may only look at itself and earlier "
                        "tokens. Off: the engine picker's model (an encoder: every token sees the whole sentence, as in BERT).")


def show_scaling(prefix: str) -> None:
    """The ÷ √d_k experiment: random unit-variance queries and keys, softmax with and without the scaling."""
    if st.session_state.get("steps_dk") not in DK_CHOICES:
        st.session_state["steps_dk"] = 64
    d_k = st.select_slider("d_k for the experiment", DK_CHOICES, key="steps_dk",
                           help="Random queries and keys whose parts have mean 0 and variance 1, as Vaswani et al. assume.")
    ui.chart(scaling_figure(int(d_k)), f"{prefix}_scaling")
    st.caption(f"Without the scaling (red) the scores spread with √d_k = {np.sqrt(d_k):.3g}, and as d_k grows the row's "
               "largest weight climbs towards 1: the softmax saturates. With it (blue) the spread, and the largest "
               "weight, stay about the same at every d_k (up to sampling noise). This is the experiment, not the model above: a trained head's "
               "scores are not random.")


def show_steps(steps, numbers: bool, prefix: str, query: int) -> None:
    """Draw every step of `steps` following token `query`; `numbers` writes each value in its cell (the toy)."""
    tokens, d_k = steps.tokens, steps.d_k
    chart = lambda fig, name: ui.chart(fig, f"{prefix}_{name}")  # noqa: E731
    st.subheader("1 · Embeddings: what the layer reads")
    st.caption("One row per token. In layer 0 this is the token's embedding plus its position embedding — and, in "
               "BERT-family models such as MiniLM, plus a segment (token type) embedding, the sum then layer-normalised: "
               "LayerNorm(token + position + segment). GPT-2-style decoders such as gpt-mini add token and position and "
               "normalise at the start of each layer (pre-norm), so what attention reads is LayerNorm(token + position). "
               "In later layers it is what the layers below have made of it." if not numbers else
               "One row per token: the toy's four made-up input vectors.")
    chart(matrix_figure(steps.inputs, tokens, None, "Input vectors", numbers=numbers, row_title="token",
                        column_title="dimension", scale_title="value"), "inputs")
    st.subheader("2 · Queries, keys and values")
    st.caption(f"Three weight matrices (learned, in a trained model) turn each input row into a "
               f"query, a key and a value of {d_k} numbers for this head.")
    for column, (name, matrix) in zip(st.columns(3), [("Queries Q: the questions", steps.queries),
                                                     ("Keys K: what each offers", steps.keys),
                                                     ("Values V: the content", steps.values)]):
        with column:
            chart(matrix_figure(matrix, tokens, None, name, numbers=numbers, row_title="token",
                                column_title="dimension of the head", scale_title="value"), name[:6])
    st.subheader("3 · Scores: every query against every key")
    st.caption("Q·Kᵀ: a dot product per pair. Large when a key answers a query's question well.")
    chart(matrix_figure(steps.scores, tokens, tokens, "Scores = Q·Kᵀ", numbers=numbers, row_title="query",
                        column_title="key", scale_title="score"), "scores")
    st.subheader(f"4 · Divide by √d_k = √{d_k} = {np.sqrt(d_k):.3g}")
    st.caption("If the parts of q and k are independent, each with mean 0 and variance 1, q·k has variance d_k, so its "
               "typical size grows like "
               "√d_k. Large scores push the softmax into saturated regions where nearly all weight sits on one key and "
               "the gradients are tiny, which slows learning; dividing by √d_k brings the scores back to variance 1 "
               "(Vaswani et al., 2017, §3.2.1).")
    chart(matrix_figure(steps.scaled, tokens, tokens, "Scaled scores", numbers=numbers, row_title="query",
                        column_title="key", scale_title="score ÷ √d_k"), "scaled")
    if not numbers:
        show_scaling(prefix)
    st.subheader("5 · Mask")
    st.caption("Forbidden pairs are set to −∞ (blank cells), so softmax gives them exactly 0. " +
               ("Causal: nothing after the query may be seen." if not steps.mask.all() else "Bidirectional: nothing is hidden."))
    chart(matrix_figure(steps.masked, tokens, tokens, "Masked scores", numbers=numbers, row_title="query",
                        column_title="key", scale_title="score ÷ √d_k"), "masked")
    st.subheader("6 · Softmax: scores become weights")
    st.caption("Softmax raises e to each score and divides by the row's total: every weight lies between 0 and 1 and "
               "each row sums to 1. Masked keys get a score of −∞ first, so their weight is exactly 0.")
    row = min(query, len(tokens) - 1)
    chart(softmax_row_figure(steps, row), "softmax")
    st.caption(f"**{ui.md_escape(tokens[row])}** gives most weight to " +
               ", ".join(f"{ui.md_escape(tokens[key])} ({weight:.2f})" for key, weight in steps.strongest_keys(row)) + ".")
    st.subheader("7 · Attention weights")
    chart(matrix_figure(steps.weights, tokens, tokens, f"Attention weights · layer {steps.layer} · head {steps.head}",
                        signed=False, numbers=numbers, row_title="query (rows) attends to key (columns)",
                        column_title="key", scale_title="weight"), "weights")
    st.subheader("8 · Weighted sum of values: the head's output")
    st.caption("Each token's output is the sum of every value times its weight: a blend of the values, mixed in the "
               "proportions of its weights.")
    chart(weighted_sum_figure(steps, row), "sum")
    chart(matrix_figure(steps.output, tokens, None, "Head output (all tokens)", numbers=numbers, row_title="token",
                        column_title="dimension of the head", scale_title="value"), "output")


sentence_tab, toy_tab = st.tabs(["Your sentence", "Toy: check it with a calculator"])
with sentence_tab:
    steps = ui.run_core("Opening the head…", trace_steps, run, layer, head)
    if steps is not None:
        gap = steps.largest_difference(result.head(layer, head))
        agreement = "identical, to the last bit" if gap == 0 else f"largest difference {gap:.1g}"
        st.success(f"The weights below are the ones attend() returns for this head ({agreement}).", icon=":material/check_circle:")
        show_steps(steps, numbers=False, prefix="sentence", query=focus)
with toy_tab:
    toy = toy_steps(causal)
    st.caption("The toy has its own four tokens (“I like green tea”), not your sentence: vectors of 4 whole numbers, "
               "one head with d_k = 4, so dividing by √4 halves every score. The same code as above computes it. "
               "The projection matrices (input row × W gives the vector):")
    toy_query = st.selectbox("Toy query token", range(len(toy.tokens)), index=len(toy.tokens) - 1, key="steps_toy_query",
                             format_func=lambda i: f"{i} · {toy.tokens[i]}", help="The toy token followed through softmax.")
    for column, (name, plural) in zip(st.columns(3), (("query", "queries"), ("key", "keys"), ("value", "values"))):
        with column:
            dims = [f"in {i}" for i in range(4)]
            ui.chart(matrix_figure(toy.projections[name], dims, None, f"W for {plural}", numbers=True, height=240,
                                   row_title="input dimension", column_title="dimension"), f"toy_w_{name}")
    show_steps(toy, numbers=True, prefix="toy", query=toy_query)

STATE.share(text, text=text, model=model, layer=layer, head=head, query=focus, causal=causal)
