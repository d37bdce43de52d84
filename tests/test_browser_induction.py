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


def test_a_fresh_machine_draws_the_phase_change_while_it_trains(browser, tmp_path):
    """A server with an empty cache trains on the first visit: the progress bar and the growing chart are on the page
    together. (The server is stopped after 125 steps: the whole run is the fixture's and the bench's business.)"""
    from serving import free_port, start_app, stop

    port = free_port()
    server = start_app(port, env={"ATTENTION_LENS_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"})
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/induction_heads")
        page.get_by_text("Training induction-mini: step 125 of").first.wait_for(timeout=240_000)
        drawn = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .gtitle, .js-plotly-plot "
                              ".annotation-text')].map(e => e.textContent)")   # now, not waiting: training goes on
        assert "Loss (nats) on each part of the training batch" in drawn and "Induction score of every head" in drawn
        assert not any(title.startswith("phase change") for title in drawn)      # not found yet: no line
        assert page.locator("[data-testid=stProgress]").count() == 1
        assert page.locator("[data-testid=stException]").count() == 0
    finally:
        context.close()
        stop(server)
