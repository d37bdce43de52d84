"""ui/run.py's helpers for running the core from a page: a demo model trained once under a progress bar, a long run
with progress, and a user's error shown as a message (never a traceback)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _demo_page() -> None:
    from types import SimpleNamespace

    import streamlit as st

    import ui

    calls = []

    def load_or_train(progress=None):
        calls.append(progress is not None)
        if progress is not None:
            progress(0.5, "halfway")
            progress(1.7, "done")                      # past the end: the bar is clamped, not an error
        return SimpleNamespace(notices=["The saved demo could not be read, so it was trained again."])

    cached = st.session_state.get("cached", False)
    trained = ui.load_demo(load_or_train, cached, "Training the demo…", lambda message: f"Demo: {message}")

    def probe(items, progress):
        for done in range(1, len(items) + 1):
            progress(done, len(items))
        if "bad" in items:
            raise ValueError("A bad item: <b>kept as text</b>.")
        return len(items)

    items = st.session_state.get("items", ["a", "b"])
    counted = ui.run_with_progress("Probing…", probe, items, step=lambda done, total: f"{done} of {total}")
    quick = ui.run_core(None, int, st.session_state.get("number", "4"))
    st.write(f"trained={trained is not None} calls={calls} counted={counted} quick={quick}")


def test_load_demo_trains_with_progress_once_then_loads_and_shows_its_notices():
    app = AppTest.from_function(_demo_page, default_timeout=60)
    app.run()
    assert not app.exception
    assert app.markdown[0].value == "trained=True calls=[True] counted=2 quick=4"
    assert any("trained again" in w.value for w in app.warning)
    assert not app.get("progress")                    # both bars are gone once their work ends
    app.session_state["cached"] = True
    app.run()
    assert app.markdown[0].value == "trained=True calls=[False] counted=2 quick=4"   # cached: loaded, no bar


def test_a_users_error_becomes_a_message_and_none():
    app = AppTest.from_function(_demo_page, default_timeout=60)
    app.session_state["items"] = ["a", "bad"]
    app.session_state["number"] = "four"
    app.run()
    assert not app.exception
    assert app.markdown[0].value == "trained=True calls=[True] counted=None quick=None"
    errors = " ".join(e.value for e in app.error)
    assert "A bad item" in errors and "<b>" not in errors.replace("\\<b\\>", "")   # escaped for Markdown
    assert "invalid literal" in errors
    assert not app.get("progress")
