"""Drawing a result is not the core's job: the views package (views/, above the core) draws it and registers how here.

`Attention.show()`, its notebook display and `export.view_file` ask `drawer(name)`; the views package registers
"show" and "write_file" when it is imported (the app and `import views` do), and a process that imported only
`attention` finds it through the package's entry point (group `attention_lens.views`, pyproject.toml), the way pandas
finds its plotting backends. The core never imports the views.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable

GROUP = "attention_lens.views"
_DRAWERS: dict[str, Callable[..., Any]] = {}


def register(**drawers: Callable[..., Any]) -> None:
    """Called by the views package: name -> function (show(result, view, ...), write_file(result, path, ...))."""
    _DRAWERS.update(drawers)


def drawer(name: str) -> Callable[..., Any]:
    """The registered view function `name`, loading the installed views package first if none is registered."""
    if name not in _DRAWERS:
        for point in entry_points(group=GROUP):
            point.load()
    if name not in _DRAWERS:
        raise ImportError("The notebook views and the HTML file are drawn by Attention Lens's views package, which is "
                          "not installed here: install the project (pip install attention-lens, or pip install -e . in "
                          "its folder), or `import views` from the project's folder first.")
    return _DRAWERS[name]
