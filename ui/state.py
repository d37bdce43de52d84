"""Page state: what a page shows lives in st.session_state under "<page>_<name>" and in the URL under <name>.

A page declares its URL parameters once, as a PageState of typed parameters:

    STATE = ui.PageState("steps", ui.Text("text", ui.DEFAULT_TEXT), ui.Engine(), ui.Index("layer"), ui.Index("head"),
                         ui.Index("query", None, noun="query token"), ui.Flag("causal"))
    STATE.load()                     # first run in a session: read the URL (a notice for each bad value), else keep
    ...
    STATE.share(text, text=text, model=model, layer=layer, ...)   # write the view back to the URL; the share box

Reading (with a notice for a bad value), clamping to the model (`STATE.clamp`), writing back (`STATE.link`) and
carrying the text and model across pages (names in `shared` use one session key for every page) come from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st

from attention import MODELS
from ui.messages import warn

DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
URL_TEXT_CAP = 6000  # characters of text kept in a share link (more than a 512-token model reads)
SCRATCH_ENGINES = ("scratch:minilm", "scratch")
Reader = Callable[[str | None], tuple[Any, str | None]]


def first_value(name: str) -> str | None:
    """A query parameter's value (the last one when it is repeated), or None."""
    values = st.query_params.get_all(name)
    return values[-1] if values else None


def parse_index(raw: str | None, name: str) -> tuple[int, str | None]:
    """A 0-based index from the URL: (value, notice when it was not a usable number)."""
    if raw is None:
        return 0, None
    cleaned = raw.strip()
    if re.fullmatch(r"[+-]?\d{1,6}", cleaned):
        value = int(cleaned)
        if value < 0:
            return 0, f"The link asked for {name} {value}; {name}s count from 0, so {name} 0 is shown."
        return value, None
    return 0, f"The link's {name} '{raw[:20]}' is not a number; {name} 0 is shown."


def read_fraction(name: str, default: float, low: float = 0.01, high: float = 1.0) -> Reader:
    """A URL reader for a number between low and high (e.g. a threshold), with a notice when it is not one."""
    def read(raw: str | None) -> tuple[float, str | None]:
        if raw is None:
            return default, None
        try:
            value = float(raw.strip()[:12])
        except ValueError:
            return default, f"The link's {name} '{raw[:20]}' is not a number; {default} is used."
        if not low <= value <= high:  # also false for nan
            clamped = default if value != value else min(max(value, low), high)
            return clamped, f"The link's {name} {raw[:12]} is outside {low}–{high}; {clamped} is used."
        return value, None
    return read


def read_choice(name: str, choices: tuple[str, ...]) -> Reader:
    """A URL reader for one of a few words (the first is the default), with a notice for anything else."""
    def read(raw: str | None) -> tuple[str, str | None]:
        if raw is None or raw.strip().lower() in choices:
            return (raw.strip().lower() if raw else choices[0]), None
        return choices[0], f"The link's {name} '{raw[:20]}' is not one of {', '.join(choices)}; {choices[0]} is used."
    return read


def read_flag(raw: str | None) -> tuple[bool, None]:
    """A URL reader for an on/off switch: 1, true, yes or on mean on; anything else off."""
    return raw is not None and raw.strip().lower() in ("1", "true", "yes", "on"), None


def read_text(raw: str | None) -> tuple[str, str | None]:
    return (raw if raw and raw.strip() else DEFAULT_TEXT), None


def read_model(raw: str | None) -> tuple[str, str | None]:
    return (raw.strip() if raw and raw.strip() else MODELS[0]), None


def read_engine(raw: str | None) -> tuple[str, str | None]:
    """URL reader for the Learn pages' model: scratch:minilm unless the link names one."""
    return (raw.strip() if raw and raw.strip() else SCRATCH_ENGINES[0]), None


def read_token(raw: str | None) -> tuple[int | None, str | None]:
    """URL reader for a token index; absent: None, so that token_picker chooses the opening token."""
    return (None, None) if raw is None else parse_index(raw, "query token")


def show_url_notices() -> None:
    """The notices of the URL's bad values, read by the page's first run (once)."""
    for notice in st.session_state.pop("_url_notices", []):
        warn(notice)


