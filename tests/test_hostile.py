"""Hostile share links on every page, in a real browser: each gives a view or a clear message, no traceback,
no script from user text runs, and the server keeps serving."""
from __future__ import annotations

import re
import time
import urllib.request
from urllib.parse import quote

import pytest

from conftest import ROOT, TRAINED_PAGES

pytestmark = pytest.mark.browser

SCRIPT = '<script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=2;alert(2)"><svg onload="window.__xss=3">'
# raw query strings, so repeated and malformed parameters reach the server as a browser would send them
HOSTILE_QUERIES = {
    "script text, repeated and unknown parameters, bad numbers": (
        f"text={quote(SCRIPT)}&text=second%20{quote('<b>x</b>')}&layer=1e309&layer=-1&head=NaN&head=%00"
        "&__proto__=x&constructor=y&foo[]=1&compare=L0%C2%B7H0,%3Cscript%3E&u=-3&window=abc&pattern=%3Cx%3E"
    ),
    "very long text with percent-encoding tricks": (
        "text=" + quote("long " * 4000) + "%253Cscript%253E%E2%80%AE%C0%AE%ZZ%F0%9F%98%80%E2%80%8B&head=99999999999999"
    ),
    "a model that is a path": "text=Hello&model=" + quote("/etc/passwd"),
    "a model that is a URL": "text=Hello&model=" + quote("http://evil.example/model?x=<script>"),
    "a model that climbs out": "text=Hello&model=" + quote("scratch:../../../etc") + "&model=file:///etc/passwd",
}


def page_paths() -> list[str]:
    """The URL path of every page in app.py's navigation ('' for the default page)."""
    source = (ROOT / "app.py").read_text()
    files = re.findall(r'st\.Page\("pages/([\w-]+)\.py"', source)
    defaults = re.findall(r'st\.Page\("pages/([\w-]+)\.py"[^)]*default=True', source)
    return ["" if name in defaults else re.sub(r"^\d+_", "", name) for name in files]


def settle(page, timeout: float = 90_000) -> None:
    """Wait until the script has run and stopped (twice, as a page may rerun once after writing its URL)."""
    for _ in range(2):
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
        time.sleep(0.4)


INJECTED = """() => {
    const roots = [document, ...[...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)];
    const scripts = roots.flatMap(r => [...r.querySelectorAll('script')]).some(s => s.textContent.includes('__xss'));
    return scripts || roots.some(r => r.querySelector('img[src="x"], svg[onload]'));
}"""


@pytest.mark.parametrize("path", page_paths())
def test_hostile_links_on_every_page(browser, app_url, path, artifacts, request):
    if path in TRAINED_PAGES:
        request.getfixturevalue(TRAINED_PAGES[path])   # a page of a trained model: trained before the browser waits on it
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for name, query in HOSTILE_QUERIES.items():
        page.goto(f"{app_url}/{path}?{query}")
        settle(page)
        shown = page.locator('[data-testid="stMain"]').inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0, f"{path or 'home'} / {name}: an exception"
        assert "Traceback" not in shown, f"{path or 'home'} / {name}"
        assert page.evaluate("() => window.__xss") is None, f"{path or 'home'} / {name}: script ran"
        assert not page.evaluate(INJECTED), f"{path or 'home'} / {name}: markup from user text in the page"
        has_view = page.locator(".js-plotly-plot, canvas, .hm-root, [data-testid='stDataFrame']").count() > 0
        has_message = page.locator('[data-testid="stAlert"]').count() > 0
        assert has_view or has_message, f"{path or 'home'} / {name}: neither a view nor a message"
    assert dialogs == []
    page.screenshot(path=str(artifacts / f"hostile-{path or 'home'}.png"))
    context.close()
    with urllib.request.urlopen(f"{app_url}/_stcore/health", timeout=10) as answer:
        assert answer.read().strip() == b"ok"  # the server keeps serving
