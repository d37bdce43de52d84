"""The Contributions page in a real browser (Debian Chromium through Playwright): opened from a share link, a hover
shows an exact score, a click on the head map opens that head, hostile text stays text. Screenshot in artifacts/."""
from __future__ import annotations

from test_browser_inspect import (HOSTILE, assert_no_injection, click_cell, open_page, plot_with_title, url_params,
                                  wait_for_param)

A = "The animal didn't cross the street because it was too tired."
B = "The animal didn't cross the street because it was too wide."


def head_pair(page, layer: int, head: int):
    """The head's weights beside its value-weighted norms (a figure whose subplot titles name the head)."""
    title = page.locator(".annotation-text", has_text=f"L{layer} H{head} · attention weights")
    return page.locator(".js-plotly-plot", has=title).first


def test_share_link_hover_and_head_click(page, app_url, artifacts):
    dialogs = open_page(page, app_url, "contributions", ".js-plotly-plot .gtitle", text=A, text_b=B, model="minilm",
                        target="similarity", layer="1", head="2", method="alti", steps="32")
    rows = plot_with_title(page, r"Each method's score per token")
    rows.wait_for(timeout=120_000)
    head_pair(page, 1, 2).wait_for(timeout=60_000)
    # hover the middle of the token rows: the exact score appears
    rows.scroll_into_view_if_needed()
    box = rows.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * (3.5 / 7))   # row 3 of 7: alti
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    assert "score" in hover.text_content() and "alti" in hover.text_content()
    # a click on the head-removal map opens that head
    click_cell(page, plot_with_title(page, r"^Head removed$"), layer=4, head=7, layers=6, heads=12)
    head_pair(page, 4, 7).wait_for(timeout=60_000)
    wait_for_param(page, "head", "7")
    params = url_params(page)
    assert params["layer"] == "4" and params["target"] == "similarity" and params["method"] == "alti"
    assert params["text_b"] == B
    page.mouse.move(5, 5)
    page.screenshot(path=str(artifacts / "contributions.png"), full_page=True)
    assert_no_injection(page, dialogs)


def test_hostile_text_is_shown_as_text(page, app_url):
    dialogs = open_page(page, app_url, "contributions", ".js-plotly-plot .gtitle", text=HOSTILE, text_b=HOSTILE)
    plot_with_title(page, r"Each method's score per token").wait_for(timeout=120_000)
    assert_no_injection(page, dialogs)
