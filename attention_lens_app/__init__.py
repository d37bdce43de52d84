"""The app's own files as a package, so that a wheel carries them: app.py, pages/, assets/ and .streamlit/config.toml.

In the repository these are symbolic links to the top-level files (one copy of each; `streamlit run app.py` and the
Docker image use the top-level ones); building a wheel copies what they point to. `attention-lens run` starts the
app.py it finds here: in a checkout that resolves to the repository's own, in an installed wheel to the copy.
"""
