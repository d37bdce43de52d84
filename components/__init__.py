"""Custom Streamlit components whose front-end code ships in this repository."""
