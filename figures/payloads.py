"""The component payload encoders now live beside the components that read them (components/payloads.py), so the
notebook and offline-file views can use them without importing plotly; this name keeps working."""
from components.payloads import grid_payload, head_payload, payload, pretty_tokens  # noqa: F401
