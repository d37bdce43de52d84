"""The "Efficient attention" page in a real browser: a share link with hostile text, the pattern drawn, a pattern change."""
from __future__ import annotations

import pytest

from test_browser_learn import HOSTILE, assert_text_stayed_text, open_link, plot_titled, ticks, url_params, wait_for_title

pytestmark = pytest.mark.browser


def test_efficient_attention_from_a_share_link(page, app_url, artifacts):
    dialogs = open_link(page, app_url, "efficient_attention", text=HOSTILE, model="scratch", pattern="longformer",
                        window="2", globals="0", layer="1", head="3")
    wait_for_title(page, "longformer: who may look at whom")
    wait_for_title(page, "longformer · layer 1 · head 3")
    wait_for_title(page, "KL(pattern ‖ full), mean per row")
    labels = ticks(plot_titled(page, "longformer: who may look at whom"))
    assert "[CLS]" in labels and "<" in labels                                  # the tag is shown as text
    assert page.get_by_text("Longformer.", exact=False).count() >= 1 and page.get_by_text("ProbSparse", exact=False).count() >= 1
    assert_text_stayed_text(page, dialogs)
    assert url_params(page)["globals"] == "0"

    window = page.get_by_label("Window (each side)", exact=True).and_(page.locator("input"))
    window.fill("4")
    window.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('window') === '4'", timeout=60_000)
    page.locator("[data-testid=stSelectbox]", has_text="Pattern").click()
    page.get_by_role("option", name="probsparse").click()
    wait_for_title(page, "Active queries · layer 1 · head 3")
    page.get_by_text("not attending: takes the mean of the values").first.wait_for(timeout=30_000)   # the legend
    page.wait_for_function("() => new URLSearchParams(location.search).get('pattern') === 'probsparse'", timeout=60_000)
    params = url_params(page)
    assert params["pattern"] == "probsparse" and "window" not in params and params["u"] == "4"
    assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(artifacts / "learn-efficient-attention.png"), full_page=True)
