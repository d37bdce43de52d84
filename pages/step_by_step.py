"""Step by step: one head of the project's own engine opened up, from embeddings to the head's output."""
import numpy as np
import streamlit as st

import ui
from figures.learn import matrix_figure, softmax_row_figure, weighted_sum_figure
from attention.analyses.steps import toy_steps, trace_steps

STATE = ui.PageState("steps", ui.Sentence(), ui.Engine(), ui.Index("layer"), ui.Index("head"),
                     ui.Index("query", None, noun="query token"), ui.Flag("causal"))
STATE.load()

st.title("Step by step")
st.caption(
    "Follow one attention head through every step, with the real numbers of the engine that draws the heatmaps. "
    "Each token turns into three vectors: a **query** (the question it asks of the others), a **key** (the label it "
    "offers so that questions can find it) and a **value** (what it hands over when it is picked)."
)
ui.show_url_notices()
text, model, run = ui.learn_trace(**({"causal": True} if STATE["causal"] else {}))   # the page's one engine run
result = run.result
c1, c2, c3, c4 = st.columns([1, 1, 2, 2], vertical_alignment="bottom")
layer, head = ui.layer_and_head("steps", result, [c1, c2], head_help="Each head has its own query, key and value projections.")
focus = ui.token_picker("steps", result, c3, "Query token", "The token whose question we follow through softmax and the weighted sum.")
causal = c4.toggle("Causal mask (GPT-style)", key="steps_causal",
                   help="On: each token may only look at itself and earlier tokens, as in GPT decoders. "
                        "Off: every token sees the whole sentence, as in BERT.")


def show_steps(steps, numbers: bool, prefix: str) -> None:
    """Draw every step of `steps`; `numbers` writes each value in its cell (for the hand-sized toy)."""
    tokens, d_k = steps.tokens, steps.d_k
    chart = lambda fig, name: st.plotly_chart(fig, width="stretch", key=f"{prefix}_{name}", theme=None)  # noqa: E731
    st.subheader("1 · Embeddings: what the layer reads")
    st.caption("One row per token. In layer 0 this is the token's embedding plus its position; in later layers it is "
               "what the layers below have made of it.")
    chart(matrix_figure(steps.inputs, tokens, None, "Input vectors", numbers=numbers, column_title="dimension"), "inputs")
    st.subheader("2 · Queries, keys and values")
    st.caption(f"Three learned matrices turn each input row into a query, a key and a value of {d_k} numbers for this head.")
    for column, (name, matrix) in zip(st.columns(3), [("Queries Q: the questions", steps.queries),
                                                     ("Keys K: what each offers", steps.keys),
                                                     ("Values V: the content", steps.values)]):
        with column:
            chart(matrix_figure(matrix, tokens, None, name, numbers=numbers, column_title="dimension"), name[:6])
    st.subheader("3 · Scores: every query against every key")
    st.caption("Q·Kᵀ: a dot product per pair. Large when a key answers a query's question well.")
    chart(matrix_figure(steps.scores, tokens, tokens, "Scores = Q·Kᵀ", numbers=numbers, row_title="query"), "scores")
    st.subheader(f"4 · Divide by √d_k = √{d_k} = {np.sqrt(d_k):.3g}")
    st.caption("Dot products of long vectors get large; dividing keeps the softmax from picking one key too bluntly.")
    chart(matrix_figure(steps.scaled, tokens, tokens, "Scaled scores", numbers=numbers, row_title="query"), "scaled")
    st.subheader("5 · Mask")
    st.caption("Forbidden pairs are set to −∞ (blank cells), so softmax gives them exactly 0. " +
               ("Causal: nothing after the query may be seen." if not steps.mask.all() else "Bidirectional: nothing is hidden."))
    chart(matrix_figure(steps.masked, tokens, tokens, "Masked scores", numbers=numbers, row_title="query"), "masked")
    st.subheader("6 · Softmax: scores become weights")
    st.caption("Softmax raises e to each score and divides by the row's total: every weight is positive and the row sums to 1.")
    row = min(focus, len(tokens) - 1)
    chart(softmax_row_figure(steps, row), "softmax")
    st.caption(f"**{ui.md_escape(tokens[row])}** gives most weight to " +
               ", ".join(f"{ui.md_escape(tokens[key])} ({weight:.2f})" for key, weight in steps.strongest_keys(row)) + ".")
    st.subheader("7 · Attention weights")
    chart(matrix_figure(steps.weights, tokens, tokens, f"Attention weights · layer {steps.layer} · head {steps.head}",
                        signed=False, numbers=numbers, row_title="query (rows) attends to key (columns)"), "weights")
    st.subheader("8 · Weighted sum of values: the head's output")
    st.caption("Each token takes home a blend of the values, mixed in the proportions of its weights.")
    chart(weighted_sum_figure(steps, row), "sum")
    chart(matrix_figure(steps.output, tokens, None, "Head output (all tokens)", numbers=numbers, column_title="dimension"), "output")


sentence_tab, toy_tab = st.tabs(["Your sentence", "Toy: check it with a calculator"])
with sentence_tab:
    steps = ui.run_core("Opening the head…", trace_steps, run, layer, head)
    if steps is not None:
        gap = steps.largest_difference(result.head(layer, head))
        agreement = "identical, to the last bit" if gap == 0 else f"largest difference {gap:.1g}"
        st.success(f"The weights below are the ones attend() returns for this head ({agreement}).", icon=":material/check_circle:")
        show_steps(steps, numbers=False, prefix="sentence")
with toy_tab:
    st.caption("Four tokens, vectors of 4 whole numbers, one head with d_k = 4: dividing by √4 halves every score. "
               "The same code as above computes it. The projection matrices (input row × W gives the vector):")
    toy = toy_steps(causal)
    for column, (name, plural) in zip(st.columns(3), (("query", "queries"), ("key", "keys"), ("value", "values"))):
        with column:
            dims = [f"in {i}" for i in range(4)]
            st.plotly_chart(matrix_figure(toy.projections[name], dims, None, f"W for {plural}", numbers=True, height=240),
                            width="stretch", key=f"toy_w_{name}", theme=None)
    show_steps(toy, numbers=True, prefix="toy")

STATE.share(text, text=text, model=model, layer=layer, head=head, query=focus, causal=causal)
