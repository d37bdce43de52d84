"""Attention Lens: see every head of a transformer attend. Run: streamlit run app.py"""
import streamlit as st

st.set_page_config(page_title="Attention Lens", page_icon="assets/icon.png", layout="wide", initial_sidebar_state="expanded")

pages = [
    st.Page("pages/home.py", title="Attention heads", icon=":material/grid_view:", default=True),
]
st.navigation(pages).run()
