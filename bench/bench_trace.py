"""trace() against attend(), and the Learn pages' server time per rerun before and after they read one trace.

    .venv/bin/python bench/bench_trace.py [--reps 9] [--page-reps 5] [--before <git ref>]

1. Per repetition one fresh random text of exactly 128 or 512 tokens (no cache helps) is run by attend(text,
   "scratch:minilm") and trace(text, "scratch:minilm"), interleaved and alternating which goes first. Goal: the median
   of the paired ratios trace / attend ≤ 1.15. trace + head_writes (the one lazily computed field) is shown too.
2. Step by step and Multi-head opened in Streamlit's AppTest on a fresh 100-token text, median of `page-reps` runs,
   in this checkout and in a worktree of `--before` (default 9aa2cfa, before the trace), each in its own process.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, fresh_text, median_ms, table, verdict

GOAL = 1.15
PAGES = ("step_by_step", "multi_head")


def engine_ratios(reps: int) -> list[list[str]]:
    from attention import attend, trace

    rng = random.Random(11)
    rows = []
    for size in (128, 512):
        for _ in range(2):   # warm-up: models loaded, allocator warm
            text = fresh_text(size, rng)
            attend(text, "scratch:minilm"), trace(fresh_text(size, rng), "scratch:minilm")
        times = {"attend": [], "trace": [], "trace+writes": []}
        ratios = []
        for rep in range(reps):
            a_text, t_text, w_text = fresh_text(size, rng), fresh_text(size, rng), fresh_text(size, rng)
            runs = [("attend", lambda: attend(a_text, "scratch:minilm")), ("trace", lambda: trace(t_text, "scratch:minilm")),
                    ("trace+writes", lambda: trace(w_text, "scratch:minilm").head_writes)]
            for name, call in (runs if rep % 2 == 0 else runs[::-1]):
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
            ratios.append(times["trace"][-1] / times["attend"][-1])
        ratio = statistics.median(ratios)
        rows.append([str(size), f"{median_ms(times['attend']):.0f}", f"{median_ms(times['trace']):.0f}",
                     f"{median_ms(times['trace+writes']):.0f}", f"{ratio:.2f}", verdict(ratio <= GOAL)])
    return rows


def page_times(root: Path, reps: int) -> dict[str, float]:
    """Median AppTest run time (ms) of each Learn page on fresh texts, in the checkout at `root` (own process)."""
    script = f"""
import json, random, statistics, sys, time
sys.path.insert(0, {str(root)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})
from streamlit.testing.v1 import AppTest
from common import fresh_text
rng = random.Random(5)
out = {{}}
for page in {list(PAGES)!r}:
    times = []
    for rep in range({reps} + 1):
        app = AppTest.from_file({str(root / 'app.py')!r}, default_timeout=300)
        app.query_params["text"] = fresh_text(100, rng)
        app.query_params["model"] = "scratch:minilm"
        app.switch_page(f"pages/{{page}}.py")
        started = time.perf_counter()
        app.run()
        elapsed = time.perf_counter() - started
        assert not app.exception, [e.value for e in app.exception]
        if rep:   # the first run loads the model
            times.append(elapsed)
    out[page] = 1000 * statistics.median(times)
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--page-reps", type=int, default=5)
    parser.add_argument("--before", default="9aa2cfa")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()
    print(f"trace() vs attend() on scratch:minilm, fresh texts, median of {args.reps} (goal: ratio ≤ {GOAL})")
    print(table(["tokens", "attend ms", "trace ms", "trace+head_writes ms", "trace/attend", "goal"], engine_ratios(args.reps)))
    if args.skip_pages:
        return
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True, capture_output=True)
        try:
            rows = []
            old, new = page_times(before, args.page_reps), page_times(ROOT, args.page_reps)
            for page in PAGES:
                rows.append([page, f"{old[page]:.0f}", f"{new[page]:.0f}", f"{new[page] / old[page]:.2f}"])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    print(f"\nLearn pages: server time of one run on a fresh 100-token text (AppTest), median of {args.page_reps}")
    print(table(["page", f"before ({args.before}) ms", "now ms", "now/before"], rows))


if __name__ == "__main__":
    main()
