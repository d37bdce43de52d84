"""The views' payload encoders live in the views package (views/payloads.py), which the app's components and the
notebook and offline-file views share without importing plotly; this name keeps working."""
from views.payloads import grid_payload, head_payload, payload, pretty_tokens  # noqa: F401
