"""Token links in headless Chromium: bytes sent to the link component and time to draw, at 128 and 512 tokens.

For each size, fresh random texts (no cache helps) open the share link
/token_links?text=…&model=minilm&layer=L&threshold=T in a fresh browser context, and we measure:

  links, JSON KB   what the component receives: figures.payloads.payload() serialised (exactly what Python sends)
  ws KB            every websocket byte the visit received (page, widgets, component data)
  sight s          goto -> the link view drawn
  draw ms          the component's own timing of its first full draw (all 12 heads)
  redraw ms        click "None" then "All" (every head back on) -> the next frame painted
  hover ms         hover a query token in the middle -> its links alone painted (the next frame)
  scroll ms        jump the columns to the end -> the next frame painted

BertViz's figures for the same sizes (its whole model view embedded in the page) come from ../shared/ANCHORS.md.
Run: .venv/bin/python bench/bench_links.py [--reps 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from urllib.parse import urlencode

from common import CHROMIUM, CHROMIUM_ARGS, fresh_text, free_port, start_app, stop, table

SIZES = (128, 512)
SETTINGS = ((0, 0.1), (0, 0.05))      # (layer, threshold) per visit
BERTVIZ_MB = {128: 53, 512: 870}      # BertViz model view HTML, measured on this machine (ANCHORS.md)
KB = 1024

FRAME_JS = """async (root, [action, position]) => {
  const frame = () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const scroller = root.querySelector('.tl-scroll');
  await frame();
  const started = performance.now();
  if (action === 'redraw') {
    [...root.querySelectorAll('.tl-all')].find(b => b.textContent === 'None').click();
    [...root.querySelectorAll('.tl-all')].find(b => b.textContent === 'All').click();
  } else if (action === 'hover') {
    root.querySelector(`.tl-queries .tl-token[data-pos='${position}']`).dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
  } else {
    scroller.scrollTop = scroller.scrollHeight;
  }
  await frame();
  return performance.now() - started;
}"""


def payload_bytes(text: str, layer: int, threshold: float) -> tuple[int, int]:
    """(links, bytes) of the JSON the page hands the component for this view (all heads shown)."""
    from attention import attend
    from attention.analyses.links import layer_links
    from figures.payloads import payload

    links = layer_links(attend(text, "minilm"), layer, threshold)
    return len(links), len(json.dumps(payload(links)).encode())


def visit(browser, base: str, text: str, layer: int, threshold: float) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    received = [0]

    def on_websocket(ws) -> None:
        ws.on("framereceived", lambda data: received.__setitem__(0, received[0] + len(data if isinstance(data, bytes) else data.encode())))

    page.on("websocket", on_websocket)
    try:
        started = time.perf_counter()
        page.goto(f"{base}/token_links?{urlencode({'text': text, 'model': 'minilm', 'layer': layer, 'threshold': threshold})}",
                  wait_until="commit")
        root = page.locator(".tl-root[data-drawn]")
        root.wait_for(timeout=180_000)
        sight = time.perf_counter() - started
        page.wait_for_timeout(1500)  # let the run finish (share link, URL sync) before timing interactions
        result = {
            "sight": sight,
            "draw": float(root.get_attribute("data-draw-ms")),
            "redraw": root.evaluate(FRAME_JS, ["redraw", 0]),
            "hover": root.evaluate(FRAME_JS, ["hover", 0]),
            "scroll": root.evaluate(FRAME_JS, ["scroll", 0]),
            "drawn": int(root.get_attribute("data-drawn")),
            "ws": received[0],
        }
        n = len(page.locator(".tl-queries .tl-token").all())
        result["hover"] = root.evaluate(FRAME_JS, ["hover", n // 2])
        return result
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="visits per size and setting (median reported)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rng = random.Random(20240613)
    port = free_port()
    app = start_app(port)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            visit(browser, base, fresh_text(16, rng), 0, 0.1)  # loads the model in the server
            for size in SIZES:
                for layer, threshold in SETTINGS:
                    runs, sizes = [], []
                    for _ in range(args.reps):
                        text = fresh_text(size, rng)
                        runs.append(visit(browser, base, text, layer, threshold))
                        sizes.append(payload_bytes(text, layer, threshold))
                    med = lambda key: statistics.median(run[key] for run in runs)  # noqa: E731
                    links = statistics.median(s[0] for s in sizes)
                    rows.append([
                        str(size), f"{threshold:g}", f"{links:,.0f}", f"{statistics.median(s[1] for s in sizes) / KB:,.1f}",
                        f"{med('ws') / KB:,.0f}", f"{med('sight'):.2f}", f"{med('draw'):.1f}", f"{med('redraw'):.1f}",
                        f"{med('hover'):.1f}", f"{med('scroll'):.1f}", f"{BERTVIZ_MB[size]:,}",
                    ])
            browser.close()
    finally:
        stop(app)
    print(f"bench_links: headless Chromium, fresh context and fresh text per visit, median of {args.reps}; "
          f"MiniLM, all 12 heads of the layer shown\n")
    print(table(["tokens", "threshold", "links", "JSON KB", "ws KB (visit)", "sight s", "draw ms", "redraw ms",
                 "hover ms", "scroll ms", "BertViz MB"], rows))
    print("\n  links / JSON KB: what the link component receives (only pairs at or above the threshold, binary-packed);"
          "\n  ws KB: all websocket bytes of the visit; draw ms: the component's first full draw (its own timing);"
          "\n  redraw / hover / scroll ms: from the action to the next painted frame (two animation frames)."
          f"\n  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
