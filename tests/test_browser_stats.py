"""The Head stats page in a real browser (Debian Chromium through Playwright): a share link, a click on the grid,
downloads that load back, the offline HTML view opened with the network cut, a corpus upload, hostile text as text."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from attention import attend

from attention.run import export
from test_browser_inspect import (HOSTILE, assert_no_injection, choose, click_cell, open_page, plot_with_title, url_params,
                                  wait_for_param)

pytestmark = pytest.mark.browser
TEXT = "The cat sat on the mat because it was warm."


def heat(page, title: str):
    """The canvas head view (issue 19: the heatmap component with its own Layer and Head boxes) titled `title`."""
    return page.locator(".hm-root[data-ready='true']", has=page.locator(".hm-title", has_text=re.compile(f"^{title}$"))).first


def head_tokens(page, title: str) -> list[str]:
    """The tokens the head view drew (its list for screen readers: the canvas is pixels)."""
    return heat(page, title).locator(".hm-tokens li").all_text_contents()


def download(page, name: str) -> str:
    with page.expect_download(timeout=60_000) as started:
        page.get_by_role("button", name=name, exact=True).click()
    return started.value.path()


def test_share_link_grid_click_and_exports(page, browser, app_url, artifacts):
    open_page(page, app_url, "head_stats", ".js-plotly-plot .gtitle", text=TEXT, model="minilm", stat="next", layer="2", head="5")
    heat(page, "Layer 2 · Head 5").wait_for(timeout=60_000)
    assert page.get_by_text("entropy", exact=False).count() >= 1
    click_cell(page, plot_with_title(page, r"Every head of this sentence: next"), layer=4, head=7, layers=6, heads=12)
    heat(page, "Layer 4 · Head 7").wait_for(timeout=60_000)
    wait_for_param(page, "head", "7")
    assert url_params(page)["layer"] == "4" and url_params(page)["stat"] == "next"
    page.screenshot(path=str(artifacts / "head-stats.png"), full_page=True)

    result = attend(TEXT, "minilm")
    with open(download(page, "Attention JSON"), encoding="utf-8") as handle:
        back = export.from_json(handle.read())
    assert back.tokens == result.tokens and np.array_equal(back.weights, result.weights) and back.model == "minilm"
    with open(download(page, "Statistics CSV"), encoding="utf-8") as handle:
        assert len(handle.read().strip().splitlines()) == 1 + 6 * 12
    with open(download(page, "This view (HTML)"), encoding="utf-8") as handle:
        html = handle.read()

    offline = browser.new_context()                       # the saved view, with every network request refused
    requests: list[str] = []
    offline.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    view = offline.new_page()
    view.set_content(html, wait_until="load")
    view.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    assert view.locator(".js-plotly-plot").count() == 4 and requests == []
    assert "Layer 4 · Head 7" in view.locator(".gtitle").all_text_contents()
    offline.close()


def test_corpus_upload_with_a_csv_column(page, app_url, artifacts):
    open_page(page, app_url, "head_stats", ".js-plotly-plot .gtitle", mode="corpus", model="scratch")
    page.get_by_text(re.compile(r"Means over 277 sentences")).first.wait_for(timeout=90_000)   # the shipped sample corpus
    page.get_by_text("Upload a .txt or .csv file").click()
    page.locator("input[type=file]").set_input_files(files=[{
        "name": "mine.csv", "mimeType": "text/csv",
        "buffer": b'id,sentence\n1,"Birds sing, dogs bark."\n2,It rained.\n3,The end.\n',
    }])
    page.get_by_text(re.compile(r"Means over 3 sentences")).first.wait_for(timeout=60_000)   # the first column, 'id', has 3 rows
    choose(page, "Column", "sentence")
    page.get_by_text(re.compile(r"Layer 0 · Head 0: entropy over 3 sentences")).first.wait_for(timeout=60_000)  # old and new figure may overlap in a rerun
    # the 'id' column also had 3 rows: wait for the rerun that reads the 'sentence' column to be drawn
    wanted = {"birds", "sing", "dogs", "bark"}
    deadline = time.time() + 60
    while not wanted <= set(ticks := head_tokens(page, "Layer 0 · Head 0")):
        assert time.time() < deadline, f"the first sentence of the 'sentence' column was never drawn: {ticks}"
        time.sleep(0.25)                                                   # the heads open on the first sentence
    page.screenshot(path=str(artifacts / "head-stats-corpus.png"), full_page=True)


def test_hostile_text_is_shown_as_text(page, app_url):
    dialogs = open_page(page, app_url, "head_stats", ".js-plotly-plot .gtitle", text=HOSTILE, model="scratch")
    heat(page, "Layer 0 · Head 0").wait_for(timeout=60_000)
    ticks = head_tokens(page, "Layer 0 · Head 0")
    assert any("<" in tick or ">" in tick for tick in ticks)             # the angle brackets are drawn as characters
    assert page.locator("textarea").first.input_value() == HOSTILE
    assert_no_injection(page, dialogs)
