"""The Learn pages in a real browser (Debian Chromium via Playwright): opened from share links, with hostile text."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

pytestmark = pytest.mark.browser

HOSTILE = 'Birds <img src=x onerror="window.__xss=1;alert(1)"> sing at dawn.'


def open_link(page, app_url: str, path: str, **params: str) -> list[str]:
    """Open a share link; collect any dialog (none may appear)."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{app_url}/{path}?{urlencode(params)}")
    return dialogs


def wait_for_title(page, title: str, timeout: float = 120_000) -> None:
    """Wait until a plotly figure (or subplot) with this title is drawn."""
    page.wait_for_function(
        "t => [...document.querySelectorAll('.js-plotly-plot .gtitle, .js-plotly-plot .annotation-text')]"
        ".some(e => e.textContent === t)", arg=title, timeout=timeout)


def plot_titled(page, title: str):
    return page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text=title)).first


def ticks(plot, axis: str = "x") -> list[str]:
    return plot.locator(f".{axis}tick text").all_text_contents()


def url_params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def assert_text_stayed_text(page, dialogs: list[str]) -> None:
    time.sleep(0.5)
    assert dialogs == [] and page.evaluate("() => window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("textarea").first.input_value() == HOSTILE
    assert page.locator("[data-testid=stException]").count() == 0


def test_step_by_step_from_a_share_link(page, app_url, artifacts, trained_gpt_mini):
    dialogs = open_link(page, app_url, "step_by_step", text=HOSTILE, model="scratch", layer="1", head="2", query="3", causal="1")
    wait_for_title(page, "Attention weights · layer 1 · head 2")
    weights = plot_titled(page, "Attention weights · layer 1 · head 2")
    labels = ticks(weights)
    assert "birds" in labels and any("<" in label for label in labels)     # the tag is shown as text
    assert page.get_by_text("Softmax: scores become weights").count() == 2   # your sentence and the toy
    assert page.get_by_text("Causal: nothing after the query may be seen.").count() >= 1
    assert page.get_by_text("Causal mode runs", exact=False).count() == 1      # a trained decoder, gpt-mini
    assert page.get_by_text("d_k for the experiment").count() == 1
    assert page.locator(".js-plotly-plot").count() >= 10
    assert url_params(page)["causal"] == "1"
    assert_text_stayed_text(page, dialogs)
    page.get_by_role("tab", name="Toy: check it with a calculator").click()
    # the toy's cells carry their numbers: "I" scores [2, 5, 3, 5], halved to [1, 2.5, 1.5, 2.5]
    page.locator(".heatmap-label text, text.heatmap-label, .heatmap-label", has_text="2.5").first.wait_for(state="visible", timeout=30_000)
    page.screenshot(path=str(artifacts / "learn-step-by-step.png"), full_page=True)


def test_multi_head_from_a_share_link(page, app_url, artifacts):
    dialogs = open_link(page, app_url, "multi_head", text=HOSTILE, model="scratch", layer="1", removed="1,2")
    wait_for_title(page, "How differently heads attend (Jensen–Shannon distance)")
    wait_for_title(page, "head 3")
    page.locator("[data-testid=stMetricValue]", has_text="2 of 4").first.wait_for(timeout=30_000)
    assert_text_stayed_text(page, dialogs)
    page.get_by_text("Keep only these").click()                      # keep heads 1 and 2: remove 0 and 3
    page.wait_for_function("() => location.search.includes('keep=1')", timeout=60_000)
    assert url_params(page)["removed"] == "1,2"
    page.screenshot(path=str(artifacts / "learn-multi-head.png"), full_page=True)


def test_positions_from_a_share_link(page, app_url, artifacts):
    dialogs = open_link(page, app_url, "positions", text=HOSTILE, model="scratch", layer="0", head="1", seed="3", count="32")
    wait_for_title(page, "No positions: shuffled sentence")
    wait_for_title(page, "How alike two learned positions are (cosine)")
    for label in ("Without positions: largest difference", "With positions: largest difference"):
        page.locator("[data-testid=stMetricLabel]", has_text=label).first.wait_for(timeout=30_000)
    code = plot_titled(page, "Position code (rows: positions, columns: dimensions)")
    assert "30" in ticks(code, "y")                                   # 32 positions drawn
    assert_text_stayed_text(page, dialogs)
    assert url_params(page)["seed"] == "3"
    page.screenshot(path=str(artifacts / "learn-positions.png"), full_page=True)


def test_masks_from_a_share_link(page, app_url, artifacts, trained_masks_models):
    dialogs = open_link(page, app_url, "masks", text=HOSTILE, model="scratch", seq2seq="scratch", source=HOSTILE,
                        target="Vögel singen.", second="Hi.")
    wait_for_title(page, "Cross-attention · decoder layer 0 · head 0")
    wait_for_title(page, "Causal mask: only earlier tokens")
    wait_for_title(page, "Path from token 1 to token 12")
    cross = plot_titled(page, "Cross-attention · decoder layer 0 · head 0")
    assert "vo" in " ".join(ticks(cross, "y")) and any("<" in label for label in ticks(cross))
    assert page.get_by_text("Padding: sentences of different lengths in one batch").count() == 1
    assert page.get_by_text("causal", exact=False).count() >= 2
    assert_text_stayed_text(page, dialogs)
    assert url_params(page)["target"] == "Vögel singen."


def test_masks_opens_on_the_trained_translator_and_decoder(page, app_url, artifacts, trained_masks_models):
    from attention.domains import translate_mini

    open_link(page, app_url, "masks")
    title = "Cross-attention · translate-mini · last decoder layer (0), mean over its heads"
    wait_for_title(page, title)
    report = translate_mini.alignment_report()
    page.locator("[data-testid=stMetricValue]", has_text=f"{report['trained']['score']:.0%}").first.wait_for(timeout=60_000)
    cross = plot_titled(page, title)
    assert "-" in ticks(cross, "y") and "february" in ticks(cross)                # ISO digits ask, the date's words answer
    page.get_by_text("A trained decoder: gpt-mini").first.wait_for(timeout=60_000)
    assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(artifacts / "learn-masks.png"), full_page=True)
