"""Drawing on a page: a plotly figure as the pages show it, a layers × heads map whose cells open a head, a figure
with its export buttons, and the download button every export uses."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from ui.exports import figure_exports
from ui.widgets import open_clicked_head


def chart(fig: Any, key: str, *, slot: Any = st, theme: str | None = None, **options: Any) -> None:
    """A plotly figure at full width (`slot`: a column or container; theme None: the figure's own colours)."""
    slot.plotly_chart(fig, width="stretch", key=key, theme=theme, **options)


def head_map(fig: Any, key: str, page: str) -> None:
    """A layers × heads map (one marker per head, trace 1): clicking a head opens it in "<page>_layer"/"<page>_head"."""
    st.plotly_chart(fig, width="stretch", key=key, selection_mode="points",
                    on_select=open_clicked_head(key, f"{page}_layer", f"{page}_head"), config={"displayModeBar": False})


def chart_with_exports(fig: Any, key: str, name: str, export_key: str) -> None:
    """A figure (Streamlit's theme) followed by its PNG, SVG and HTML buttons."""
    st.plotly_chart(fig, width="stretch", key=key)
    figure_exports(fig, name, export_key)


def download(label: str, data: Callable[[], Any] | Any, file_name: str, mime: str | None = None, *, key: str | None = None,
             help: str | None = None) -> None:
    """A download button whose file is made only when clicked (a callable `data`), without rerunning the page."""
    st.download_button(label, data, file_name, mime, key=key, on_click="ignore", icon=":material/download:", help=help)
