"""Attention Lens: see every head of a transformer attend. Run: streamlit run app.py"""
import streamlit as st

st.set_page_config(page_title="Attention Lens", page_icon="assets/icon.png", layout="wide", initial_sidebar_state="expanded")

# Page titles are a contract (links and docs name them); each page keeps its own state in the URL.
pages = {
    "Inspect": [
        st.Page("pages/home.py", title="Attention heads", icon=":material/grid_view:", default=True),
    ],
    "Learn": [
    ],
}
st.navigation({section: entries for section, entries in pages.items() if entries}).run()
