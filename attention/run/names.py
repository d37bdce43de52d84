"""The model names built here rather than read from a folder or the hub, and who builds each: no torch, so a command
line can check a name before the libraries load. attention/run/models.py loads; the trained demos register their
builders from attention/domains/names.py."""
from __future__ import annotations

from typing import Any, Callable

BUNDLED = "minilm"
SCRATCH = "scratch"
GPT_MINI_NAMES = ("gpt-mini", "scratch:random-gpt-mini")
TRANSLATE_MINI_NAMES = ("translate-mini", "scratch:random-translate-mini")
INDUCTION_MINI = "induction-mini"
LONG_MINI = "long-mini"

# name -> builder(name) -> Backend (attention/engine/backends.py)
NAMED: dict[str, Callable[[str], Any]] = {}


def register(names: tuple[str, ...], builder: Callable[[str], Any]) -> None:
    """Name models that `builder(name)` builds (the trained demos call this when their package is imported)."""
    for name in names:
        NAMED[name] = builder


def is_named(name: str) -> bool:
    """Whether a name is one of the project's own (the bundled model, scratch, scratch:<weights>, a trained demo)."""
    name = name.strip()
    return name in NAMED or name in (BUNDLED, SCRATCH) or name.startswith(SCRATCH + ":")
