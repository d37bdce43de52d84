"""Screenshots of every page of the app for the documentation site: docs/images/<page>.png, one per entry of app.py's
navigation, taken in Debian's headless Chromium at desktop width (1400 × 1000) on the page's default view.

    .venv/bin/python scripts/docs_screenshots.py            # or: make screenshots
    .venv/bin/python scripts/docs_screenshots.py home masks # only these pages
    .venv/bin/python scripts/docs_screenshots.py --no-pretrain home compare   # pages that need no trained model

Trains the demo models first where they are missing (python -m attention.domains.pretrain), so no page is caught
training; then starts the app as it is served (scripts/serve) and waits on each page until Streamlit has stopped
running and the page's title is drawn. Rerun it after a change to what a page shows, and commit the images;
tests/test_docs.py checks that every page of the app has one and that the docs show it.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
sys.path.insert(0, str(ROOT / "tests"))
from serving import CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop  # noqa: E402


def app_pages() -> list[tuple[str, str]]:
    """(file stem, title) of every page in app.py's navigation, in its order."""
    return re.findall(r'st\.Page\("pages/(\w+)\.py", title="([^"]+)"', (ROOT / "app.py").read_text())


def settle(page, title: str, timeout: float = 240) -> None:
    """Wait until the page's title is drawn and Streamlit has been idle (no running indicator) for two seconds."""
    page.get_by_role("heading", name=title).first.wait_for(timeout=timeout * 1000)
    deadline, idle_since = time.time() + timeout, None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        idle_since = None if running else (idle_since or time.time())
        if idle_since and time.time() - idle_since > 2:
            return
        time.sleep(0.25)


def main(arguments: list[str]) -> int:
    only = [name for name in arguments if not name.startswith("--")]
    pages = [(stem, title) for stem, title in app_pages() if not only or stem in only]
    if "--no-pretrain" not in arguments:
        subprocess.run([sys.executable, "-m", "attention.domains.pretrain", "--jobs", "2"], cwd=ROOT, check=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_app(port, env={"OMP_NUM_THREADS": "2"})
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for index, (stem, title) in enumerate(pages):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                path = "" if stem == "home" else stem
                page.goto(f"http://127.0.0.1:{port}/{path}")
                started = time.time()
                settle(page, "Attention Lens" if stem == "home" else title)   # the home page is titled by the app
                time.sleep(1.5)   # components draw in the browser after the script has finished
                page.screenshot(path=str(IMAGES / f"{stem}.png"))
                print(f"{stem}.png ({time.time() - started:.1f} s)", flush=True)
                context.close()
            browser.close()
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
