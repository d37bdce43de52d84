"""Imports point down, never up (docs/architecture.md): pages → ui → figures → components → views → attention at the
top level, and inside attention/: analyses and domains → run → engine. Checked with ast over every module, for every
import statement wherever it stands (module level or inside a function: a lazy import is still a dependency)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

# the higher the number, the higher the layer; a module may import its own layer and the ones below
TOP = {"attention": 0, "views": 1, "components": 2, "figures": 3, "ui": 4, "pages": 5, "app": 6}
CORE = {"engine": 0, "run": 1, "analyses": 2, "domains": 2}
CORE_TOP = 3   # attention/__init__.py (the public names) and attention/cli.py sit above every sub-package

# Known upward imports (source module, imported module): none left. A change that must add one lists it here with the
# change that removes it; the test fails when a listed one disappears, so the list can only shrink.
KNOWN: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for top in TOP:
        folder = ROOT / top
        if folder.is_dir():
            found.update({module_name(path): path for path in folder.rglob("*.py") if "__pycache__" not in path.parts})
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module `name` imports: `from a.b import c` is a.b.c when that is a module, else a.b."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in found if target.split(".")[0] in TOP}


def layer(name: str) -> tuple[int, int]:
    """(top-level layer, layer inside attention/ or 0)."""
    parts = name.split(".")
    inner = CORE.get(parts[1], CORE_TOP) if parts[0] == "attention" and len(parts) > 1 else CORE_TOP
    return TOP[parts[0]], inner if parts[0] == "attention" else 0


def upward() -> set[tuple[str, str]]:
    known = modules()
    found = set()
    for name, path in known.items():
        for target in imported(name, path, known):
            (top, inner), (target_top, target_inner) = layer(name), layer(target)
            if target_top > top or (top == target_top == 0 and target_inner > inner):
                found.add((name, target))
    return found


def test_the_scan_sees_every_layer_and_resolves_imports():
    """The checker itself: it finds the modules of every layer and knows a few imports that are there for sure."""
    known = modules()
    assert {"app", "pages.home", "ui.state", "figures.inspect", "attention.engine.maths", "attention.run.api"} <= set(known)
    assert "attention.engine.maths" in imported("attention.run.api", known["attention.run.api"], known) | \
        imported("attention.engine.layers", known["attention.engine.layers"], known)
    assert layer("attention.engine.maths") < layer("attention.run.api") < layer("attention.analyses.stats")
    assert layer("attention") > layer("attention.analyses.stats") and layer("views.payloads") > layer("attention") and layer("components.heatmap") > layer("views.payloads")


def test_no_module_imports_a_higher_layer():
    """Every upward import is either gone or listed in KNOWN (with the change that removes it); none is new."""
    found = upward()
    assert not found - KNOWN, f"new upward imports: {sorted(found - KNOWN)}"
    assert not KNOWN - found, f"gone, strike them from KNOWN: {sorted(KNOWN - found)}"


def test_ui_has_no_import_circle():
    """ui/'s modules import each other in one direction only (any import, also inside a function)."""
    known = modules()
    graph = defaultdict(set)
    for name, path in known.items():
        if name.startswith("ui."):
            graph[name] = {target for target in imported(name, path, known) if target.startswith("ui.") and target != name}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in graph.get(name, ()):
            assert state.get(target) != 1, f"import circle: {' → '.join(trail + [name, target])}"
            if target not in state:
                visit(target, trail + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
