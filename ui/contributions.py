"""The Contributions page's panels: the target's inputs, the heads, the faithfulness test (drawn here, computed by
attention.analyses.contributions)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import streamlit as st

from attention.analyses.contributions import Explanation, head_views, saved_figures, target_tokens
from figures.contributions import (faithfulness_curves, faithfulness_table, head_effect_maps, head_view_pair,
                                   known_answer_table)
from ui.messages import md_escape, warn
from ui.run import run_core
from ui.views import chart, head_map

TEXT_B = "The animal didn't cross the street because it was too wide."
DATE_SOURCE, DATE_PREFIX = "the third of march, twenty twenty-one", "2021-03-0"   # translate-mini's example
CONTRIB_TOKENS = 64   # tokens read per sentence: every method runs the model tens to hundreds of times
TARGET_NAMES = {"similarity": "Similarity of two sentences", "token": "One token's output",
                "next_token": "Next-token logit (decoders, encoder–decoders)"}
TARGET_HELP = ("Similarity: the cosine similarity of the two sentences' mean-pooled embeddings (how sentence-transformers "
               "pools all-MiniLM-L6-v2). One token's output: the norm of its output vector. Next-token logit: for "
               "decoders, the logit of the predicted next token; for encoder–decoders (translate-mini), the logit of the "
               "predicted next output token given the source and the output so far.")
REMOVAL_HELP = ("How the test takes tokens away: deleted from the sequence, or replaced by [MASK] or [PAD]. The default is "
                "the one that moves the target least when the token every method ranks last goes (measured over the "
                "bench's sentence pairs): a removal that moves the target by itself measures the probe, not the method.")


def _use_date_example() -> None:
    st.session_state["text"], st.session_state["contrib_text_b"] = DATE_SOURCE, DATE_PREFIX


def target_inputs(slot: Any, target: str, encoder_decoder: bool, text: str, model: str,
                  clamp: Callable[[str, int], None]) -> tuple[str | None, int | None]:
    """The second input the target needs, in `slot`: sentence B, the output so far, or the token; (text_b, token)."""
    if target == "similarity":
        return slot.text_area("Sentence B", key="contrib_text_b", height=90,
                              help="The second sentence; both sentences' tokens get scores."), None
    if encoder_decoder:
        if st.session_state.get("contrib_text_b") == TEXT_B:              # the similarity default is no output of this model
            st.session_state["contrib_text_b"] = ""
        text_b = slot.text_input("Output so far", key="contrib_text_b",
                                 help="What the decoder has written: it reads its start token, then these tokens, and the "
                                      "target is the logit of the token it predicts next. Empty: the first output token.")
        slot.button("Date example", on_click=_use_date_example, key="contrib_date_example",
                    help=f"Source ‘{DATE_SOURCE}’, output so far ‘{DATE_PREFIX}’ (translate-mini turns dates in words "
                         "into ISO dates).")
        return text_b, None
    if target == "token":
        tokens = run_core("Reading the tokens…", target_tokens, text, model, CONTRIB_TOKENS)
        if tokens:
            clamp("token", len(tokens))
            return None, slot.selectbox("Token", range(len(tokens)), key="contrib_token",
                                        format_func=lambda i: f"{i} · {tokens[i]}",
                                        help="The token whose output vector's norm is the target.")
    return None, None


def heads_panel(found: Explanation, text: str, model: str, text_b: str | None, encoder_decoder: bool,
                clamp: Callable[[str, int], None]) -> tuple[int, int]:
    """The head-removed and mean-ablated maps, the open head's numbers and its weights beside ‖α·f(x)‖; (layer, head)."""
    st.subheader("Heads: what the target loses without each")
    st.caption("Left: target − target with the head removed (its output set to 0). Right: target − target with the "
               "head's output replaced by its mean over tokens (it still writes, but no longer depends on which token "
               "asks). Red: the head raised the target. Click a head to open it below."
               + (" Rows: the encoder's layers, then the decoder's self-attention layers, then its cross-attention "
                  "layers (blank where a stack has fewer heads)." if encoder_decoder else ""))
    layers, heads = found.head_importance.shape
    rows = found.layer_names
    clamp("layer", layers)
    clamp("head", heads)
    for column, figure, key in zip(st.columns(2), head_effect_maps(found), ("contrib_removed", "contrib_mean")):
        with column:
            head_map(figure, key, "contrib")
    h1, h2, h3 = st.columns([1, 1, 4], vertical_alignment="bottom")
    layer = h1.selectbox("Layer", range(layers), key="contrib_layer",
                         format_func=lambda l: str(l) if rows[l] == f"layer {l}" else f"{l} · {rows[l]}")
    head = h2.selectbox("Head", range(heads), key="contrib_head")
    name = found.head_name(layer, head)
    if np.isfinite(found.head_importance[layer, head]):
        h3.markdown(f"Removing {name} changes the target by **{-found.head_importance[layer, head]:+.5f}**; "
                    f"mean-ablating it by **{-found.head_mean_ablation[layer, head]:+.5f}**.")
    else:
        h3.markdown(f"{md_escape(name)}: no such head, or head removal is not available for this model.")
    view = run_core("Reading the head…", head_views, text, model, layer, head, CONTRIB_TOKENS,
                    text_b if encoder_decoder else None)
    if view is not None:
        chart(head_view_pair(view), "contrib_head_pair", theme="streamlit")
        st.caption(("Cross-attention: decoder queries × source keys. " if "cross" in view.title else "")
                   + ("Where the head looks (left) and how much each key's value actually moves through it, ‖α·f(x)‖ "
                      "(right; Kobayashi et al., 2020): a large weight on a small vector moves little."
                      if view.norms is not None else "Where the head looks (value-weighted norms need the project's engine)."))
    return layer, head


