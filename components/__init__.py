"""Custom Streamlit components whose front-end code ships in this repository."""

from pathlib import Path

DOM_JS = (Path(__file__).resolve().parent / "dom.js").read_text(encoding="utf-8")  # element(): text-only DOM building
