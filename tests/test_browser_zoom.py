"""The zoomable view in a real browser: a long head opens on its overview, zooming in fetches exact tiles, and the
cells drawn read the same weights as the result's own tile(). The zoom step's latency is printed (no timing asserts
here: bench/bench_zoom.py measures the budgets)."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import numpy as np
import pytest

from attention import attend
from serving import free_port, start_app, stop

pytestmark = pytest.mark.trained

TEXT = " ".join(f"Ship {i} left the harbour at dawn and the keeper wrote its name in the ledger." for i in range(90))


@pytest.fixture(scope="module")
def long_app(trained_long_mini):
    """An app server whose weights budget is its least (2 MB), so a ~1,500-token text is a long result."""
    port = free_port()
    process = start_app(port, env={"ATTENTION_LENS_WEIGHTS_MB": "2"})
    yield f"http://127.0.0.1:{port}"
    stop(process)


def _root(page):
    return page.locator(".zm-root[data-ready='1']")


def test_zoom_into_a_long_head_draws_its_exact_weights(long_app, page, artifacts, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "2")
    result = attend(TEXT, "long-mini")
    assert not result.has_weights
    page.goto(f"{long_app}/?{urlencode({'text': TEXT, 'model': 'long-mini', 'layer': 1, 'head': 0})}")
    root = _root(page)
    root.wait_for(timeout=180_000)
    assert root.get_attribute("data-n") == str(result.n_tokens) and root.get_attribute("data-layer") == "1"
    assert "max pooling" in page.locator(".zm-legend").inner_text()
    assert page.locator(".zm-root").count() == 1          # the view preloaded while the model ran drew nothing
    page.screenshot(path=str(artifacts / "zoom_overview.png"))

    page.locator(".zm-canvas").scroll_into_view_if_needed()
    box = page.locator(".zm-canvas").bounding_box()
    left, top, side = 118, 96, 640                       # the map's place in the canvas (zoom.js LEFT, TOP, SIDE)
    x, y = box["x"] + left + side * 0.7, box["y"] + top + side * 0.8
    page.mouse.move(x, y)
    for _ in range(40):                                  # scroll in until the window is exact (cell = one weight)
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(60)
        window = root.get_attribute("data-window")
        if window and window.endswith(",1") and "Exact" in page.locator(".zm-legend").inner_text():
            break
    page.locator(".zm-legend", has_text="Exact weights").wait_for(timeout=30_000)
    check_hovered_cells(page, root, result, x, y)       # a window the server computed (or the browser, if it was quick)
    page.locator(".zm-root[data-source='browser']").wait_for(timeout=60_000)   # the head's queries and keys arrived
    n = result.n_tokens
    root.evaluate(f"e => e.parentNode.__zoom.setViewport({n - 90}, {n - 400}, 40)")   # a new window, computed here
    assert root.get_attribute("data-source") == "browser"
    check_hovered_cells(page, root, result, x, y)
    print(f"zoom steps (request → tile drawn), ms: {root.get_attribute('data-steps')}")
    page.screenshot(path=str(artifacts / "zoom_exact.png"))

    page.mouse.click(x, y)                              # the row strip of the clicked query
    page.locator(".zm-peak").first.wait_for(timeout=30_000)
    query = int(root.get_attribute("data-row"))
    row = result.row(1, 0, query)
    first = page.locator(".zm-peak").first.inner_text()
    assert f"key {int(np.argmax(row)):,}" in first
    page.screenshot(path=str(artifacts / "zoom_row.png"), full_page=True)


def check_hovered_cells(page, root, result, x, y) -> None:
    """Hover five cells of the exact window on screen: each reads the weight Attention.tile gives."""
    settled, last = 0, None
    for _ in range(300):   # answers still travelling may replace the window: wait until an exact one stays
        window = root.get_attribute("data-window") or ""
        settled = settled + 1 if window == last and window.endswith(",1") else 0
        last = window
        if settled >= 5:
            break
        page.wait_for_timeout(100)
    q0, q1, k0, k1, factor = map(int, root.get_attribute("data-window").split(","))
    assert factor == 1
    tile = result.tile(1, 0, slice(q0, q1), slice(k0, k1))
    read = []
    for dx, dy in [(0, 0), (90, 0), (0, 90), (-90, -90), (150, 40)]:   # cells are ≥ 2.5 px, at most 80 px
        page.mouse.move(x + dx, y + dy)
        page.wait_for_timeout(50)
        cell = json.loads(root.get_attribute("data-hover"))
        assert cell["factor"] == 1
        truth = float(tile[cell["query"] - q0, cell["key"] - k0])
        assert abs(cell["weight"] - truth) <= 1e-3 * max(truth, 1e-3), (cell, truth)   # float16 from the server
        read.append(cell)
    assert len({(c["query"], c["key"]) for c in read}) >= 3


def test_grid_marks_heads_sharing_a_key_value_head(long_app, page):
    page.goto(f"{long_app}/?{urlencode({'text': TEXT, 'model': 'long-mini'})}")
    _root(page).wait_for(timeout=180_000)
    cells = page.locator(".zm-cell")
    assert cells.count() == 8                            # 2 layers × 4 heads
    kv = [cells.nth(i).get_attribute("data-kv") for i in range(4)]
    assert kv == ["0", "0", "1", "1"]                    # heads 0–1 share key/value head 0, heads 2–3 head 1
    assert "share one key/value head" in page.locator(".zm-grid-note").inner_text()
    cells.nth(6).click()                                 # layer 1, head 2
    page.locator(".zm-root[data-layer='1'][data-head='2']").wait_for(timeout=60_000)
    page.locator(".zm-select").select_option("block")    # the block level: 256-token blocks, exact, rows sum to 1
    page.locator(".zm-legend", has_text="blocks: a cell is a query block").wait_for(timeout=60_000)
    n = int(page.locator(".zm-root").get_attribute("data-n"))
    assert page.locator(".zm-legend").inner_text().startswith(f"{-(-n // 256)} blocks")


def test_a_head_left_after_a_glance_is_not_sent_its_queries_and_keys(long_app, page):
    """A head's record (megabytes at 32k tokens) is asked only once the reader has stayed on it (zoom.js
    RECORD_AFTER_MS): a reader going through heads is not held up by transfers for heads already left."""
    page.goto(f"{long_app}/?{urlencode({'text': TEXT, 'model': 'long-mini', 'layer': 0, 'head': 1})}")
    _root(page).wait_for(timeout=180_000)
    page.wait_for_timeout(400)                                               # a glance, shorter than RECORD_AFTER_MS
    page.locator(".zm-cell[data-layer='0'][data-head='3']").click()          # head 1 is left
    page.locator(".zm-root[data-ready='1'][data-layer='0'][data-head='3']").wait_for(timeout=60_000)
    page.locator(".zm-root[data-source='browser']").wait_for(timeout=60_000)   # head 3 stayed: its record came
    held = page.evaluate("() => [...window.__attentionLensZoom.records.keys()].map(id => id.split('|').slice(1).join('|'))")
    assert "0|3" in held and "0|1" not in held, held
