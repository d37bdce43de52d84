"""The documentation is tested like code: the site builds with `mkdocs build --strict` (no broken link, no missing page,
no unresolved API reference) and loads nothing from another host; every Python block of the README and of docs/ runs
as shown; the README stays short; every page of the app has its screenshot in the docs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# a page's code that names a trained demo model waits for the session fixture that trains it (tests/conftest.py)
TRAINED = {"gpt-mini": "trained_gpt_mini", "translate-mini": "trained_translate_mini", "translate_mini": "trained_translate_mini",
           "induction-mini": "trained_induction_mini", "induction_mini": "trained_induction_mini",
           "long-mini": "trained_long_mini", "long_mini": "trained_long_mini"}


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text())


def run_python(code: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """The site built strictly into a temporary folder, with the seconds it took."""
    folder = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return {"folder": folder, "done": done, "seconds": time.perf_counter() - started}


def test_the_site_builds_strictly(site, artifacts):
    """No warning at all: a broken link or anchor, a page missing from the nav, an unresolved API reference."""
    assert site["done"].returncode == 0, site["done"].stdout[-3000:] + site["done"].stderr[-3000:]
    assert "WARNING" not in site["done"].stderr
    (artifacts / "docs-build.txt").write_text(f"mkdocs build --strict: {site['seconds']:.1f} s\n")


def test_the_site_loads_nothing_from_another_host(site):
    """Every script, stylesheet, font and image is local: no http(s):// in a src, a <link href> or a CSS url()."""
    pages = list(site["folder"].rglob("*.html"))
    assert len(pages) >= len(PAGES)
    asset = re.compile(r"""<(?:script|img|iframe|source|link)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I)
    for path in [*pages, *site["folder"].rglob("*.css")]:
        text = path.read_text(errors="replace")
        assert not asset.search(text), f"{path.name}: {asset.search(text).group(0)}"
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text), path.name
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, path.name


def test_the_api_reference_documents_the_public_functions_types_and_the_cli(site):
    reference = (site["folder"] / "reference.html").read_text()
    for name in ("attend", "trace", "explain", "generate", "head_scores", "Attention", "Trace", "Explanation",
                 "Generation", "main"):
        assert re.search(rf'id="[\w.]*\b{name}"', reference), name
    from attention.cli import COMMANDS

    cli = re.sub(r"<[^>]+>", "", (site["folder"] / "cli.html").read_text())   # the text, without highlighting
    assert all(f"attention-lens {command}" in cli for command in COMMANDS if command != "run")


RUNNER = """
import json, sys, time, traceback
failed, seconds = {}, {}
for name, code in json.loads(sys.stdin.read()).items():
    started = time.perf_counter()
    try:
        exec(compile(code, name, "exec"), {"__name__": "__main__"})
    except BaseException:
        failed[name] = traceback.format_exc()[-3000:]
    seconds[name] = round(time.perf_counter() - started, 1)
print("\\n" + json.dumps({"failed": failed, "seconds": seconds}))
"""


@pytest.mark.trained
def test_every_python_block_runs(request, tmp_path, artifacts):
    """Every page's Python blocks run as shown: what a reader who copies them gets. Each page's blocks, in order, are
    one program (later blocks use earlier names) with a namespace of its own; all pages run in one fresh interpreter
    outside the repository (one start-up, not one per page; one test, so pytest's workers do not each run them all)."""
    programs = {path.name: "\n".join(python_blocks(path)) for path in [ROOT / "README.md", *PAGES]}
    assert all(code or "```python" not in (DOCS / name if name != "README.md" else ROOT / name).read_text()
               for name, code in programs.items())   # no block was missed by the pattern
    assert sum(bool(code) for code in programs.values()) >= 6
    for name, fixture in TRAINED.items():
        if any(name in code for code in programs.values()):
            request.getfixturevalue(fixture)
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps({k: v for k, v in programs.items() if v}),
                          capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    (artifacts / "docs-blocks.json").write_text(json.dumps(found["seconds"], indent=1))   # where the time goes
    failed = found["failed"]
    assert not failed, "\n\n".join(f"{name}:\n{trace}" for name, trace in failed.items())


def test_every_import_the_readme_and_the_docs_show_runs():
    """The import lines of the README's and the docs' examples, run together in a fresh interpreter (from
    tests/test_layout.py, where it checked the README alone, when the README was the manual)."""
    lines = sorted({line.strip() for path in [ROOT / "README.md", *PAGES] for line in path.read_text().splitlines()
                    if re.match(r"\s*(from attention[\w.]* import [\w, ]+|import attention[\w.]*)\s*$", line)})
    assert len(lines) >= 8
    done = run_python("\n".join(lines), ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_readme_is_short_and_leads_into_the_docs():
    """A newcomer reads it in two minutes: at most 200 lines, one screenshot, at most 15 lines of Python, and a link to
    every page of the site that exists (each link resolving to a file)."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert len(re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)) == 1
    assert all(len(block.strip().splitlines()) <= 15 for block in BLOCK.findall(text))
    links = set(re.findall(r"\]\((docs/[\w./-]+)\)", text))
    assert all((ROOT / link).is_file() for link in links), links
    assert {f"docs/{name}.md" for name in ("inspect", "learn", "domains", "python", "notebook", "cli", "hosting",
                                           "reference", "architecture", "benchmarks")} <= links
    assert {f"docs/{page.name}" for page in DOCS.glob("*.md")} <= links   # the guides too


def app_pages() -> list[tuple[str, str]]:
    return re.findall(r'st\.Page\("pages/(\w+)\.py", title="([^"]+)"', (ROOT / "app.py").read_text())


def test_every_page_of_the_app_is_in_the_readme_and_has_a_screenshot_in_the_docs():
    """docs/images/<page>.png, written by scripts/docs_screenshots.py (make screenshots), for every page in app.py's
    navigation, shown on a docs page; and the page's title in the README's table."""
    pages = app_pages()
    assert len(pages) >= 14
    shown = "\n".join(path.read_text() for path in PAGES)
    readme = (ROOT / "README.md").read_text()
    for stem, title in pages:
        assert (DOCS / "images" / f"{stem}.png").is_file(), f"no screenshot of {stem}: run make screenshots"
        assert f"images/{stem}.png" in shown, f"the docs do not show images/{stem}.png"
        assert f"**{title}**" in readme, title


def test_the_command_line_page_states_the_codes_numbers():
    """docs/cli.md's overview size and formula characters are the code's own."""
    from attention.run.export import _FORMULA
    from attention.run.on_demand import FILE_OVERVIEW_SIZE

    text = (DOCS / "cli.md").read_text()
    assert f"{FILE_OVERVIEW_SIZE} × {FILE_OVERVIEW_SIZE} mean overview" in text
    assert set(_FORMULA) == {"=", "+", "-", "@", "\t", "\r", "'"}   # the page names the first six; ' keeps it reversible
    assert "(starting with `=`, `+`, `-`, `@`, a tab or a carriage\nreturn)" in text