def load_page_state(page: str, defaults: dict[str, Any], readers: dict[str, Reader],
                    shared: tuple[str, ...] = ("text", "model")) -> None:
    """A page's state in session keys "<page>_<name>": from the URL on the page's first run in a session,
    then kept, also across visits to other pages (Streamlit drops widget values of pages not shown).

    Names in `shared` (the sentence and the model) use their own key, common to all pages, and keep the
    session's value when the URL leaves them out, so a sentence carries over between pages."""
    flag = f"_url_loaded_{page}"
    first = not st.session_state.get(flag)
    st.session_state[flag] = True
    saved = st.session_state.setdefault(f"_saved_{page}", {})
    notices = []
    for name, default in defaults.items():
        key = name if name in shared else f"{page}_{name}"
        raw = first_value(name) if first else None
        if first and (raw is not None or key not in st.session_state or name not in shared):
            value, notice = readers[name](raw) if name in readers else (default if raw is None else raw, None)
            notices += [notice] if notice else []
            st.session_state[key] = value
        elif key in st.session_state:
            st.session_state[key] = st.session_state[key]  # re-set, so a page switch does not reset the widget
        else:
            st.session_state[key] = saved.get(key, default)  # back from another page: what it was
        saved[key] = st.session_state[key]
    if first:
        st.session_state["_url_notices"] = notices


def clamp_index(key: str, size: int, name: str) -> None:
    """Keep st.session_state[key] inside 0..size-1, saying so when a link asked for more."""
    value = int(st.session_state.get(key, 0))
    if value > size - 1:
        warn(f"This model has {size} {name}s (0–{size - 1}); {name} {value} does not exist, so {name} {size - 1} is shown.")
        st.session_state[key] = size - 1


def sync_url(params: dict[str, Any]) -> str:
    """Write the view into the URL's query parameters; returns the share link."""
    wanted = {name: str(value) for name, value in params.items() if value is not None}
    if "text" in wanted:
        wanted["text"] = wanted["text"][:URL_TEXT_CAP]
    if {name: first_value(name) for name in st.query_params} != wanted:
        st.query_params.from_dict(wanted)
    base = st.context.url or ""
    return f"{base}?{urlencode(wanted)}"


# ---- the declarative schema: one parameter type per kind of URL value -------------------------------------------

@dataclass(frozen=True)
class Param:
    """One URL parameter of a page: its name, its default, how the URL's text is read and how a value is written back.
    `hide_default`: the link leaves the parameter out while it holds its default (short links for the usual view)."""

    name: str
    default: Any = None
    hide_default: bool = field(default=False, kw_only=True)

    def read(self, raw: str | None) -> tuple[Any, str | None]:
        """(value, notice for people or None) from the URL's text (None when absent)."""
        return (self.default if raw is None else raw), None

    def write(self, value: Any) -> str | None:
        """The URL's text for `value`, or None to leave the parameter out."""
        if value is None or (self.hide_default and value == self.default):
            return None
        return str(value)


@dataclass(frozen=True)
class Index(Param):
    """A whole number counted from 0 (layer, head, token, sample). Absent: the default (which may be None, "choose
    later"); not a number or negative: `fallback` (0 unless given) with a notice naming the `noun` (default: name)."""

    default: Any = 0
    noun: str | None = field(default=None, kw_only=True)
    fallback: Any = field(default=0, kw_only=True)

    def read(self, raw: str | None) -> tuple[Any, str | None]:
        if raw is None:
            return self.default, None
        value, notice = parse_index(raw, self.noun or self.name)
        return (self.fallback, notice) if notice else (value, None)


@dataclass(frozen=True)
class Flag(Param):
    """An on/off switch: 1, true, yes or on mean on; written as 1, and left out when off."""

    default: Any = False

    def read(self, raw: str | None) -> tuple[bool, None]:
        return read_flag(raw)

    def write(self, value: Any) -> str | None:
        return "1" if value else None


@dataclass(frozen=True)
class OneOf(Param):
    """One of a few words; the first is the default. `noun` names it in the notice (default: name). Made by Choice()."""

    choices: tuple[str, ...] = field(default=(), kw_only=True)
    noun: str | None = field(default=None, kw_only=True)

    def read(self, raw: str | None) -> tuple[str, str | None]:
        return read_choice(self.noun or self.name, self.choices)(raw)


def Choice(name: str, choices: tuple[str, ...], *, noun: str | None = None, hide_default: bool = False) -> OneOf:  # noqa: N802
    """One of a few words (`choices`, the first the default), with a notice for anything else."""
    return OneOf(name, tuple(choices)[0], choices=tuple(choices), noun=noun, hide_default=hide_default)


