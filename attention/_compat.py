"""Old flat module names keep working: `attention.links`, `attention.stats`, `python -m attention.corpus`, ...

The core once was one flat folder; scripts, notebooks and the README used paths such as `from attention.links
import layer_links`. Each old name is an alias of the module's new home, found by this one small import hook (no
copies of the modules): `attention.links` *is* `attention.analyses.links`.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "maths": "engine.maths", "patterns": "engine.patterns", "scratch": "engine", "models": "engine.backends",
    "api": "run.api", "result": "run.result", "cache": "run.cache", "limits": "run.limits", "export": "run.export",
    "disk_cache": "domains.store", "vision": "domains.vision", "timeseries": "domains.timeseries",
    **{name: f"analyses.{name}" for name in ("stats", "links", "compare", "bias", "corpus", "batch", "steps", "multihead",
                                             "positions", "efficient")},
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)   # the very module object: one copy, one state

    def exec_module(self, module) -> None:
        pass

    def get_code(self, fullname: str):
        """`python -m attention.corpus` runs the new module's code as __main__ (runpy asks the loader for it)."""
        return importlib.util.find_spec(self.target).loader.get_code(self.target)


class OldNames(importlib.abc.MetaPathFinder):
    """Finds `attention.<old name>` as the module that now holds it."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, leaf = fullname.rpartition(".")
        if package != "attention" or leaf not in MOVED:
            return None
        target = f"attention.{MOVED[leaf]}"
        spec = importlib.util.spec_from_loader(fullname, _Alias(target), origin=importlib.util.find_spec(target).origin)
        spec.has_location = True   # `python -m attention.corpus` gives the module its real __file__
        return spec


def install() -> None:
    if not any(isinstance(finder, OldNames) for finder in sys.meta_path):
        sys.meta_path.append(OldNames())
