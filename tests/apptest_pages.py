"""Opening one page of the app in Streamlit's AppTest, shared by the page tests."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from conftest import ROOT


def open_page(page: str, timeout: float = 180, **params: str) -> AppTest:
    """Run app.py with these URL parameters, switched to pages/<page>.py; fail on any exception."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for name, value in params.items():
        app.query_params[name] = value
    app.switch_page(f"pages/{page}.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app
