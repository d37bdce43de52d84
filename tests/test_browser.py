"""Real-browser tests: Debian Chromium driven by Playwright against a live app."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

import ui

pytestmark = pytest.mark.browser


def open_view(page, app_url: str, **params: str) -> None:
    page.goto(f"{app_url}/?{urlencode(params)}" if params else app_url)
    wait_for_head(page)


def wait_for_head(page, title: str | None = None, timeout: float = 90_000) -> None:
    """Wait until the single-head heatmap is drawn (optionally with a given title)."""
    selector = ".js-plotly-plot .gtitle"
    page.wait_for_selector(selector, timeout=timeout)
    if title:
        page.wait_for_function(
            "t => [...document.querySelectorAll('.js-plotly-plot .gtitle')].some(e => e.textContent === t)", arg=title,
            timeout=timeout,
        )


def head_plot(page):
    return page.locator(".js-plotly-plot", has=page.locator(".gtitle")).first


def tick_texts(plot) -> list[str]:
    return plot.locator(".xtick text").all_text_contents()


def url_params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_share_url_opens_its_view(page, app_url, artifacts):
    open_view(page, app_url, text="The quick brown fox jumps over the lazy dog.", model="minilm", layer="2", head="5")
    wait_for_head(page, "Layer 2 · Head 5")
    ticks = tick_texts(head_plot(page))
    assert "fox" in ticks and "[CLS]" in ticks
    assert page.get_by_text("The quick brown fox jumps over the lazy dog.").count() >= 1
    page.screenshot(path=str(artifacts / "home-share-url.png"), full_page=True)


def test_bare_url_shows_the_default_sentence(page, app_url):
    open_view(page, app_url)
    wait_for_head(page, "Layer 0 · Head 0")
    assert "animal" in tick_texts(head_plot(page))
    page.wait_for_function("() => location.search.includes('layer=0')")
    assert url_params(page)["text"] == ui.DEFAULT_TEXT


def test_script_in_user_text_never_runs(page, app_url, artifacts):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    hostile = '<script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=2;alert(2)"> <b>bold</b>'
    open_view(page, app_url, text=hostile, model="scratch", layer="0", head="0")
    time.sleep(1.0)
    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert any("<" in tick for tick in tick_texts(head_plot(page)))  # shown literally, as text
    assert page.locator("textarea").first.input_value() == hostile
    page.screenshot(path=str(artifacts / "home-hostile-text.png"), full_page=True)


def test_clicking_a_grid_square_opens_that_head_and_updates_the_url(page, app_url):
    open_view(page, app_url, text="Birds fly south in winter.", model="minilm", layer="0", head="0")
    grid = page.locator(".js-plotly-plot", has_not=page.locator(".gtitle")).first
    box = grid.locator(".nsewdrag").first.bounding_box()
    layers, heads = 6, 12
    target_layer, target_head = 3, 8
    x = box["x"] + box["width"] * (target_head + 0.5) / heads
    y = box["y"] + box["height"] * (target_layer + 0.5) / layers
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    wait_for_head(page, f"Layer {target_layer} · Head {target_head}")
    page.wait_for_function("() => location.search.includes('head=8')")
    assert url_params(page)["layer"] == "3"


def test_choosing_a_layer_updates_heatmap_and_url(page, app_url):
    open_view(page, app_url, text="Rain falls on the plain.", model="scratch:minilm", layer="0", head="1")
    page.get_by_label(re.compile("^Layer")).first.click()
    page.get_by_role("option", name="5", exact=True).click()
    wait_for_head(page, "Layer 5 · Head 1")
    page.wait_for_function("() => location.search.includes('layer=5')")
    assert url_params(page)["model"] == "scratch:minilm"


def test_bad_parameters_show_a_notice_and_the_server_keeps_serving(page, app_url):
    open_view(page, app_url, text="Hello there.", model="scratch", layer="banana", head="-4")
    assert page.get_by_text(re.compile("not a number")).count() >= 1
    page.goto(f"{app_url}/?{urlencode({'text': 'Hi', 'model': '../../etc'})}")
    page.get_by_text(re.compile("not a model folder")).first.wait_for(timeout=60_000)
    assert page.locator("text=Traceback").count() == 0
    open_view(page, app_url, text="Still serving.", model="scratch")
