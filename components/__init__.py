"""Custom Streamlit components whose front-end code ships in this repository."""

from views import DOM_JS  # noqa: F401  (element(): text-only DOM building; the views package holds every script)
