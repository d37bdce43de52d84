"""Figures out of the app, offline: any plotly figure as PNG or SVG, a whole view as one self-contained HTML file
(plotly.js inlined, nothing fetched). Static images are drawn by Kaleido in Debian's Chromium (`CHROMIUM`, default
/usr/bin/chromium); nothing is downloaded."""
from __future__ import annotations

import html
import os
import threading
from pathlib import Path

import plotly.graph_objects as go

_KALEIDO_LOCK = threading.Lock()
_kaleido_started = False


def _chromium() -> str:
    return os.environ.get("CHROMIUM", "/usr/bin/chromium")


def images_available() -> bool:
    """Whether PNG/SVG export can run here (it needs the system Chromium)."""
    return Path(_chromium()).exists()


def _kaleido() -> None:
    """Start one Kaleido server on the system Chromium for this process (a first image ~4 s, later ones ~0.4 s)."""
    global _kaleido_started
    if _kaleido_started:
        return
    chromium = _chromium()
    if not images_available():
        raise ValueError(f"Image export needs Chromium at {chromium} (apt-get install chromium, or set CHROMIUM); "
                         "the HTML export works without it.")
    os.environ.setdefault("BROWSER_PATH", chromium)    # choreographer (Kaleido's browser driver) looks here first
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    _kaleido_started = True


def figure_image(fig: go.Figure, kind: str = "png", scale: float = 2.0) -> bytes:
    """A figure as PNG (`scale`× its size, for sharp slides) or SVG bytes."""
    if kind not in ("png", "svg"):
        raise ValueError("Images are exported as png or svg.")
    import warnings

    with _KALEIDO_LOCK:
        _kaleido()
        width = fig.layout.width or 1000
        height = fig.layout.height or 520
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                  # plotly warns that Kaleido's server ignores per-call options
            return fig.to_image(format=kind, width=width, height=height, scale=scale if kind == "png" else 1)


def view_html(figures: list[go.Figure], title: str, notes: list[str] = ()) -> str:
    """Several figures as one HTML page that opens with no network: plotly.js is inlined once (~4.7 MB), no script
    is loaded from anywhere. `title` and `notes` are user-derived text and are escaped."""
    parts = [fig.to_html(full_html=False, include_plotlyjs=index == 0, include_mathjax=False,
                         config={"displaylogo": False}) for index, fig in enumerate(figures)]
    paragraphs = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:24px;color:#1f2330}p{max-width:70em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{paragraphs}{''.join(parts)}</body></html>\n"
    )
