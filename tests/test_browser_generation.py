"""The Generation page in a real browser (Debian Chromium via Playwright): a share link reproduces a generation, Step
adds one token, a hostile prompt is shown as text."""
from __future__ import annotations

import pytest

from test_browser_images import url_params, wait_for_run
from test_browser_learn import open_link

from attention import generate

pytestmark = pytest.mark.browser


def written_line(page) -> str:
    line = page.locator("[data-testid=stMarkdownContainer]", has_text="Written (").first
    line.wait_for(timeout=240_000)                           # a server without the cached model would train first
    return line.inner_text()


def test_share_link_reproduces_a_generation_and_step_adds_one(trained_gpt_mini, page, app_url, artifacts):
    params = dict(prompt="the with statement", steps="5", seed="7", temperature="0.9", top_k="20", layer="1", head="3")
    dialogs = open_link(page, app_url, "generation", **params)
    run = generate("the with statement", "gpt-mini", steps=5, seed=7, temperature=0.9, top_k=20)
    assert "(5 of 5 tokens)" in written_line(page)
    page.get_by_text(run.written[-1].strip(), exact=False).first.wait_for(timeout=60_000)
    wait_for_run(page)
    assert page.get_by_text("does not exist").count() == 0                  # the link's layer and head are gpt-mini's
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.screenshot(path=str(artifacts / "generation.png"), full_page=True)
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('steps') === '6'", timeout=120_000)
    page.locator("[data-testid=stMarkdownContainer]", has_text="(6 of 6 tokens)").first.wait_for(timeout=120_000)
    longer = generate("the with statement", "gpt-mini", steps=6, seed=7, temperature=0.9, top_k=20)
    assert longer.ids[:-1] == run.ids                        # the same tokens, one more
    assert url_params(page)["step"] == "6" and url_params(page)["seed"] == "7"
    assert dialogs == [] and page.locator("[data-testid=stException]").count() == 0


def test_hostile_prompt_is_shown_as_text(trained_gpt_mini, page, app_url):
    hostile = "<img src=x onerror=alert(1)><b>bold</b>"
    dialogs = open_link(page, app_url, "generation", prompt=hostile, steps="2")
    written_line(page)
    page.locator("[data-testid=stMarkdownContainer]", has_text="<img src=x onerror=alert(1)><b>bold</b>").first.wait_for(timeout=60_000)
    assert page.locator("img[src=x]").count() == 0 and dialogs == []
