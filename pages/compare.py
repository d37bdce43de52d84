"""Compare: two sentences on one model, or one sentence on two models, head by head, with A − B."""
import streamlit as st

import ui
from attention.analyses.compare import align, common_shape, difference, head_differences, head_names, notices
from figures.inspect import layer_head_map, paired_heads_figure
from components.heatmap import head_view
from attention.analyses.links import MERGE_RULE

MODES = {"sentences": "Two sentences, one model", "models": "One sentence, two models"}
TEXT_B = "The animal didn't cross the street because it was too wide."

STATE = ui.PageState("compare", ui.Sentence(), ui.Model(), ui.Choice("mode", tuple(MODES)), ui.Sentence("text_b", TEXT_B),
                     ui.Model("model_b", "scratch:minilm"), ui.Index("layer"), ui.Index("head"), ui.Param("heads", ""),
                     ui.Flag("words"))
STATE.load()

BIDIRECTIONAL_VS_CAUSAL = (
    "Model A: MiniLM (all-MiniLM-L6-v2), a BERT-style encoder that starts from MiniLM-L6-H384, distilled from a larger "
    "model's self-attention (Wang et al., 2020) rather than trained with a masked-language-model loss, then trained "
    "for sentence embeddings; it reads the whole sentence, so every token attends both ways. Model B: gpt-mini, a small GPT-style decoder trained here to "
    "predict the next token, so its causal mask lets each token attend only to itself and earlier tokens: the upper "
    "triangle of its heatmaps is exactly 0. Both read MiniLM's word pieces, so the sentence's tokens align one to one. "
    "gpt-mini trains on first use (a few minutes), then is kept on disk."
)


def _bidirectional_vs_causal() -> None:
    """One click: MiniLM as A and gpt-mini as B, on the same sentence."""
    st.session_state["model"], st.session_state["compare_model_b"] = "minilm", "gpt-mini"
    for key in ("_model_choice", "_compare_model_b_choice", "_model_custom", "_compare_model_b_custom"):
        st.session_state.pop(key, None)


st.title("Compare")
st.caption(
    "Put two attention patterns next to each other: a sentence and a variant of it (a swapped word), or one sentence "
    "read by two models. Tokens both share are aligned, and the difference **A − B** shows where they attend differently."
)
ui.show_url_notices()

mode = st.radio("What to compare", list(MODES), format_func=MODES.get, key="compare_mode", horizontal=True,
                help="Two sentences: the same model reads sentence A and sentence B. "
                     "Two models: model A and model B read the same sentence.")
if mode == "sentences":
    text, model = ui.text_and_model("Sentence A")
    text_b = st.text_area("Sentence B", key="compare_text_b", height=70,
                          help="A variant of sentence A, e.g. with one word swapped. Shared tokens are aligned in order; "
                               "a run of tokens swapped for a run of the same length is paired too (shown as a/b).")
    model_b = model
else:
    text, model = ui.text_and_model("Text")
    text_b = text
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    with right:
        model_b = ui.model_picker(key="compare_model_b", label="Model B")
    left.button("MiniLM (sees both ways) beside gpt-mini (sees only the past)", key="compare_bert_gpt",
                on_click=_bidirectional_vs_causal, icon=":material/compare_arrows:",
                help=BIDIRECTIONAL_VS_CAUSAL)
words = st.toggle("Merge word pieces into words", key="compare_words",
                  help=MERGE_RULE + " Words also align across models whose tokenizers split words differently.")

result_a = ui.run_attend(text, model)
result_b = ui.run_attend(text_b, model_b)
params = {"text": text, "model": model, "mode": mode}
params.update({"text_b": text_b} if mode == "sentences" else {"model_b": model_b})
if result_a is None or result_b is None:
    ui.stop_with_share(params, text)
if words:
    try:
        result_a, result_b = result_a.by_word(), result_b.by_word()
    except ValueError as error:
        ui.warn(str(error))

names = ("A", "B")
alignment = align(result_a.tokens, result_b.tokens)
layers, heads = common_shape(result_a, result_b)
for notice in notices(result_a, result_b, alignment):
    ui.warn(notice)
STATE.clamp("layer", layers)
STATE.clamp("head", heads)


label_a = "A" if mode == "models" else "Sentence A"
label_b = "B" if mode == "models" else "Sentence B"
title_a = f"{label_a} ({model})" if mode == "models" else label_a
title_b = f"{label_b} ({model_b})" if mode == "models" else label_b


def _open(layer: int, head: int) -> None:
    STATE["layer"], STATE["head"] = min(layer, layers - 1), min(head, heads - 1)


@st.fragment
def head_panel() -> None:
    """A's and B's head side by side and A − B, with their Layer and Head boxes (drawn by the heatmap component). A
    fragment: a change is drawn by the browser at once from the heads it holds (A − B computed there), then only
    this view reruns on the server (the numbers above it, the URL)."""
    layer, head = STATE["layer"], STATE["head"]
    found = difference(result_a, result_b, alignment, layer, head)
    query, key, largest = found.largest
    st.markdown(
        f"Layer {layer} · Head {head}: **{len(alignment)}** aligned tokens ({len(alignment) - alignment.shared} swapped) · "
        f"mean |A − B| **{found.mean_abs:.4f}** · largest: query ‘{ui.md_escape(query)}’ → key ‘{ui.md_escape(key)}’ "
        f"**{largest:+.3f}**"
    )
    head_view(result_a, layer, head, key="compare_view", on_open=_open, pickers=(layers, heads),
              pair={"result": result_b, "alignment": alignment, "title_a": title_a, "title_b": title_b})
    st.caption("A and B share one colour scale. A − B: red where A attends more, blue where B does, white where they "
               "agree (the scale spans at least ±0.02).")
    if st.session_state.get("_compare_fragment_run"):   # a rerun of this view alone: the URL follows it here
        STATE.link(**params, layer=layer, head=head, heads=STATE["heads"] or None, words=words)
    st.session_state["_compare_fragment_run"] = True


st.session_state["_compare_fragment_run"] = False
head_panel()

st.subheader("Where A and B differ, head by head")
st.caption("Mean |A − B| over aligned tokens for every head both have. Click a cell to open that head above.")
ui.head_map(layer_head_map(head_differences(result_a, result_b, alignment), "", "mean |A − B|", percent=False),
            "compare_map", "compare")

st.subheader("More heads side by side")
pairs = head_names(layers, heads)
if "compare_heads_pick" not in st.session_state:
    st.session_state["compare_heads_pick"] = [p for p in str(STATE["heads"] or "").split(",") if p in pairs]
chosen = st.multiselect("Heads", list(pairs), key="compare_heads_pick", max_selections=4, placeholder="Pick heads to draw for A and B",
                        help="Each chosen head is drawn for A (top row) and B (bottom row), all on one colour scale.")
STATE["heads"] = ",".join(chosen)
if chosen:
    st.plotly_chart(paired_heads_figure(result_a, result_b, {name: pairs[name] for name in chosen}, (label_a, label_b)),
                    width="stretch", key="compare_more")

STATE.share(text, **params, layer=STATE["layer"], head=STATE["head"], heads=",".join(chosen) or None, words=words)
