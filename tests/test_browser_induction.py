"""The Induction heads page in a real browser (Debian Chromium via Playwright): a share link opens the view it names,
picking another head to remove updates the measurements and the link, and user text is shown as text."""
from __future__ import annotations

import pytest

from conftest import choose
from test_browser_images import url_params, wait_for_run
from test_browser_learn import open_link, wait_for_title

from attention.domains import induction_mini as im

pytestmark = pytest.mark.browser


def metric_value(page, label: str) -> str:
    """The value shown by the st.metric labelled `label`."""
    box = page.locator("[data-testid=stMetric]", has_text=label).first
    return box.locator("[data-testid=stMetricValue]").inner_text().strip()


def test_share_link_then_remove_another_head(trained_induction_mini, page, app_url, artifacts):
    trained = trained_induction_mini
    found = im.findings(trained.network, trained.config, trained.history)
    best = found.induction_head
    dialogs = open_link(page, app_url, "induction_heads", text="qwerty uiop; qwerty uiop", removed=str(found.previous_head[1]))
    wait_for_title(page, "Loss (nats) on each part of the training batch", timeout=240_000)   # a fresh server trains first
    wait_for_title(page, f"Induction score of every head, with and without layer 0 head {found.previous_head[1]}")
    wait_for_run(page)
    label = f"Induction score, layer {best[0]} head {best[1]}"
    assert metric_value(page, label) == f"{found.removal_of(None).induction_after[best]:.2f}"
    page.set_viewport_size({"width": 1400, "height": 4600})        # desktop width; tall: the app scrolls inside itself
    wait_for_title(page, "Trained")
    page.screenshot(path=str(artifacts / "induction_heads.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    other = next(h for h in range(trained.config.n_heads) if h != found.previous_head[1])
    choose(page, "Layer-0 head to remove", str(other))
    page.wait_for_function("h => new URLSearchParams(location.search).get('removed') === h", arg=str(other), timeout=120_000)
    wait_for_title(page, f"Induction score of every head, with and without layer 0 head {other}")
    wait_for_run(page)
    assert metric_value(page, label) == f"{found.removal_of(other).induction_after[best]:.2f}"
    assert url_params(page)["text"] == "qwerty uiop; qwerty uiop"
    assert dialogs == [] and page.locator("[data-testid=stException]").count() == 0


def test_hostile_text_is_shown_as_text(trained_induction_mini, page, app_url):
    hostile = "<img src=x onerror=alert(1)> <img src=x onerror=alert(1)>"
    dialogs = open_link(page, app_url, "induction_heads", text=hostile)
    wait_for_title(page, "Loss (nats) on each part of the training batch", timeout=240_000)
    wait_for_run(page)
    assert page.locator("img[src=x]").count() == 0 and dialogs == []
    assert page.locator("[data-testid=stException]").count() == 0
