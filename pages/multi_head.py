"""Multi-head: every head of a layer side by side, how their outputs are joined, what removing heads changes."""
import streamlit as st

import ui
from figures.learn import ablation_figure, concat_figure, distance_figure, matrices_grid, matrix_figure
from attention.analyses.multihead import heads_removed, listed_heads, trace_ablation, trace_layer_heads


DEFAULT_REMOVED = "0"   # the opening view already shows an ablation's effect


def read_heads(raw: str | None) -> tuple[str, str | None]:
    """A comma-separated list of head numbers from the URL (checked against the model below); absent: the default."""
    if raw is None:
        return DEFAULT_REMOVED, None
    return ",".join(part.strip() for part in raw.split(",") if part.strip().isdigit()), None


STATE = ui.PageState("heads", ui.Sentence(), ui.Engine(), ui.Index("layer"), ui.Index("head"),
                     ui.Index("query", None, noun="query token"), ui.Custom("removed", DEFAULT_REMOVED, read_heads),
                     ui.Flag("keep"), ui.Flag("shared"))
STATE.load()

st.title("Multi-head")
st.caption(
    "A layer does not attend once but several times in parallel. Each **head** has its own query, key and value "
    "projections, so each can look for something different — in BERT some heads attend to the previous or next word, "
    "to [SEP], or from direct objects to their verbs (Clark et al., 2019). Their outputs are laid side by side and mixed back into one vector by an output projection."
)
ui.show_url_notices()
text, model, run = ui.learn_trace()   # the page's one engine run; the views below read it
result = run.result
c1, c2, c3 = st.columns([1, 1, 2])
layer, head = ui.layer_and_head("heads", result, [c1, c2], "Single head", "The head shown on its own on the left.")
focus = ui.token_picker("heads", result, c3, "Token to follow", "Whose head outputs are shown being concatenated and projected.")

heads = ui.run_core("Reading every head of the layer…", trace_layer_heads, run, layer)
if heads is None:
    st.stop()
tokens = result.tokens

st.subheader("One head, or all of them")
left, right = st.columns([2, 3], gap="large")
with left:
    st.caption("A single head can only spread one set of weights over the sentence.")
    ui.chart(matrix_figure(heads.head(head), tokens, tokens, f"Layer {layer} · head {head}", signed=False,
                           row_title="query attends to key", column_title="key"), "one_head")
with right:
    shared = st.toggle("One colour scale for all heads", key="heads_shared",
                       help="Off (default): each head is coloured up to its own largest weight, so weak patterns show. "
                            "On: one 0–max scale, so heads' strengths compare directly.")
    st.caption(f"All {result.n_heads} heads of layer {layer}"
               + (" on one colour scale." if shared else ", each coloured relative to its own largest weight (hover for "
                  "the weights).") +
               " Some find patterns of their own; many are redundant — whole heads can often be removed with little loss "
               "(Michel et al., 2019; Voita et al., 2019). The similarity panel below shows which heads here look alike.")
    ui.chart(matrices_grid(list(heads.weights), [f"head {h}" for h in range(result.n_heads)], [tokens] * result.n_heads,
                           [tokens] * result.n_heads, per_row=4, height_each=230, shared=shared, label_up_to=8,
                           scale_title="weight" if shared else "weight ÷ the head's<br>largest weight"), "all_heads")

st.subheader("Concatenate, then project")
st.caption(f"Each head hands back {heads.d_head} numbers per token (its weighted sum of values). The {result.n_heads} pieces "
           f"are placed end to end ({result.n_heads} × {heads.d_head} = {result.n_heads * heads.d_head}) and one matrix (the output projection) mixes "
           "them, so what one head found can inform every dimension of the result.")
ui.chart(concat_figure(heads, focus), "concat")

st.subheader("Remove heads and measure")
st.caption("A removed head hands zeros to the concatenation; everything else runs unchanged. The numbers say how far the "
           "outputs move: 0 % means no change, 100 % means a change as large as the output itself.")
if "heads_removed_pick" not in st.session_state:
    st.session_state["heads_removed_pick"] = listed_heads(STATE["removed"], result.n_heads)
a1, a2 = st.columns([3, 1], vertical_alignment="bottom")
picked = a1.multiselect("Heads", list(range(result.n_heads)), key="heads_removed_pick", placeholder="Pick heads",
                        help="The heads to remove — or, with the switch on, the only heads to keep.")
keep = a2.toggle("Keep only these", key="heads_keep", help="On: remove every head except the picked ones (all but one, …).")
removed = heads_removed(picked, keep, result.n_heads)
ablation = ui.run_core("Removing heads and re-running the model…", trace_ablation, run, layer, removed)   # a gated trace
if ablation is not None:
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Heads removed", f"{len(removed)} of {result.n_heads}")
    m2.metric("Attention output moves", f"{ablation.attention_change:.1%}", help="The layer's attention block, after projection.")
    m3.metric("Layer output moves", f"{ablation.layer_change:.1%}", help="After the residual connection, norm and feed-forward.")
    m4.metric("Model output moves", f"{ablation.final_change:.1%}", help="The last layer's hidden states.")
    ui.chart(ablation_figure(ablation), "ablation")
    (most, most_change), (least, least_change) = ablation.most_and_least()
    st.caption(f"Removing head {most} alone moves this layer's output vectors the most, for this sentence: by "
               f"{most_change:.1%}; the least, head {least}, by {least_change:.1%}. This measures the change of hidden "
               "states, not of any task's accuracy or prediction. "
               "The residual connection carries the input past attention, so even "
               "removing every head leaves much of the layer output in place.")

st.subheader("How different are the heads?")
diversity = heads.diversity()
if diversity is not None:
    mean, low, high = diversity
    st.caption(f"For each pair of heads, how differently they spread their weights (Jensen–Shannon distance averaged over "
               f"the query tokens: 0 identical, 1 never the same tokens). Mean {mean:.2f}; most "
               f"alike: heads {low[1]} and {low[2]} ({low[0]:.2f}); most different: heads {high[1]} and {high[2]} ({high[0]:.2f}).")
ui.chart(distance_figure(heads.distances), "diversity")

STATE.share(text, text=text, model=model, layer=layer, head=head, query=focus,
            removed=None if picked == [int(DEFAULT_REMOVED)] else ",".join(map(str, picked)), keep=keep, shared=shared)
