"""The example notebook, executed with nbclient, converted with nbconvert and opened in Chromium with the network cut:
every view draws from the scripts inlined in its own output (canvas drawn, tokens present, hover works, a grid click
opens a head), each view independent, and no script is requested from anywhere but nbconvert's own page template."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
nbconvert = pytest.importorskip("nbconvert")

NOTEBOOK = ROOT / "examples" / "attention_lens.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[object, Path, object]:
    """The notebook run top to bottom in a fresh kernel, and its nbconvert HTML (the default 'lab' template)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    exporter = nbconvert.HTMLExporter()
    body, _ = exporter.from_notebook_node(notebook)
    path = tmp_path_factory.mktemp("notebook") / "attention_lens.html"
    path.write_text(body, encoding="utf-8")
    return notebook, path, exporter


def views_of(notebook) -> list[str]:
    return [output["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "text/html" in output.get("data", {})]


def test_the_notebook_runs_and_every_view_is_self_contained(executed):
    notebook, _, _ = executed
    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert errors == []
    views = views_of(notebook)
    assert len(views) == 5   # the grid, the links, one head, then the same head for sentences A and B
    ids = [re.search(r'<div class="attention-lens" id="(al-[0-9a-f]+)"', view).group(1) for view in views]
    assert len(set(ids)) == len(ids)
    for view in views:   # each output carries the code it needs: a notebook can drop or reorder cells
        assert "window.AttentionLens = standaloneViews(" in view and "http://" not in view and "https://" not in view
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert re.search(r"the head that moves most: layer \d, head \d+", printed)


def test_the_converted_notebook_draws_every_view_offline(executed, offline_page, artifacts):
    notebook, path, exporter = executed
    page = offline_page
    page.goto(path.as_uri())
    hosts = page.evaluate("[...document.querySelectorAll('.attention-lens')].map(e => e.id)")
    assert len(hosts) == 5
    page.wait_for_function("""(hosts) => hosts.every(id => document.getElementById(id)?.dataset.ready === 'true')""",
                           arg=hosts, timeout=60_000)
    shadow = lambda host, selector: page.evaluate(
        "([host, selector]) => [...document.getElementById(host).shadowRoot.querySelectorAll(selector)].map(e => e.textContent)",
        [host, selector])
    grid, links, head, head_a, head_b = hosts

    # the grid and the open head: canvases drawn, tokens present
    ink = page.evaluate("""(host) => [...document.getElementById(host).shadowRoot.querySelectorAll('canvas')].map(canvas => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i + 3] && data[i] < 230) count++;
        return count;
    })""", grid)
    assert len(ink) == 2 and min(ink) > 2000   # the grid and the open head
    assert "nurse" in shadow(grid, ".hm-tokens li") and shadow(grid, ".hm-title") == ["Layer 0 · Head 0"]

    # hover works: the open head's tooltip gives a weight
    box = page.evaluate("(host) => { const b = document.getElementById(host).shadowRoot.querySelector('.hm-canvas')"
                        ".getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; }", grid)
    page.mouse.move(box[0] + 0.55 * box[2], box[1] + 0.6 * box[3])
    tip = page.wait_for_function("(host) => { const t = document.getElementById(host).shadowRoot.querySelector('.hm-root .hm-tip');"
                                 " return t && !t.hidden && t.textContent; }", arg=grid, timeout=5_000).json_value()
    assert re.search(r"weight: 0\.\d{5,8} ± 0\.0000\d+$", tip), tip   # the default sentence is small: 16 bits
    page.screenshot(path=str(artifacts / "notebook_grid_hover.png"))

    # a click on the grid opens that head in this view only
    point = page.evaluate("""(host) => {
        const root = document.getElementById(host).shadowRoot, box = root.querySelector('.hg-canvas').getBoundingClientRect();
        const tile = Math.max(18, Math.min(64, Math.floor((root.querySelector('.hg-root').clientWidth - 38) / 12) - 4));
        return [box.left + 30 + 5 * (tile + 4) + tile / 2, box.top + 22 + 2 * (tile + 4) + tile / 2];
    }""", grid)
    page.mouse.click(*point)
    page.wait_for_function("(host) => document.getElementById(host).shadowRoot.querySelector('.hm-title').textContent"
                           " === 'Layer 2 · Head 5'", arg=grid)
    assert shadow(head, ".hm-title") == ["Layer 2 · Head 5"]          # set by its own cell, untouched by the click
    assert shadow(head_a, ".hm-title") == shadow(head_b, ".hm-title")  # A and B: the same head
    assert "big" in shadow(head_a, ".hm-tokens li") and "small" in shadow(head_b, ".hm-tokens li")

    # the token links: layer 3, hover a token to isolate its links
    assert shadow(links, ".sa-view-title") == ["Token links · layer 3"]
    assert "nurse" in shadow(links, ".tl-queries .tl-token")
    page.locator(f"#{links} .tl-queries .tl-token").nth(4).hover()
    page.wait_for_function(f"document.getElementById('{links}').shadowRoot.querySelector('.tl-root').dataset.focus === 'q4'")
    page.screenshot(path=str(artifacts / "notebook_full.png"), full_page=True)

    # nothing but nbconvert's own page template (its require.js and MathJax, which fail here) asked the network for anything
    template = {exporter.require_js_url, exporter.mathjax_url}
    assert [url for url in page.requested if url not in template] == []
    assert page.errors == []
