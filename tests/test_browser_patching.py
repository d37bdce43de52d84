"""The Patching page in a real browser (Debian Chromium through Playwright): opened bare, it shows the induction example
with its numbers in the head map's cells and the previous-token head's hover; its URL is a share link of that view; the
date example's button redraws it for translate-mini; hostile text stays text. Screenshot in artifacts/."""
from __future__ import annotations

from test_browser_inspect import HOSTILE, assert_no_injection, open_page, plot_with_title, url_params, wait_for_param

from attention import patch

HEADS = r"^Heads: each head's output"


def test_opens_on_the_induction_example_and_the_date_button_switches(page, app_url, artifacts, trained_induction_mini,
                                                                     trained_translate_mini):
    dialogs = open_page(page, app_url, "patching", ".js-plotly-plot .gtitle")
    heads = plot_with_title(page, HEADS)
    heads.wait_for(timeout=120_000)
    plot_with_title(page, r"^Residual stream").wait_for(timeout=30_000)
    expected = patch("kqzmwtrbfxkqzmw", "kqzmxtrbfwkqzmw", "induction-mini", answer="t", wrong="k")
    cells = heads.locator("text").all_text_contents()
    assert f"{expected.heads[0, 0]:.2f}" in cells              # the previous-token head's number, written in its cell
    heads.scroll_into_view_if_needed()
    box = heads.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 8, box["y"] + box["height"] / 4)   # layer 0, head 0 of 2 × 4
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    assert "H0" in hover.text_content() and f"{expected.heads[0, 0]:.3f}" in hover.text_content()
    wait_for_param(page, "model", "induction-mini")
    params = url_params(page)
    assert params["clean"] == "kqzmwtrbfxkqzmw" and params["answer"] == "t" and params["wrong"] == "k"
    page.mouse.move(5, 5)
    page.set_viewport_size({"width": 1400, "height": 2600})      # the whole page: Streamlit scrolls inside its own box
    plot_with_title(page, r"^Blocks").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "patching.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.get_by_role("button", name="Date example (translate-mini)").click()
    wait_for_param(page, "model", "translate-mini")
    page.locator(".js-plotly-plot .ytick", has_text="cross 0").first.wait_for(timeout=120_000)
    assert url_params(page)["prefix"] == "2021-03-0"
    page.mouse.move(5, 5)
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(artifacts / "patching_dates.png"), full_page=True)
    assert_no_injection(page, dialogs)


def test_hostile_text_is_shown_as_text(page, app_url, trained_induction_mini):
    dialogs = open_page(page, app_url, "patching", ".js-plotly-plot .gtitle", clean=HOSTILE,
                        corrupted=HOSTILE.replace("xss=1", "xss=7"), answer="", wrong="")
    plot_with_title(page, r"^Residual stream").wait_for(timeout=60_000)
    assert_no_injection(page, dialogs)