@dataclass(frozen=True)
class Fraction(Param):
    """A number between low and high (e.g. a threshold); out of range: clamped with a notice. Written as %g."""

    default: Any = 0.1
    low: float = 0.01
    high: float = 1.0

    def read(self, raw: str | None) -> tuple[float, str | None]:
        return read_fraction(self.name, self.default, self.low, self.high)(raw)

    def write(self, value: Any) -> str | None:
        return None if value is None or (self.hide_default and value == self.default) else f"{value:g}"


@dataclass(frozen=True)
class Integer(Param):
    """A whole number between low and high; out of range: clamped with a notice (read as a Fraction, rounded)."""

    default: Any = 0
    low: int = 0
    high: int = 1

    def read(self, raw: str | None) -> tuple[int, str | None]:
        value, notice = read_fraction(self.name, self.default, self.low, self.high)(raw)
        return int(round(value)), notice


@dataclass(frozen=True)
class Text(Param):
    """Free text. Absent or blank: the default (unless `keep_empty`); `strip` trims it; `limit` caps its length."""

    default: Any = ""
    strip: bool = field(default=False, kw_only=True)
    keep_empty: bool = field(default=False, kw_only=True)
    limit: int | None = field(default=None, kw_only=True)

    def read(self, raw: str | None) -> tuple[str, None]:
        if raw is None or (not raw.strip() and not self.keep_empty):
            return self.default, None
        value = raw.strip() if self.strip else raw
        return (value[:self.limit] if self.limit else value), None


def Sentence(name: str = "text", default: str = DEFAULT_TEXT) -> Text:   # noqa: N802  (reads like the other types)
    """The text a page reads (shared by the pages): as typed; absent or blank: the default sentence."""
    return Text(name, default)


def Model(name: str = "model", default: str = MODELS[0]) -> Text:   # noqa: N802
    """A model name (a preset, a Hugging Face id or a folder): trimmed; absent or blank: `default` (minilm)."""
    return Text(name, default, strip=True)


def Engine(name: str = "model") -> Text:   # noqa: N802
    """The Learn pages' model, the project's own engine: trimmed; absent or blank: scratch:minilm."""
    return Text(name, SCRATCH_ENGINES[0], strip=True)


@dataclass(frozen=True)
class Custom(Param):
    """A parameter with its own reader (raw text or None -> (value, notice)), for the few one-of-a-kind values."""

    reader: Reader | None = None

    def read(self, raw: str | None) -> tuple[Any, str | None]:
        return self.reader(raw) if self.reader else super().read(raw)


class PageState:
    """A page's URL parameters, declared once: reading them (with notices), clamping, writing the view back."""

    def __init__(self, page: str, *params: Param, shared: tuple[str, ...] = ("text", "model")) -> None:
        self.page, self.shared = page, shared
        self.params = {param.name: param for param in params}

    def key(self, name: str) -> str:
        """The session key of a parameter: shared ones (text, model) have one key for every page."""
        return name if name in self.shared else f"{self.page}_{name}"

    def load(self) -> None:
        """Read the URL on the page's first run in a session, else keep the session's values (see load_page_state)."""
        load_page_state(self.page, {name: p.default for name, p in self.params.items()},
                        {name: p.read for name, p in self.params.items()}, self.shared)

    def __getitem__(self, name: str) -> Any:
        return st.session_state.get(self.key(name))

    def __setitem__(self, name: str, value: Any) -> None:
        st.session_state[self.key(name)] = value

    def clamp(self, name: str, size: int, noun: str | None = None) -> None:
        """Keep an index inside 0..size-1 (the model's layers, heads, tokens), with a notice when a link asked for more."""
        param = self.params.get(name)
        clamp_index(self.key(name), size, noun or getattr(param, "noun", None) or name)

    def link(self, **values: Any) -> str:
        """Write these values into the URL (in this order; each as its parameter writes it) and return the share link."""
        return sync_url({name: (self.params[name].write(value) if name in self.params else value)
                         for name, value in values.items()})

    def share(self, shown_text: str, /, **values: Any) -> None:
        """Write the view into the URL and show the share box (`shown_text`: the page's text, for the link-length notice)."""
        share_box(self.link(**values), shown_text)


def share_box(link: str, text: str) -> None:
    """The share link, with Streamlit's copy button."""
    from components.share import share_link

    with st.container(border=True):
        st.markdown("**Share this view** — the link opens exactly what you see.")
        share_link(link)
        if len(text) > URL_TEXT_CAP:
            warn(f"The link keeps the first {URL_TEXT_CAP:,} characters of the text.")
