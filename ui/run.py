"""Running the core from a page: a spinner while it works, notices shown, and a user's error (ValueError) shown as a
message on the page instead of a traceback."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, TypeVar

import streamlit as st

from attention import Attention, attend
from attention.run.trace import Trace, trace
from ui.messages import md_escape, warn
from ui.state import sync_url
from ui.widgets import engine_picker, share_box, text_and_model

R = TypeVar("R")
LEARN_TOKENS = 128  # the Learn pages read this many tokens: every step stays legible and the page light (~1 MB)


def run_attend(text: str, model: str, spinner_slot: Any = None, **options: Any) -> Attention | None:
    """attend() with a spinner (in `spinner_slot`, an st.empty(), when given: the slot's next content takes its
    place without a gap); a user error becomes a message on the page and None."""
    try:
        with spinner_slot or contextlib.nullcontext(), st.spinner(f"Running {model[:60]} (the first run loads the model)…"):
            result = attend(text, model, **options)
    except ValueError as error:
        st.error(md_escape(str(error)))
        return None
    for notice in result.notices:
        warn(notice)
    return result


def run_trace(text: str, model: str, **options: Any) -> Trace | None:
    """trace(): one instrumented pass of the project's engine, with a spinner; notices shown; a user error becomes a
    message on the page and None. Traces are cached, so a rerun with the same text and options costs nothing."""
    try:
        with st.spinner(f"Running {model[:60]} (the first run loads the model)…"):
            run = trace(text, model, **options)
    except ValueError as error:
        st.error(md_escape(str(error)))
        return None
    for notice in run.notices:
        warn(notice)
    return run


def run_core(label: str | None, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any | None:
    """A core computation with a spinner (none when `label` is None: a quick check); a user error becomes a message on
    the page and None."""
    try:
        with st.spinner(label) if label is not None else contextlib.nullcontext():
            return function(*args, **kwargs)
    except ValueError as error:
        st.error(md_escape(str(error)))
        return None


def run_with_progress(text: str, function: Callable[..., R], *args: Any, step: Callable[[int, int], str],
                      **kwargs: Any) -> R | None:
    """function(*args, progress=(done, total) -> None, **kwargs) under a progress bar (`text` first, then `step(done,
    total)`), removed when it ends; a user error becomes a message on the page and None."""
    bar = st.progress(0.0, text=text)
    try:
        return function(*args, progress=lambda done, total: bar.progress(done / total, text=step(done, total)), **kwargs)
    except ValueError as error:
        st.error(md_escape(str(error)))
        return None
    finally:
        bar.empty()


def load_demo(load_or_train: Callable[..., R], cached: bool, training: str, step: Callable[[str], str] = str,
              spinner: str | None = None) -> R | None:
    """A demo model trained here once per machine (gpt-mini, translate-mini, the ViT, the time-series models): loaded
    when `cached`, else trained now under a progress bar (`training` its first text, `step(message)` each report),
    with a spinner when `spinner` is given. Its notices (a damaged cache trained again) are shown."""
    if cached:
        trained = load_or_train()
    else:
        bar = st.progress(0.0, text=training)
        report = lambda fraction, message="": bar.progress(min(max(float(fraction), 0.0), 1.0), text=step(message))  # noqa: E731
        trained = run_core(spinner, load_or_train, progress=report)
        bar.empty()
    for notice in getattr(trained, "notices", ()):
        warn(notice)
    return trained


def train_once(module: Any, label: str) -> Any:
    """A demo module's model (gpt_mini, translate_mini: is_cached() and load_or_train(progress=...)), trained on first
    use with a progress bar naming `label`, then kept on disk."""
    return load_demo(module.load_or_train, module.is_cached(),
                     f"Training {label} once on this machine (a few minutes; then kept on disk)…",
                     lambda message: f"Training {label}: {message}", spinner=f"Training {label}…")


def stop_with_share(params: dict[str, Any], text: str) -> None:
    """End this page run after a message (bad text, model or template), still offering the link to what was asked."""
    share_box(sync_url(params), text)
    st.stop()


def inputs_and_result(**options: Any) -> tuple[str, str, Attention]:
    """The text box and model picker, then attend(); on a user error the page stops with its message and share box."""
    text, model = text_and_model()
    result = run_attend(text, model, **options)
    if result is None:
        stop_with_share({"text": text, "model": model}, text)
    return text, model, result


def engine_result(**options: Any) -> tuple[str, str, Attention]:
    """The Learn pages' input: text, engine picker and attend(); on a user error the message, the share box, and stop."""
    text, model = text_and_model(picker=engine_picker)
    result = run_attend(text, model, max_tokens=LEARN_TOKENS, **options)
    if result is None:
        stop_with_share({"text": text, "model": model}, text)
    return text, model, result


def learn_trace(**options: Any) -> tuple[str, str, Trace]:
    """The Learn pages' one engine run per rerun: text, engine picker and trace() (up to LEARN_TOKENS tokens); every
    view of the page reads this trace (`.result` is what attend() returns). On a user error: the message, the share
    box, and stop."""
    text, model = text_and_model(picker=engine_picker)
    run = run_trace(text, model, max_tokens=LEARN_TOKENS, **options)
    if run is None:
        stop_with_share({"text": text, "model": model}, text)
    return text, model, run