def faithfulness_panel(found: Explanation) -> None:
    """The faithfulness test on this input, per direction, beside the known-answer shares measured over many cases."""
    st.subheader("Which method is faithful: this input, and cases with a known answer")
    st.caption(
        f"Tokens are taken away in each method's order ({md_escape(found.replacement)}) and the target measured again, "
        "at 10%, 20%, … 90% of the explained tokens (never all of them). "
        + ("Each sentence is explained while the other stays whole. " if found.directions == ["A", "B"] else "")
        + "**Comprehensiveness − random**: how much more the target drops when the method's top tokens go than when "
        "random ones do (AOPC, DeYoung et al., 2020; ± the standard deviation over 10 random shuffles: a difference "
        "inside it is not better than random). **Sufficiency − random**: the same when only the top tokens are kept "
        "(lower is better). **τ with LOO**: Kendall's rank agreement with each token's own removal effect (as ferret "
        "does). Attention, rollout, value norms and ALTI have no sign, so for them only τ with |LOO| fits; the "
        "gradient methods are signed and scored both ways.")
    for direction in found.directions:                                      # full width: two subplots each
        chart(faithfulness_curves(found, direction), f"contrib_curves_{direction}", theme="streamlit")
    for column, direction in zip(st.columns(len(found.directions)), found.directions):
        column.caption({"A": "Sentence A explained (B whole)", "B": "Sentence B explained (A whole)"}.get(direction, ""))
        column.dataframe(faithfulness_table(found, direction), hide_index=True, width="stretch")
    best = found.most_comprehensive()
    random = found.faithfulness["random"]
    st.markdown(f"On this input, **{best['method']}** has the highest comprehensiveness "
                f"({best['comprehensiveness_vs_random']:+.4f} above random, whose spread is "
                f"{random['comprehensiveness_spread']:.4f}). One input is not a verdict on a method.")
    saved = saved_figures()
    if saved:
        st.markdown("**Known answers** (measured once by bench/bench_contributions.py): the share of cases where the "
                    "token known to decide the target ranks first — translate-mini: the day words for the day's last "
                    "digit; minimal pairs: the swapped word for MiniLM's similarity (each sentence explained with the "
                    "other whole); induction-mini: the token after the earlier copy. Beside them, comprehensiveness − "
                    f"random over {saved['pairs']} sentence pairs (mean ± 95% interval), removal: {saved['removal']}.")
        st.dataframe(known_answer_table(saved, found.methods), hide_index=True, width="stretch")
    else:
        warn("The known-answer figures have not been measured here (bench/bench_contributions.py --save).")
