"""Head stats: where each head looks, in numbers, over one sentence or a corpus; rollout, flow, head similarity; exports."""
import streamlit as st

import ui
from attention import attend
from attention.analyses import corpus
from attention.run import limits
from attention.run.cache import memoized
from figures.export import view_html
from figures import head_heatmap
from figures.stats import rollout_flow_figure, similarity_heatmap, stat_grid, stat_spread
from ui.stats import SOURCES, corpus_sentences, stat_help, stats_downloads
from components.heatmap import head_view
from attention.analyses.stats import FLOW_MAX_TOKENS, PATTERN_RULE, STATS, Overview, overview, pattern_counts

MODES = {"sentence": "One sentence", "corpus": "A corpus"}
CHOICES = (*STATS, "pattern")

STATE = ui.PageState("stats", ui.Sentence(), ui.Model(), ui.Choice("mode", tuple(MODES)), ui.Choice("stat", CHOICES),
                     ui.Index("layer"), ui.Index("head"), ui.Index("sentence"))
STATE.load()

st.title("Head stats")
st.caption(
    "Where each head looks, in numbers: the **entropy** of its rows (low: it looks at one token; high: it spreads out), "
    "how far it looks, how much it rests on [CLS], [SEP], itself, its neighbours or punctuation, and its pattern type. "
    "These statistics describe where a head's weights go, not what the head does for the model: a head resting on "
    "[SEP] may be doing little at all (Clark et al., 2019), and what it contributes is measured on the Contributions page. "
    "Over one sentence or a whole corpus; with attention rollout and flow across layers and how alike the heads are."
)
ui.show_url_notices()
mode = st.radio("Read", list(MODES), format_func=MODES.get, key="stats_mode", horizontal=True)
params = {"mode": mode}


@memoized("sentence-overviews", max_items=32)
def sentence_views(text: str, model: str, deployment: limits.Limits) -> Overview:
    """Statistics, rollout and head distances of one sentence (flow only up to FLOW_MAX_TOKENS tokens)."""
    return overview(attend(text, model))


table = None
if mode == "sentence":
    text, model = ui.text_and_model()
    params.update(text=text, model=model)
    result = ui.run_attend(text, model)
    if result is None:
        ui.stop_with_share(params, text)
else:
    left, right = st.columns([3, 1])
    source = left.radio("Corpus", list(SOURCES), format_func=SOURCES.get, key="stats_source", horizontal=True)
    with right:
        model = ui.model_picker()
    params["model"] = model
    sentences = corpus_sentences(left, source, params)
    table = ui.run_with_progress(f"Reading {len(sentences)} sentences…", corpus.run, sentences, model,
                                 step=lambda done, total: f"{done}/{total} sentences")
    if table is None:
        ui.stop_with_share(params, "")
    values, pattern = corpus.summary(table)
    STATE.clamp("sentence", len(sentences))
    pick = st.selectbox("Sentence to open heads on", range(len(sentences)), key="stats_sentence",
                        format_func=lambda i: f"{i} · {sentences[i][:90]}")
    text = sentences[pick]
    params["sentence"] = pick
    result = ui.run_attend(text, model)
    if result is None:
        ui.stop_with_share(params, "")
    st.caption(f"Means over **{table['sentence'].nunique():,}** sentences · {model} · "
               f"{result.n_layers} layers × {result.n_heads} heads; the pattern is each head's most frequent type.")

views = sentence_views(text, model, limits.current())
if table is None:
    values, pattern = views.stats.values, views.stats.pattern
STATE.clamp("layer", result.n_layers)
STATE.clamp("head", result.n_heads)
c1, _ = st.columns([2, 2])   # the Layer and Head boxes are the head view's own (drawn by the heatmap component)
# options show their short names (long ones were cut off in the box); what each one means is in the help
stat = c1.selectbox("Colour the heads by", CHOICES, key="stats_stat", help=stat_help())
layer, head = STATE["layer"], STATE["head"]
params.update(stat=stat)
figures = {}
opened = {"head": (layer, head)}   # the head on screen, kept by the head view's fragment for the HTML export below


