"""The Masks page's panels: translate-mini's held-out figures (drawn here, computed by attention.domains.translate_mini)."""
from __future__ import annotations

import streamlit as st


def translator_report(report: dict) -> None:
    """translate-mini's held-out exact match and cross-attention alignment against the same network untrained."""
    m1, m2, m3 = st.columns(3)
    m1.metric("Held-out exact match", f"{report['accuracy']:.1%}",
              help=f"Share of {report['examples']:,} held-out dates (never seen in training) translated exactly.")
    m2.metric("Alignment score", f"{report['trained']['score']:.0%}",
              help="Share of output digits whose cross-attention (mean over the last layer's heads) peaks inside "
                   "the source words of their field (day, month or year).")
    m3.metric("Same network, random weights", f"{report['random']['score']:.0%}",
              help=f"Chance (a peak drawn uniformly over the source tokens): {report['trained']['chance']:.0%}.")
    st.caption(
        "translate-mini is a small encoder–decoder (2 encoder layers, 1 decoder layer, 4 heads, d = 64) trained "
        "here from a fixed seed to turn dates in words into ISO dates. Each row is the decoder reading one token "
        "while it writes the next, so the row of ‘-’ writes the month's first digit. Cross-attention shows where "
        "the decoder reads: on held-out dates, the mean over the last layer's heads peaks inside the source words "
        f"that hold the digit being written (day, month or year) for {report['trained']['score']:.0%} of the "
        f"output digits; the same network with random weights: {report['random']['score']:.0%} (chance: "
        f"{report['trained']['chance']:.0%}). Exact-match accuracy on {report['examples']:,} held-out dates: "
        f"{report['accuracy']:.1%}. The circles mark each row's peak.")
