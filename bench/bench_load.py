"""Many visitors at once: concurrent headless-Chromium sessions against one app process.

    .venv/bin/python bench/bench_load.py [--sessions 20] [--waves 3] [--tokens 48]

Starts the app through scripts/serve, warms it (the model loads once), then runs waves of N concurrent
sessions, each in its own browser context opening its own share URL with its own fresh sentence. Each must
see its own tokens in the head view and no error. Prints p50/p95 time to first plot, the server's memory
growth (RSS of the app process, after warm-up to the end), and how many sessions per minute one process serves.
Goals (issue 8): all sessions correct, memory growth ≤ 300 MB.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from pathlib import Path
from urllib.parse import urlencode

from common import CHROMIUM, CHROMIUM_ARGS, fresh_text, free_port, start_app, stop, table, tokenizer, verdict

VIEW_JS = """(wanted) => {
    if (document.querySelector('[data-testid="stException"]')) return 'exception';
    const roots = [document, ...[...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)];
    for (const root of roots)
        for (const view of root.querySelectorAll('.hm-root[data-ready="true"]'))
            if ([...view.querySelectorAll('.hm-tokens li')].some(li => li.textContent === wanted)) return 'ok';
    return false;
}"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def visit(browser, base: str, text: str, marker: str) -> tuple[float, str]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    start = time.perf_counter()
    try:
        await page.goto(f"{base}/?{urlencode({'text': text, 'model': 'minilm', 'layer': 2, 'head': 4})}")
        handle = await page.wait_for_function(VIEW_JS, arg=marker, timeout=180_000, polling=100)
        outcome = await handle.json_value()
        return time.perf_counter() - start, "ok" if outcome == "ok" else str(outcome)
    except Exception as error:  # a failed session is counted, not fatal
        return time.perf_counter() - start, f"{type(error).__name__}: {str(error)[:120]}"
    finally:
        await context.close()


async def run(sessions: int, waves: int, tokens: int) -> None:
    from playwright.async_api import async_playwright

    rng = random.Random(7)
    tokenizer()
    port = free_port()
    process = start_app(port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            warm_text = fresh_text(tokens, rng)
            await visit(browser, base, warm_text, warm_text.split()[0])
            before = rss_mb(process.pid)
            times, failures, peak = [], [], before
            started = time.perf_counter()
            for _ in range(waves):
                texts = [fresh_text(tokens, rng) for _ in range(sessions)]
                results = await asyncio.gather(*(visit(browser, base, t, t.split()[0]) for t in texts))
                peak = max(peak, rss_mb(process.pid))
                for seconds, outcome in results:
                    (times if outcome == "ok" else failures).append(seconds if outcome == "ok" else outcome)
            elapsed = time.perf_counter() - started
            after = rss_mb(process.pid)
            await browser.close()
    finally:
        stop(process)
    total = sessions * waves
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [float("nan")] * 19
    print(f"bench_load: {waves} waves of {sessions} concurrent sessions, {tokens}-token fresh sentences, model minilm\n")
    print(table(
        ["sessions", "correct", "p50 first plot s", "p95 first plot s", "RSS before MB", "RSS peak MB", "growth MB", "sessions/min", "goal"],
        [[str(total), f"{len(times)}/{total}", f"{statistics.median(times):.2f}" if times else "-", f"{q[18]:.2f}",
          f"{before:.0f}", f"{peak:.0f}", f"{max(peak, after) - before:.0f}", f"{60 * total / elapsed:.0f}",
          verdict(len(times) == total and max(peak, after) - before <= 300)]],
    ))
    for failure in failures[:5]:
        print("  failed session:", failure)
    print("\n  each session: its own browser context and share URL; correct = its own first word drawn in the head view")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.waves, args.tokens))


if __name__ == "__main__":
    main()
