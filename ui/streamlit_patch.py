"""The one place the app touches a Streamlit internal (streamlit.runtime.pages_manager.PagesManager).

Why: on a fresh server, a first visit straight to a page URL (e.g. a share link to /step_by_step) makes Streamlit
run that file from pages/ alone, in its older "pages directory" mode, without app.py's navigation and page set-up
(st.set_page_config, the sidebar sections, the deployment note). Leaving that mode at once and running again sends
the visit through app.py like every other. If a Streamlit release renames the flag, `leave_pages_directory_mode`
does nothing (tests/test_ui_streamlit_patch.py says so first) instead of breaking the page.
"""
from __future__ import annotations

import streamlit as st


def leave_pages_directory_mode() -> None:
    """Switch Streamlit out of its pages-directory mode and rerun through app.py (nothing to do in the usual case)."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()   # inside a script run this raises RerunException: the rest of this run is skipped
