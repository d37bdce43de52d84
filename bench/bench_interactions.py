"""Every change feels instant (issue 19): time from a user's action to the new view painted, and the bytes sent for it,
before and after, in headless Chromium.

    .venv/bin/python bench/bench_interactions.py [--reps 5] [--before REF]

Starts two apps side by side: "before" from a git worktree of REF (default: the commit before the fragment/held-heads
change, ad41a31) and "after" from this tree. For each size (128, 512 tokens) and each app, a fresh text (new to both
servers) opens the share link in a fresh browser context; once the page has drawn and the websocket has been quiet
for 1.5 s (the prefetch, when there is one, has arrived), each interaction is done `reps` times:

  home head     the Head box: open it, ArrowDown, then Enter (the action) -> the heatmap titled with the new head painted
  home layer    the Layer box, the same way
  home grid     a click on a grid tile (a head beside the open one) -> that head painted
  links layer   Token links' Layer box -> the link view of the new layer painted
  links head    a click on a head square (toggle) -> the view painted with that head switched
  compare head  Compare's Head box (two sentences, MiniLM) -> the A − B heatmap of the new head painted
  stats head    Head stats' Head box -> the new head's heatmap painted

A Streamlit selectbox (before) is opened and moved with the arrow keys first; the action is the Enter that picks. A
component's own <select> (after) is focused first; the action is the arrow key that picks (a closed native select
changes on it).

Times come from the page's own clock (performance.now): the action's start, every websocket frame sent and received
(a wrapper installed before Streamlit's scripts), and the first animation frame in which the new view is in the DOM.
Split: server = first frame received after the first frame sent − that send (the server's run + the wire, one way
each), when it came before the paint; server first / last frame = from the change sent to the first and the last frame
the server sent back for it, whether or not the browser painted first (its fragment rerun following the change: URL,
share box, numbers; the last frame may end a prefetch round the rerun started); wire = last frame received before the paint − the first; draw = paint − last frame received (or − the action,
when the view was painted before anything came back). Bytes: websocket payloads received from the action until 1 s of
quiet after the paint (what the change cost on the wire, the follow-up rerun included).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

from common import CHROMIUM, CHROMIUM_ARGS, ROOT, fresh_text, free_port, start_app, stop, table, verdict

SIZES = (128, 512)
GOAL_MS = {128: 100, 512: 150}
BEFORE = "ad41a31"

RECORDER = """(() => {
  window.__frames = [];
  const Native = window.WebSocket;
  const size = (data) => typeof data === 'string' ? data.length : (data.byteLength ?? data.size ?? 0);
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => window.__frames.push(['in', performance.now(), size(event.data)]));
    const send = socket.send.bind(socket);
    socket.send = (data) => { window.__frames.push(['out', performance.now(), size(data)]); return send(data); };
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();"""

# the first animation frame in which `check` holds: resolves to performance.now() then
WATCH_JS = """([kind, wanted]) => new Promise((done) => {
  const roots = () => [document, ...[...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)];
  const check = () => {
    for (const root of roots()) {
      if (kind === 'head') {
        for (const view of root.querySelectorAll('.hm-root[data-ready="true"]')) {
          const title = view.querySelector('.hm-title');
          if (title && title.textContent === wanted) return true;
        }
        for (const title of root.querySelectorAll('.gtitle')) {   // a plotly figure's title (the pages before)
          if (title.textContent === wanted) return true;
        }
      } else {
        for (const view of root.querySelectorAll('.tl-root')) {
          if (wanted.layer !== null) {   // a view that names its layer is redrawn in place; one that does not is replaced
            const moved = view.dataset.layer !== undefined ? view.dataset.layer === String(wanted.layer) : view !== window.__oldLinks;
            if (moved && view.dataset.drawn) return true;   // "" while a layer not held yet is loading
          }
          else if (view.dataset.shown === wanted.shown) return true;
        }
      }
    }
    return false;
  };
  const tick = () => check() ? done(performance.now()) : requestAnimationFrame(tick);
  tick();
})"""


def start(root: Path, port: int) -> subprocess.Popen:
    """The app of `root` (this tree or a worktree) through its scripts/serve, once its health check answers."""
    return start_app(port, log_path=Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_interactions_{port}.log", root=root)


def worktree(ref: str) -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"attention_lens_before_{ref}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), ref], check=True,
                       capture_output=True)
    return path


def quiet(page, seconds: float = 1.5, limit: float = 20) -> None:
    """Wait until no websocket frame has arrived for `seconds`, counted from this call at the earliest (a view drawn
    by the browser before the server answers must not end the wait before the answer came)."""
    deadline = time.time() + limit
    start = page.evaluate("() => performance.now()")
    while time.time() < deadline:
        last = page.evaluate("(start) => { const f = window.__frames.filter(x => x[0] === 'in'); return performance.now() - Math.max(start, f.length ? f[f.length - 1][1] : 0); }", start)
        if last > seconds * 1000:
            return
        page.wait_for_timeout(100)


def measure(page, act, kind: str, wanted) -> dict:
    """Run `act` (which records window.__t0 itself, right before the action) and time the paint of `wanted`."""
    page.evaluate("() => { window.__frames.length = 0; window.__oldLinks = [...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean).map(r => r.querySelector('.tl-root')).find(Boolean); }")
    watcher = page.evaluate_handle(f"(args) => {{ window.__painted = null; ({WATCH_JS})(args).then(t => window.__painted = t); }}", [kind, wanted])
    act()
    page.wait_for_function("() => window.__painted !== null", timeout=30_000, polling=20)
    quiet(page, 1.0)
    t0, painted, frames = page.evaluate("() => [window.__t0, window.__painted, window.__frames]")
    watcher.dispose()
    sent = [f for f in frames if f[0] == "out" and f[1] >= t0]
    received = [f for f in frames if f[0] == "in" and f[1] >= t0]
    before_paint = [f for f in received if f[1] <= painted]
    first_out = sent[0][1] if sent else None
    server = wire = None
    if first_out is not None and before_paint and before_paint[0][1] >= first_out:
        server = before_paint[0][1] - first_out
        wire = before_paint[-1][1] - before_paint[0][1]
    draw = painted - (before_paint[-1][1] if before_paint else t0)
    answers = [f for f in received if first_out is not None and f[1] >= first_out]
    # the server's work for the change, painted or not: from the change sent to its first and its last frame back
    # (the last is the fragment rerun's end, or the end of the prefetch round it starts, whichever comes later)
    first = answers[0][1] - first_out if answers else None
    last = answers[-1][1] - first_out if answers else None
    return {"ms": painted - t0, "bytes": sum(f[2] for f in received), "server": server, "wire": wire, "draw": draw,
            "first": first, "last": last}


def native(page, label: str, key: str, steps: int) -> bool:
    """A component's own <select> (after): focus it, then the key press that picks the next option is the action."""
    box = page.get_by_label(label, exact=True).first
    if box.evaluate("node => node.tagName") != "SELECT":
        return False
    box.focus()
    page.wait_for_timeout(150)
    page.evaluate("() => { window.__t0 = performance.now(); }")
    for _ in range(steps):
        page.keyboard.press(key)
    return True


def pick(page, label: str, steps: int) -> None:
    """Open the selectbox `label`, move `steps` options down, then press Enter: the action, timed from here (a native
    <select> changes on the arrow key itself: the action is that key press)."""
    key = "ArrowDown" if steps > 0 else "ArrowUp"
    if native(page, label, key, abs(steps)):
        return
    box = page.get_by_label(label, exact=True).first
    box.click()
    page.wait_for_timeout(250)
    for _ in range(abs(steps)):
        page.keyboard.press(key)
    page.wait_for_timeout(150)
    page.evaluate("() => { window.__t0 = performance.now(); }")
    page.keyboard.press("Enter")


def home(page, base: str, text: str, reps: int) -> dict[str, list[dict]]:
    page.goto(f"{base}/?{urlencode({'text': text, 'model': 'minilm', 'layer': 0, 'head': 0})}")
    page.wait_for_function(f"({WATCH_JS})(['head', 'Layer 0 · Head 0']).then(() => true)", timeout=120_000)
    quiet(page)
    rows: dict[str, list[dict]] = {"home head": [], "home layer": [], "home grid": []}
    layer, head = 0, 0
    for _ in range(reps):
        head += 1
        rows["home head"].append(measure(page, lambda: pick(page, "Head", 1), "head", f"Layer {layer} · Head {head}"))
        quiet(page)
    for _ in range(reps):
        layer = (layer + 1) % 6
        steps = 1 if layer else -5
        rows["home layer"].append(measure(page, lambda: pick(page, "Layer", steps) if steps > 0 else pick_up(page, "Layer", 5),
                                          "head", f"Layer {layer} · Head {head}"))
        quiet(page)
    for _ in range(reps):
        head = (head + 1) % 12
        rows["home grid"].append(measure(page, lambda: click_grid(page, layer, head), "head", f"Layer {layer} · Head {head}"))
        quiet(page)
    return rows


def pick_up(page, label: str, steps: int) -> None:
    """pick() upwards: `steps` options up."""
    pick(page, label, -steps)


def click_grid(page, layer: int, head: int) -> None:
    """Click the centre of tile (layer, head) of the grid canvas, dispatched in the page (its geometry read there)."""
    page.evaluate("""([layer, head]) => {
      const roots = [...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean);
      const canvas = roots.map(r => r.querySelector('.hg-canvas')).find(Boolean);
      const box = canvas.getBoundingClientRect();
      // the grid's geometry, as grid.js lays it out (left, top margins; tile + gap), from the canvas size
      const heads = 12, layers = 6, gap = 4;
      const lefts = [46, 30], tops = [38, 22];
      let found = null;
      for (let i = 0; i < 2 && !found; i++) {
        const tile = (box.width - lefts[i]) / heads - gap;
        if (Math.abs(tops[i] + layers * (tile + gap) - box.height) < 2) found = [lefts[i], tops[i], tile];
      }
      const [left, top, tile] = found;
      const x = box.left + left + head * (tile + gap) + tile / 2, y = box.top + top + layer * (tile + gap) + tile / 2;
      window.__t0 = performance.now();
      canvas.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: x, clientY: y}));
    }""", [layer, head])


def links(page, base: str, text: str, reps: int) -> dict[str, list[dict]]:
    page.goto(f"{base}/token_links?{urlencode({'text': text, 'model': 'minilm', 'layer': 0, 'mode': 'heads', 'threshold': 0.1})}")
    page.wait_for_function("() => [...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean).some(r => r.querySelector('.tl-root .tl-status'))", timeout=120_000)
    quiet(page)
    rows: dict[str, list[dict]] = {"links layer": [], "links head": []}
    for index in range(reps):
        rows["links layer"].append(measure(page, lambda: pick(page, "Layer", 1), "links", {"shown": "0,1,2,3,4,5,6,7,8,9,10,11", "layer": index + 1}))
        quiet(page)
    shown = set(range(12))
    for index in range(reps):
        shown ^= {index}
        wanted = ",".join(map(str, sorted(shown)))

        def toggle(index=index) -> None:
            page.evaluate("""(index) => {
              const roots = [...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean);
              const square = roots.map(r => r.querySelector(`.tl-head[data-head='${index}']`)).find(Boolean);
              window.__t0 = performance.now();
              square.click();
            }""", index)
        rows["links head"].append(measure(page, toggle, "links", {"shown": wanted, "layer": None}))
        quiet(page)
    return rows


def _head_box(page, url: str, name: str, title: str, reps: int) -> dict[str, list[dict]]:
    """Open `url` on head 0, then pick heads 1 … reps in its Head box: each the time to `title` of that head painted."""
    page.goto(url)
    page.wait_for_function(f"({WATCH_JS})(['head', '{title.format(head=0)}']).then(() => true)", timeout=180_000)
    quiet(page)
    rows: dict[str, list[dict]] = {name: []}
    for head in range(1, reps + 1):
        rows[name].append(measure(page, lambda: pick(page, "Head", 1), "head", title.format(head=head)))
        quiet(page)
    return rows


def compare(page, base: str, text: str, reps: int) -> dict[str, list[dict]]:
    """Compare (two sentences, one model): the Head box -> A − B of the new head painted."""
    variant = text.rsplit(" ", 1)[0] + " again."
    query = urlencode({'text': text, 'text_b': variant, 'model': 'minilm', 'mode': 'sentences', 'layer': 0, 'head': 0})
    return _head_box(page, f"{base}/compare?{query}", "compare head", "A − B · Layer 0 · Head {head}", reps)


def stats(page, base: str, text: str, reps: int) -> dict[str, list[dict]]:
    """Head stats (one sentence): the Head box -> the new head's heatmap painted."""
    query = urlencode({'text': text, 'model': 'minilm', 'mode': 'sentence', 'layer': 0, 'head': 0})
    return _head_box(page, f"{base}/head_stats?{query}", "stats head", "Layer 0 · Head {head}", reps)


VIEWS = (home, links, compare, stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--views", default=",".join(view.__name__ for view in VIEWS), help="e.g. home,links")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="token counts, e.g. 128,512")
    args = parser.parse_args()
    views = [view for view in VIEWS if view.__name__ in args.views.split(",")]
    sizes = [int(size) for size in args.sizes.split(",")]
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    roots = {"before": worktree(args.before), "after": ROOT}
    ports = {name: free_port() for name in roots}
    apps = {name: start(root, ports[name]) for name, root in roots.items()}
    rng = random.Random(19)
    results: dict[tuple[str, int, str], list[dict]] = {}
    try:
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name in apps:   # warm: model loaded, scripts compiled
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{ports[name]}/?text=warm+up&model=minilm")
                page.wait_for_timeout(8000)
                page.close()
            for size in sizes:
                for name in apps:
                    for view in views:
                        context = browser.new_context(viewport={"width": 1400, "height": 1000})
                        context.add_init_script(RECORDER)
                        page = context.new_page()
                        try:
                            for interaction, rows in view(page, f"http://127.0.0.1:{ports[name]}", fresh_text(size, rng), args.reps).items():
                                results[(interaction, size, name)] = rows
                        except Exception as error:   # report and go on with the other rows
                            print(f"{name} {size} {view.__name__}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
                            page.screenshot(path=f"/tmp/bench_interactions_{name}_{size}_{view.__name__}.png", full_page=True)
                        finally:
                            context.close()
            browser.close()
    finally:
        for app in apps.values():
            stop(app)

    med = lambda values: statistics.median(values) if values else float("nan")
    fmt = lambda value: "-" if value is None or value != value else f"{value:.0f}"
    rows = []
    for interaction in ("home head", "home layer", "home grid", "links layer", "links head", "compare head", "stats head"):
        for size in SIZES:
            before, after = results.get((interaction, size, "before"), []), results.get((interaction, size, "after"), [])
            if not (before or after):
                continue
            split = lambda part: med([r[part] for r in after if r[part] is not None]) if any(r[part] is not None for r in after) else None
            ms_after = med([r["ms"] for r in after])
            rows.append([interaction, str(size), fmt(med([r["ms"] for r in before])), f"{med([r['bytes'] for r in before]) / 1024:.0f}",
                         fmt(ms_after), f"{med([r['bytes'] for r in after]) / 1024:.0f}",
                         f"{fmt(split('server'))} / {fmt(split('wire'))} / {fmt(split('draw'))}", f"{fmt(split('first'))} / {fmt(split('last'))}",
                         f"≤ {GOAL_MS[size]}", verdict(ms_after <= GOAL_MS[size])])
    print(f"\nbefore: worktree of {args.before}; after: this tree. Median of {args.reps} changes each (ms from the action to "
          "the new view painted; KB received over the websocket for the change)")
    print(table(["interaction", "tokens", "before ms", "before KB", "after ms", "after KB", "after server/wire/draw ms",
                 "server first / last frame ms", "goal", ""], rows))
    print("\nall changes (after, ms):")
    for (interaction, size, name), values in sorted(results.items()):
        print(f"  {name:6} {interaction:11} {size:3}: {', '.join(format(r['ms'], '.0f') for r in values)}")
    print(f"\nwhole bench {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
