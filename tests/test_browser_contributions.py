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


DATE_SOURCE, DATE_PREFIX = "the third of march, twenty twenty-one", "2021-03-0"


def named_pair(page, title: str):
    label = page.locator(".annotation-text", has_text=f"{title} · attention weights")
    return page.locator(".js-plotly-plot", has=label).first


def test_translate_mini_share_link_hover_and_cross_head_click(page, app_url, artifacts, trained_translate_mini):
    dialogs = open_page(page, app_url, "contributions", ".js-plotly-plot .gtitle", text=DATE_SOURCE, text_b=DATE_PREFIX,
                        model="translate-mini", target="next_token", layer="2", head="1", method="alti", steps="32")
    rows = plot_with_title(page, r"Each method's score per token")
    rows.wait_for(timeout=120_000)
    named_pair(page, "decoder self 0 · H1").wait_for(timeout=60_000)
    # hover the source token 'third' in the integrated-gradients row: its exact score, labelled as a source token
    rows.scroll_into_view_if_needed()
    box = rows.locator(".nsewdrag").first.bounding_box()
    n_tokens = 11 + 10                                                      # [BOS] … [EOS] of the source, [BOS] + 9 written
    page.mouse.move(box["x"] + box["width"] * 2.5 / n_tokens, box["y"] + box["height"] * (5.5 / 7))   # row 5 of 7: IG
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    assert "integrated_gradients" in hover.text_content() and "src·third" in hover.text_content()
    # a click on the cross-attention row of the head-removal map opens that cross-attention head
    click_cell(page, plot_with_title(page, r"^Head removed$"), layer=3, head=2, layers=4, heads=4)
    named_pair(page, "decoder cross 0 · H2").wait_for(timeout=60_000)
    wait_for_param(page, "layer", "3")
    params = url_params(page)
    assert params["head"] == "2" and params["model"] == "translate-mini" and params["target"] == "next_token"
    assert params["text_b"] == DATE_PREFIX
    page.mouse.move(5, 5)
    page.screenshot(path=str(artifacts / "contributions_translate_mini.png"), full_page=True)
    assert_no_injection(page, dialogs)