def _open(chosen_layer: int, chosen_head: int) -> None:
    STATE["layer"], STATE["head"] = chosen_layer, chosen_head


@st.fragment
def head_panel() -> None:
    """The chosen head (canvas heatmap with its own Layer and Head boxes), its numbers and its exports. A fragment: a
    change is drawn by the browser at once from the heads it holds, then only this view reruns (numbers, URL)."""
    layer, head = STATE["layer"], STATE["head"]
    opened["head"] = (layer, head)
    head_view(result, layer, head, key="stats_view", on_open=_open, pickers=(result.n_layers, result.n_heads))
    numbers = " · ".join(f"{name} **{values[name][layer, head]:.{'1%' if STATS[name][1] else '2f'}}**" for name in STATS)
    st.caption(f"Layer {layer} · Head {head} ({'corpus mean' if table is not None else 'this sentence'}): {numbers} · "
               f"pattern **{pattern[layer, head]}**")
    ui.figure_exports(head_heatmap(result, layer, head, height=520), f"head-L{layer}-H{head}", "export_head")
    if st.session_state.get("_stats_fragment_run"):   # a rerun of this view alone: the URL follows it here
        STATE.link(**params, layer=layer, head=head)
    st.session_state["_stats_fragment_run"] = True


grid_col, head_col = st.columns([1, 1], gap="large")
with grid_col:
    where = "over the corpus" if table is not None else "of this sentence"
    figures["grid"] = stat_grid(values, pattern, stat, f"Every head {where}: {stat}", (layer, head))
    ui.head_map(figures["grid"], "stats_grid", "stats")
    ui.figure_exports(figures["grid"], "head-stats-grid", "export_grid")
with head_col:
    st.session_state["_stats_fragment_run"] = False
    head_panel()

if table is not None:
    figures["spread"] = stat_spread(table, stat if stat in STATS else "entropy", layer, head)
    ui.chart_with_exports(figures["spread"], "stats_spread", f"spread-L{layer}-H{head}", "export_spread")

with st.expander("Pattern types: the rule", expanded=False):
    st.markdown(PATTERN_RULE)
    st.markdown(" · ".join(f"{name}: **{count}**" for name, count in pattern_counts(pattern).items()))

st.subheader("Rollout and flow: attention weights carried through the layers")
st.caption(
    "Abnar & Zuidema (2020): heads averaged per layer, the residual added as half attention to oneself. **Rollout** "
    "multiplies these layer by layer; **flow** is the maximum flow from each top position to each input token, the weights "
    f"as capacities (up to {FLOW_MAX_TOKENS} tokens). Weights alone (no values, norms or MLPs): a heuristic, not a measurement."
)
if views.flow is None:
    ui.warn(f"This text has {result.n_tokens} tokens; attention flow is computed up to {FLOW_MAX_TOKENS}.")
figures["flow"] = rollout_flow_figure(result.tokens, views.rollout, views.flow)
ui.chart_with_exports(figures["flow"], "stats_flow", "rollout-flow", "export_flow")

st.subheader("Head similarity")
st.caption("Jensen–Shannon distance between every pair of heads (0: they attend alike; 1: to disjoint tokens), "
           "mean over query tokens, ordered by hierarchical clustering so alike heads form dark blocks.")
figures["similarity"] = similarity_heatmap(views.distances, views.order, result.n_heads)
ui.chart_with_exports(figures["similarity"], "stats_similarity", "head-similarity", "export_similarity")

def view_figures() -> list:
    """Every figure of the page as it is now, the open head included (built when the file is asked for)."""
    return [*figures.values(), head_heatmap(result, *opened["head"], height=520)]   # no session here: the export runs later


st.subheader("Export")
ui.result_exports(result, "export_result")
stats_downloads(table if table is not None else views.stats.rows(), table,
                lambda: view_html(view_figures(), f"Head stats · {model}", [text]))
STATE.share(text if mode == "sentence" else "", **params, layer=STATE["layer"], head=STATE["head"])
