"""Attention Lens: see every head of a transformer attend. Run: streamlit run app.py"""
import streamlit as st

st.set_page_config(page_title="Attention Lens", page_icon="assets/icon.png", layout="wide", initial_sidebar_state="expanded")

# Page titles are a contract (links and docs name them); each page keeps its own state in the URL.
pages = {
    "Inspect": [
        st.Page("pages/home.py", title="Attention heads", icon=":material/grid_view:", default=True),
        st.Page("pages/token_links.py", title="Token links", icon=":material/conversion_path:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/bias_probe.py", title="Bias probe", icon=":material/balance:"),
        st.Page("pages/head_stats.py", title="Head stats", icon=":material/query_stats:"),
        st.Page("pages/contributions.py", title="Contributions", icon=":material/account_tree:"),
        st.Page("pages/patching.py", title="Patching", icon=":material/swap_horiz:"),
    ],
    "Learn": [
        st.Page("pages/step_by_step.py", title="Step by step", icon=":material/stairs:"),
        st.Page("pages/multi_head.py", title="Multi-head", icon=":material/view_column:"),
        st.Page("pages/positions.py", title="Positions", icon=":material/format_list_numbered:"),
        st.Page("pages/masks.py", title="Masks & attention kinds", icon=":material/visibility_off:"),
        st.Page("pages/generation.py", title="Generation", icon=":material/edit_note:"),
        st.Page("pages/induction_heads.py", title="Induction heads", icon=":material/repeat:"),
        st.Page("pages/efficient_attention.py", title="Efficient attention", icon=":material/speed:"),
    ],
    "Domains": [
        st.Page("pages/images.py", title="Images", icon=":material/image:"),
        st.Page("pages/time_series.py", title="Time series", icon=":material/show_chart:"),
    ],
}
page = st.navigation({section: entries for section, entries in pages.items() if entries})  # the sidebar, at once
with st.spinner("Starting Attention Lens: loading PyTorch and transformers (the first visit after a restart)…"):
    import ui  # noqa: E402  (after the navigation: a fresh server's first visit sees its sidebar while torch loads)

ui.deployment_note()
page.run()
