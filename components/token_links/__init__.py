"""The token-link view as a Streamlit custom component (v2).

Its JavaScript and CSS ship in views/token_links/ and are read once at import: no CDN, nothing fetched, works
offline. Python hands it `views.payloads.payload(...)` as JSON; tokens are inserted with textContent.
"""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from views import DOM_JS, asset



def lean(script: str) -> str:
    """The script without its comment-only lines and indentation (it has no multi-line strings): Streamlit sends an
    inline component's script with every rerun of the view that holds it, so each layer change or toggle carries it."""
    return "\n".join(line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("//"))


_MOUNT = st.components.v2.component(
    "token_links",
    js=lean(DOM_JS + asset("token_links/token_links.js")),
    css=asset("token_links/token_links.css"),
)


def token_links(data: dict[str, Any], key: str, on_change: Callable[[], None] = lambda: None,
                on_prefetch: Callable[[], None] = lambda: None, on_missing: Callable[[], None] = lambda: None,
                on_layer: Callable[[], None] = lambda: None) -> Any:
    """Draw the links; returns the component's state: `heads` (indices switched on) and `pin` ("q3", "k5" or None).
    With `view` and `slot` in `data` (see links_view) the browser keeps what it received: `on_prefetch` when it asks for
    the other layers, `on_missing` when a referenced layer is not in its store, `on_layer` when its own Layer box
    changed (`st.session_state[key].layer`; a held layer is already drawn)."""
    return _MOUNT(
        key=key, data=data, default={"heads": data["shown"], "pin": data["pin"]},
        on_heads_change=on_change, on_pin_change=on_change, on_prefetch_change=on_prefetch, on_missing_change=on_missing,
        on_layer_change=on_layer,
    )


def links_view(view: str, slot: str, full: dict[str, Any], held: set, prefetched: list[dict[str, Any]] | None = None,
               more: bool = False, layer: int | None = None, slots: list[str] | None = None) -> dict[str, Any]:
    """The payload for the app: the links of `slot` (layer|threshold|mode) only when the browser does not hold them
    (`held`: slots it holds for this result `view`), the tokens only with the first, plus `prefetched` slots. With
    `layer` and `slots` (every layer's slot, in order) the component draws its own Layer box."""
    data = {"view": view, "slot": slot, "shown": full["shown"], "pin": full["pin"], "threshold": full["threshold"],
            "more": more}
    if layer is not None and slots:
        data.update(layer=int(layer), layers=len(slots), slots=list(slots))
    if slot not in held:
        data.update(full)
    if not held:
        data["tokens"] = full["tokens"]
    else:
        data.pop("tokens", None)
    if prefetched:
        data["prefetch"] = [{key: value for key, value in item.items() if key != "tokens"} for item in prefetched]
    return data
