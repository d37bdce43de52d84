"""The views: each view's one JavaScript source and its payload encoder, with no Streamlit import.

Used by the app's Streamlit components (components/, which mount these scripts) and by the notebook views and the
offline HTML file (views/standalone.py, which inlines the same scripts). Layers: pages → ui → figures → components →
views → attention. The core draws nothing and never imports this package: importing it registers the notebook view
and the file export with attention/run/display.py (which finds it through the `attention_lens.views` entry point when
only `attention` was imported).
"""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent


def asset(name: str) -> str:
    """The text of one of the views' script or style files, e.g. asset("heatmap/heatmap.js")."""
    return (ASSETS / name).read_text(encoding="utf-8")


DOM_JS = asset("dom.js")  # element(): text-only DOM building

from views import standalone as _standalone  # noqa: E402  (registers show and write_file with the core)

_standalone.register()
