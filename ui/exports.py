"""Download buttons: figures (PNG, SVG, offline HTML) and the result's attention (NPZ, CSV, JSON)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from attention import Attention


def figure_exports(fig: Any, name: str, key: str) -> None:
    """PNG, SVG and offline HTML buttons for one plotly figure; each file is made only when its button is clicked."""
    from figures import export

    images = export.images_available()
    with st.container(horizontal=True, gap="small"):
        for kind, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
            st.download_button(kind.upper(), lambda kind=kind: export.figure_image(fig, kind), f"{name}.{kind}", mime,
                               key=f"{key}_{kind}", on_click="ignore", icon=":material/download:", disabled=not images,
                               help=None if images else "Image export needs Chromium on the server; HTML works everywhere.")
        st.download_button("HTML", lambda: export.view_html([fig], name), f"{name}.html", "text/html", key=f"{key}_html",
                           on_click="ignore", icon=":material/download:", help="One file that opens offline (plotly inlined).")


def result_exports(result: Attention, key: str, max_text_tokens: int = 128) -> None:
    """The current result (tokens, weights [layer, head, query, key], model, options) as NPZ, and as CSV and JSON
    while it is small enough for text files; each can be loaded back with attention.run.export.from_npz/from_csv/from_json."""
    from attention.run import export   # the result's files are the core's (figures.export makes the figures' files)

    with st.container(horizontal=True, gap="small"):
        st.download_button("Attention NPZ", lambda: export.to_npz(result), "attention.npz", "application/octet-stream",
                           key=f"{key}_npz", on_click="ignore", icon=":material/download:")
        small = result.n_tokens <= max_text_tokens
        hint = None if small else f"Text files are offered up to {max_text_tokens} tokens; NPZ holds any length."
        st.download_button("Attention CSV", lambda: export.to_csv(result), "attention.csv", "text/csv", key=f"{key}_csv",
                           on_click="ignore", icon=":material/download:", disabled=not small, help=hint)
        st.download_button("Attention JSON", lambda: export.to_json(result), "attention.json", "application/json",
                           key=f"{key}_json", on_click="ignore", icon=":material/download:", disabled=not small, help=hint)
