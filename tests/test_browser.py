"""Real-browser tests: Debian Chromium driven by Playwright against a live app."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

import ui
from serving import free_port, start_app, stop
from attention import attend
from conftest import choose

pytestmark = pytest.mark.browser


def open_view(page, app_url: str, **params: str) -> None:
    page.goto(f"{app_url}/?{urlencode(params)}" if params else app_url)
    wait_for_head(page)


def wait_for_head(page, title: str | None = None, timeout: float = 90_000) -> None:
    """Wait until the single-head heatmap is drawn (optionally with a given title)."""
    page.locator(".hm-root[data-ready='true']").first.wait_for(timeout=timeout)
    if title:
        page.locator(".hm-title", has_text=title).first.wait_for(timeout=timeout)


def drawn_tokens(page) -> list[str]:
    """The tokens the head heatmap drew (its accessible token list)."""
    return page.locator(".hm-tokens li").all_text_contents()


def url_params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_share_url_opens_its_view(page, app_url, artifacts):
    open_view(page, app_url, text="The quick brown fox jumps over the lazy dog.", model="minilm", layer="2", head="5")
    wait_for_head(page, "Layer 2 · Head 5")
    ticks = drawn_tokens(page)
    assert "fox" in ticks and ticks[0] == "[CLS]"
    page.get_by_text("The quick brown fox jumps over the lazy dog.").first.wait_for()   # the text box, drawn after the view
    page.locator(".sl-link").first.wait_for()                                            # the page has settled: the share box
    page.screenshot(path=str(artifacts / "home-share-url.png"), full_page=True)


def test_the_share_box_copies_a_link_that_reopens_the_same_view(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    page = context.new_page()
    open_view(page, app_url, text="Share me, please.", model="scratch", layer="1", head="3")
    field = page.locator(".sl-link").first
    field.wait_for()
    link = field.input_value()
    assert {k: v[-1] for k, v in parse_qs(urlparse(link).query).items()} == {
        "text": "Share me, please.", "model": "scratch", "layer": "1", "head": "3"}
    page.locator(".sl-copy").first.click()
    page.locator(".sl-copy", has_text="Copied").first.wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    fresh.goto(link)
    wait_for_head(fresh, "Layer 1 · Head 3")
    assert "share" in drawn_tokens(fresh)
    fresh.context.close()
    context.close()


def test_hovering_a_cell_shows_query_key_and_weight(page, app_url):
    text = "Cats chase mice."
    open_view(page, app_url, text=text, model="scratch", layer="1", head="2")
    wait_for_head(page, "Layer 1 · Head 2")
    tokens = drawn_tokens(page)
    canvas = page.locator(".hm-canvas").first
    box = canvas.bounding_box()
    n = len(tokens)
    weights = attend(text, "scratch").head(1, 2)
    # hover the bottom-right cell (the last query and the last key): the canvas ends with an 8 px bottom margin
    # and an 84 px colour-bar strip on the right (views/heatmap/heatmap.js: `bar`)
    x = box["x"] + box["width"] - 84 - 3
    y = box["y"] + box["height"] - 8 - 3
    page.mouse.move(x, y)
    tip = page.locator(".hm-stage .hm-tip").first
    tip.wait_for(state="visible")
    lines = tip.text_content().split("\n")
    assert lines[0] == f"query: {tokens[-1]} (#{n - 1})" and lines[1] == f"key: {tokens[-1]} (#{n - 1})"
    value, bound = (float(part) for part in lines[2].split(": ")[1].split(" ± "))   # "weight: 0.0659471 ± 0.0000048"
    assert abs(value - weights[n - 1, n - 1]) <= bound < 1e-3


def test_bare_url_shows_the_default_sentence(page, app_url):
    open_view(page, app_url)
    wait_for_head(page, "Layer 0 · Head 0")
    assert "animal" in drawn_tokens(page)
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
    assert "<" in drawn_tokens(page)  # shown literally, as text
    assert page.locator("textarea").first.input_value() == hostile
    page.screenshot(path=str(artifacts / "home-hostile-text.png"), full_page=True)


def test_clicking_a_grid_square_opens_that_head_and_updates_the_url(page, app_url):
    open_view(page, app_url, text="Birds fly south in winter.", model="minilm", layer="0", head="0")
    canvas = page.locator(".hg-canvas").first
    box = canvas.bounding_box()
    layers, heads, left, top, gap = 6, 12, 30, 22, 4  # the grid's geometry (views/heatmap/grid.js)
    tile = (box["width"] - left) / heads - gap
    target_layer, target_head = 3, 8
    x = box["x"] + left + target_head * (tile + gap) + tile / 2
    y = box["y"] + top + target_layer * (tile + gap) + tile / 2
    page.mouse.move(x, y)
    assert page.locator(".hg-root .hm-tip").first.text_content().startswith("Layer 3 · Head 8")
    page.mouse.click(x, y)
    wait_for_head(page, f"Layer {target_layer} · Head {target_head}")
    page.wait_for_function("() => location.search.includes('head=8')")
    assert url_params(page)["layer"] == "3"


def test_choosing_a_layer_updates_heatmap_and_url(page, app_url):
    open_view(page, app_url, text="Rain falls on the plain.", model="scratch:minilm", layer="0", head="1")
    choose(page, "Layer", "5")
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


def test_a_fresh_server_first_visited_on_a_page_url_still_runs_the_whole_app(browser):
    """Streamlit's older pages-directory mode would run pages/positions.py alone on a new server's first visit."""
    port = free_port()
    process = start_app(port)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/positions?text=Hello%20there")
        page.get_by_role("heading", name="Positions").first.wait_for(timeout=90_000)
        navigation = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Inspect" in navigation and "Masks & attention kinds" in navigation  # app.py's sections and titles
        assert "masks" not in navigation.split()  # not the raw file names of pages/
        page.close()
    finally:
        stop(process)


def test_a_new_text_is_drawn_first_and_nothing_moves_it_afterwards(page, app_url):
    """A share link with a text the server has not seen: the heatmap is drawn before the widgets above it are
    built (their places are held), so once drawn it stays where it is while the rest of the page arrives. The places
    are held from the frame the view is first drawn (the view writes the rule itself: the page's own rule and widgets
    come from lazily loaded scripts, which on a loaded CI machine arrived after the view and pushed it down 99 px)."""
    page.add_init_script("""
        window.__ys = []; window.__held = null;
        const watch = () => {
            for (const host of document.querySelectorAll('*')) {
                const view = host.shadowRoot && host.shadowRoot.querySelector('.hm-root[data-ready="true"]');
                if (view) { const y = Math.round(view.getBoundingClientRect().y + window.scrollY);
                            if (window.__ys[window.__ys.length - 1] !== y) window.__ys.push(y);
                            if (window.__held === null) window.__held = ['home_inputs', 'home_pickers'].map((key) => {
                                const box = document.querySelector('.st-key-' + key);
                                return box ? Math.round(box.getBoundingClientRect().height) : -1; });
                            break; }
            }
            requestAnimationFrame(watch);
        };
        requestAnimationFrame(watch);""")
    text = f"Nobody asked for this sentence before {time.time_ns()}."
    open_view(page, app_url, text=text, model="minilm", layer="1", head="1")
    page.get_by_text(text).first.wait_for()
    page.locator(".sl-link").first.wait_for()            # settled: the share box at the bottom is drawn
    page.wait_for_timeout(300)
    ys = page.evaluate("() => window.__ys")
    assert len(ys) == 1, f"the drawn heatmap moved: {ys}"
    inputs_height, pickers_height = page.evaluate("() => window.__held")
    assert inputs_height >= 96 and pickers_height >= 40, "the widgets' places were not held when the view was drawn"
    text_box = page.locator("textarea").first.bounding_box()
    assert text_box["y"] + text_box["height"] < ys[0]    # and the text box sits above it, as laid out
