"""The Bias probe page's panels: SEAT's results, the open head's numbers and the full table (drawn here, computed by
attention.analyses.bias)."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from attention.analyses.bias import SEAT_LABELS
from ui.messages import md_escape

SEAT_NOTE = (
    "SEAT (May et al., 2019) measures the model's *output*: WEAT's effect size (Caliskan et al., 2017) between "
    "sentences with male and female names and sentences about each attribute pair, on the model's mean-pooled "
    "sentence vectors (cosine). Around ±0.2 is small, ±0.8 large; the p-value is a one-sided permutation test over "
    "the name sentences. Attention weights (left) say where heads look; SEAT says what the embeddings encode — one "
    "does not imply the other.")


def seat_panel(seats: Callable[[str], dict[str, Any]], model: str) -> None:
    """SEAT for both attribute pairs: an effect size and p-value each, or the one message why the model cannot run it."""
    st.subheader("SEAT: what the embeddings encode")
    with st.spinner("Running SEAT…"):
        found_all = seats(model)
    for message in dict.fromkeys(found for found in found_all.values() if isinstance(found, str)):
        st.warning(md_escape(message))   # one message, not one per test
    for test, found in found_all.items():
        first, second = SEAT_LABELS[test]
        if isinstance(found, str):
            continue
        verdict = "evidence of association" if found["p_value"] < 0.05 else "no evidence"
        st.metric(f"Male/female names × {first}/{second}", f"{found['effect_size']:+.2f}", help=md_escape(found["meaning"]))
        st.caption(f"p = {found['p_value']:.4f} ({verdict}); {found['sentences']['x']} + {found['sentences']['y']} name "
                   f"sentences, {found['sentences']['a']} + {found['sentences']['b']} attribute sentences, "
                   f"{found['permutations']:,} permutations.")
    st.caption(SEAT_NOTE)


def head_numbers(report: Any, layer: int, head: int) -> None:
    """The open head's shift, excess over the controls and both p-values, as four metrics."""
    h1, h2, h3, h4 = st.columns(4)
    h1.metric("Shift", f"{report.scores[layer, head]:.1%}", help="Share of the term's attention that moves under the gender swap.")
    h2.metric("Excess", f"{100 * report.excess[layer, head]:+.1f} pts",
              help="Gender swap's shift minus the control swaps' shift, in percentage points of the term's attention.")
    h3.metric("p", f"{report.p_values[layer, head]:.3f}",
              help="Two-sided sign-flip permutation test over the sentence pairs (uncorrected).")
    h4.metric("Adjusted p", f"{report.adjusted_p[layer, head]:.3f}",
              help="After Benjamini–Hochberg correction over every head; the head survives at ≤ 0.05.")


def report_table(report: Any) -> None:
    """Every sentence pair × head (the first 500 rows shown, largest shift first) and the whole table as CSV."""
    st.subheader("Table")
    frame = report.table()
    st.caption(f"{len(frame):,} rows: one per sentence pair and head, largest shift first; the CSV holds every row.")
    first = ["layer", "head", "shift"]   # the key columns stay in view; the long sentence columns scroll
    st.dataframe(frame.head(500), width="stretch", hide_index=True, height=320,
                 column_order=[*first, *(name for name in frame.columns if name not in first)],
                 column_config={"shift": st.column_config.NumberColumn(format="%.3f")})
    st.download_button("Download CSV", report.csv(), file_name="attention_bias_probe.csv", mime="text/csv",
                       icon=":material/download:",
                       help="Every row: templates, both sentences, terms, layer, head, the shift and the key that changed most.")
