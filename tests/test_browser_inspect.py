"""Real-browser tests of the Inspect pages (Debian Chromium through Playwright): each opens from a share URL,
is used like a person would, and is checked for what it draws. User text must stay text on every page."""
from __future__ import annotations

import csv
import re
import time
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest

from attention import attend
from conftest import choose

pytestmark = pytest.mark.browser

HOSTILE = '<script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=2;alert(2)"> <b>bold</b>'


def open_page(page, app_url: str, path: str, ready: str, **params: str) -> list[str]:
    """Open a page from a share URL and wait for `ready`; returns the dialogs seen (there must be none)."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{app_url}/{path}?{urlencode(params)}")
    page.wait_for_selector(ready, timeout=90_000)
    return dialogs


def url_params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_for_param(page, name: str, value: str) -> None:
    page.wait_for_function("([n, v]) => new URLSearchParams(location.search).get(n) === v", arg=[name, value], timeout=30_000)


def assert_no_injection(page, dialogs: list[str]) -> None:
    time.sleep(0.5)
    assert dialogs == []
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img[src='x']").count() == 0


# ---------------------------------------------------------------- Token links

def expected_links(text: str, layer: int, heads: list[int], threshold: float, query: int | None = None) -> int:
    weights = attend(text, "minilm").weights[layer, heads]                  # [head, query, key]
    if query is not None:
        weights = weights[:, query]
    return int((weights >= np.float32(threshold)).sum())


def links_root(page):
    return page.locator(".tl-root")


def drawn_links(page, wanted: int, seconds: float = 10) -> int:
    """The view's count of drawn links once it equals `wanted` or `seconds` have passed (the count is written when the
    canvas is painted, which can come a frame after the attribute naming the shown heads)."""
    deadline = time.monotonic() + seconds
    while True:
        found = int(links_root(page).get_attribute("data-drawn"))
        if found == wanted or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(50)


def painted_pixels(page) -> int:
    return page.locator(".tl-canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }")


def test_token_links_open_from_a_share_url_and_react_to_heads_hover_and_pin(page, app_url, artifacts):
    text = "The cat sat on the mat because it was warm."
    open_page(page, app_url, "token_links", ".tl-root[data-shown='0,3']",
              text=text, model="minilm", layer="2", mode="heads", heads="0,3", threshold="0.05")
    root = links_root(page)
    assert drawn_links(page, expected_links(text, 2, [0, 3], 0.05)) == expected_links(text, 2, [0, 3], 0.05)
    assert painted_pixels(page) > 500
    assert page.locator(".tl-queries .tl-token").all_text_contents()[:3] == ["[CLS]", "the", "cat"]

    page.locator(".tl-head[data-head='5']").click()                     # switch head 5 on
    page.wait_for_selector(".tl-root[data-shown='0,3,5']")
    wait_for_param(page, "heads", "0,3,5")
    assert drawn_links(page, expected_links(text, 2, [0, 3, 5], 0.05)) == expected_links(text, 2, [0, 3, 5], 0.05)

    page.locator(".tl-queries .tl-token[data-pos='2']").hover()        # "cat" as a query: only its links
    page.wait_for_selector(".tl-root[data-focus='q2']")
    assert drawn_links(page, expected_links(text, 2, [0, 3, 5], 0.05, query=2)) == expected_links(text, 2, [0, 3, 5], 0.05, query=2)
    assert "“cat”" in page.locator(".tl-status").text_content()

    page.locator(".tl-keys .tl-token[data-pos='2']").click()           # pin "cat" as a key: what attends to it
    wait_for_param(page, "pin", "k2")
    page.mouse.move(5, 5)
    page.wait_for_selector(".tl-root[data-focus='k2']")
    weights = attend(text, "minilm").weights[2, [0, 3, 5], :, 2]
    assert drawn_links(page, int((weights >= np.float32(0.05)).sum())) == int((weights >= np.float32(0.05)).sum())
    page.screenshot(path=str(artifacts / "token-links.png"), full_page=True)


def test_token_links_threshold_slider_sends_fewer_links(page, app_url):
    text = "Birds fly south in winter when the days grow short."
    open_page(page, app_url, "token_links", ".tl-root", text=text, model="minilm", layer="1", mode="heads", threshold="0.1")
    before = int(links_root(page).get_attribute("data-total"))
    assert before == expected_links(text, 1, list(range(12)), 0.1)
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")                                 # 0.10 -> about 0.30
    # under load a rerun may swallow a key press: read the threshold the page settled on from its URL
    page.wait_for_function("() => Number(new URLSearchParams(location.search).get('threshold')) >= 0.2", timeout=30_000)
    read = "() => new URLSearchParams(location.search).get('threshold')"
    settled, previous = None, page.evaluate(read)
    while settled != previous:  # stable across a second and a finished run
        page.wait_for_timeout(1000)
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
        settled, previous = previous, page.evaluate(read)
    settled = float(settled)
    after = expected_links(text, 1, list(range(12)), settled)
    page.locator(f".tl-root[data-total='{after}']").first.wait_for(timeout=30_000)
    assert int(links_root(page).get_attribute("data-total")) < before


def test_token_links_show_hostile_text_as_text(page, app_url, artifacts):
    dialogs = open_page(page, app_url, "token_links", ".tl-root", text=HOSTILE, model="scratch", threshold="0.05")
    tokens = page.locator(".tl-queries .tl-token").all_text_contents()
    assert "<" in tokens and "script" in tokens and "onerror" in "".join(tokens).replace("##", "")
    assert page.locator(".tl-root script, .tl-root img, .tl-root b").count() == 0
    assert_no_injection(page, dialogs)
    page.screenshot(path=str(artifacts / "token-links-hostile.png"))


# ---------------------------------------------------------------- Compare

def plot_with_title(page, pattern: str):
    return page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text=re.compile(pattern))).first


def click_cell(page, plot, layer: int, head: int, layers: int, heads: int) -> None:
    """Click the middle of one cell of a layers × heads map drawn by plotly (layer 0 at the top)."""
    plot.scroll_into_view_if_needed()
    box = plot.locator(".nsewdrag").first.bounding_box()
    x = box["x"] + box["width"] * (head + 0.5) / heads
    y = box["y"] + box["height"] * (layer + 0.5) / layers
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_compare_opens_from_a_share_url_and_a_click_on_the_overview_opens_that_head(page, app_url, artifacts):
    open_page(page, app_url, "compare", ".hm-root[data-ready='true']", model="minilm", layer="2", head="5",
              text="The animal didn't cross the street because it was too tired.",
              text_b="The animal didn't cross the street because it was too wide.")
    diff = canvas_head(page, "A − B · Layer 2 · Head 5")   # drawn by the heatmap component from A's and B's heads
    diff.wait_for(timeout=60_000)
    assert "tired/wide" in diff.locator(".hm-tokens li").all_text_contents()
    click_cell(page, page.locator(".js-plotly-plot").first, layer=4, head=7, layers=6, heads=12)   # the overview
    canvas_head(page, "A − B · Layer 4 · Head 7").wait_for(timeout=60_000)
    wait_for_param(page, "head", "7")
    assert url_params(page)["layer"] == "4" and url_params(page)["mode"] == "sentences"
    assert page.get_by_label("Head", exact=True).input_value() == "7"   # the head view's own boxes follow
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)


def canvas_head(page, title: str):
    """A head drawn by the canvas heatmap component, by its exact title."""
    return page.locator(".hm-root[data-ready='true']", has=page.locator(".hm-title", has_text=re.compile(f"^{re.escape(title)}$"))).first


def test_compare_shows_hostile_text_as_text(page, app_url):
    dialogs = open_page(page, app_url, "compare", ".hm-root[data-ready='true']", model="scratch", text=HOSTILE, text_b=HOSTILE + " x")
    diff = canvas_head(page, "A − B · Layer 0 · Head 0")
    diff.wait_for(timeout=60_000)
    ticks = diff.locator(".hm-tokens li").all_text_contents()   # written with textContent: characters, not markup
    assert "<" in ticks and "script" in ticks
    assert page.locator("textarea").nth(1).input_value() == HOSTILE + " x"
    assert_no_injection(page, dialogs)


# ---------------------------------------------------------------- Bias probe

BIAS_TEMPLATES = "The {occupation} said that {he/she} was tired.\n{name} is a {occupation}."


def test_bias_probe_opens_from_a_share_url_draws_the_heads_and_downloads_the_table(page, app_url, artifacts):
    open_page(page, app_url, "bias_probe", ".js-plotly-plot", text=BIAS_TEMPLATES, occupations="nurse, pilot",
              names="John/Mary", model="scratch", layer="1", head="2")
    page.get_by_text(re.compile(r"Over 4 sentence pairs and 8 heads")).first.wait_for(timeout=60_000)
    plot_with_title(page, r"Layer 1 · Head 2: where the term looks").wait_for(timeout=30_000)
    bars = plot_with_title(page, "where the term looks").locator(".ytick text").all_text_contents()
    assert "(itself)" in bars and "nurse" in bars
    assert page.get_by_text("Attention is not Explanation").count() >= 1
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    with open(download.value.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 2 * 4 and {row["term_b"] for row in rows} == {"she", "Mary"}
    choose(page, "Head", "3")
    plot_with_title(page, r"Layer 1 · Head 3: where the term looks").wait_for(timeout=30_000)
    wait_for_param(page, "head", "3")
    page.screenshot(path=str(artifacts / "bias-probe.png"), full_page=True)


def test_bias_probe_shows_a_hostile_template_as_text(page, app_url):
    template = HOSTILE + " {he/she} ran."
    dialogs = open_page(page, app_url, "bias_probe", ".js-plotly-plot", text=template, model="scratch")
    page.get_by_text(re.compile(r"Over 1 sentence pairs")).first.wait_for(timeout=60_000)
    assert page.locator("textarea").first.input_value() == template
    assert_no_injection(page, dialogs)
