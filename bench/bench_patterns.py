"""Cost and quality of sparse attention patterns: time and peak memory vs length, growth exponents, quality on real weights.

    .venv/bin/python bench/bench_patterns.py [--reps 3] [--threads 1] [--longest 8192] [--save]

Cost: one forward pass of the scratch engine (2 layers × 4 heads, d_model 64, fixed sine/cosine positions so it
reads any length) on random token ids of 128, 256, … 8,192 tokens, for full attention and each pattern, with
keep_weights=False (no dense n × n weights are built for display; full attention needs its n × n matrix anyway).
Time: the fastest of --reps runs (one warm-up per pattern), as wall-clock and as the process's CPU time; on a
shared machine wall-clock time swings with other processes' load, CPU time (one thread by default) much less, so
the growth exponents are fitted on CPU time. Peak memory: the process's resident high-water mark (VmHWM, reset
through /proc/self/clear_refs before each run) minus the resident size before the run; glibc is told to return
large blocks to the system at once, so freed memory from an earlier run cannot hide a new peak.
Growth exponent: the slope of log(cost) against log(length) over the lengths ≥ 1,024 (short runs are overhead-bound).
Quality: scratch:minilm on a fresh 512-token text, each pattern vs full attention per layer (attention/efficient.py).
--save writes attention/data/bench_patterns.json, which the "Efficient attention" page draws.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import random
import re
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, fresh_text, table

PATTERNS = {   # the options each pattern runs with in the cost table (window 64: 129 keys per query)
    "full": {}, "sliding": {"window": 64}, "dilated": {"window": 128, "dilation": 2},
    "longformer": {"window": 64, "global_tokens": [0]},
    "bigbird": {"window": 64, "global_tokens": [0], "block": 64, "random_blocks": 2},
    "probsparse": {},
}
QUALITY = {   # display-sized options for the 512-token quality check
    "sliding w=32": {"pattern": "sliding", "window": 32}, "dilated w=64 d=2": {"pattern": "dilated", "window": 64, "dilation": 2},
    "longformer w=32 +CLS": {"pattern": "longformer", "window": 32, "global_tokens": [0]},
    "bigbird w=32 b=16 r=2": {"pattern": "bigbird", "window": 32, "global_tokens": [0], "block": 16, "random_blocks": 2},
    "probsparse u=32": {"pattern": "probsparse", "u": 32}, "probsparse u=128": {"pattern": "probsparse", "u": 128},
}


def _status(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))   # kB


def measure(run, reps: int) -> tuple[float, float, float]:
    """(fastest wall ms, fastest CPU ms, peak MB above the resident size before the run)."""
    walls, cpus, peaks = [], [], []
    for _ in range(reps):
        Path("/proc/self/clear_refs").write_text("5")   # reset the high-water mark to the current resident size
        before = _status("VmRSS")
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        peaks.append((_status("VmHWM") - before) / 1024)
    return 1000 * min(walls), 1000 * min(cpus), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--longest", type=int, default=8192)
    parser.add_argument("--save", action="store_true", help="write attention/data/bench_patterns.json for the page")
    args = parser.parse_args()
    ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)   # M_MMAP_THRESHOLD: blocks ≥ 64 KiB come from (and go back to) the system

    import torch

    from attention.analyses.efficient import growth_exponent, pattern_quality
    from attention.engine.patterns import make_pattern
    from attention.engine.transformer import ScratchConfig, ScratchTransformer

    torch.set_num_threads(args.threads)
    lengths = [n for n in (128, 256, 512, 1024, 2048, 4096, 8192, 16384) if n <= args.longest]
    engine = ScratchTransformer.random(ScratchConfig(vocab_size=30522, max_positions=max(lengths)), seed=0)
    print(f"bench_patterns: torch {torch.__version__}, {torch.get_num_threads()} threads, scratch engine 2 layers × 4 heads "
          f"(d_head 16), fastest of {args.reps} runs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    started = time.perf_counter()
    rows = []
    for name, options in PATTERNS.items():
        pattern = replace(make_pattern(name, **options), keep_weights=False)
        with torch.inference_mode():
            engine.run(torch.zeros(1, 128, dtype=torch.long), pattern=pattern)   # warm-up
        for n in lengths:
            ids = torch.randint(30522, (1, n), generator=torch.Generator().manual_seed(n))
            with torch.inference_mode():
                wall, ms, mb = measure(lambda: engine.run(ids, pattern=pattern), args.reps if n < 4096 or name != "full" else 1)
            rows.append({"pattern": name, "options": options, "length": n, "ms": ms, "wall_ms": wall, "mb": mb})
            print(f"  {name:<11} {n:>6} tokens  {ms:9.1f} ms CPU  {wall:9.1f} ms wall  {mb:8.1f} MB", flush=True)
    fit = [n for n in lengths if n >= 1024]
    summary, exponents = [], {}
    longest = max(lengths)
    full_at = {r["length"]: r for r in rows if r["pattern"] == "full"}
    for name in PATTERNS:
        mine = {r["length"]: r for r in rows if r["pattern"] == name}
        time_exp = growth_exponent(fit, [mine[n]["ms"] for n in fit])
        memory_exp = growth_exponent(fit, [max(mine[n]["mb"], 0.1) for n in fit])
        exponents[name] = {"time": time_exp, "memory": memory_exp}
        speedup = full_at[longest]["ms"] / mine[longest]["ms"]
        saving = full_at[longest]["mb"] / max(mine[longest]["mb"], 0.1)
        wall_speedup = full_at[longest]["wall_ms"] / mine[longest]["wall_ms"]
        summary.append([name, json.dumps(PATTERNS[name]) if PATTERNS[name] else "-", *(f"{mine[n]['ms']:.0f}" for n in lengths),
                        f"{time_exp:.2f}", f"{mine[longest]['mb']:.0f}", f"{memory_exp:.2f}", f"{speedup:.1f}x",
                        f"{wall_speedup:.1f}x", f"{saving:.1f}x"])
    print("\nCPU time (ms) by length; exponents fitted over lengths ≥ 1,024; speed-up (CPU time) and memory saving vs full at", longest)
    print(table(["pattern", "options", *map(str, lengths), "time exp", f"MB @{longest}", "mem exp", "speed-up", "(wall)", "mem saving"], summary))
    ok = exponents["full"]["time"] > 1.6 and exponents["sliding"]["time"] < 1.3
    print(f"\nclaim: full grows about quadratically (time exponent {exponents['full']['time']:.2f}), sliding about linearly "
          f"({exponents['sliding']['time']:.2f}): {'PASS' if ok else 'MISS'}")

    print("\nquality on real weights: scratch:minilm, a fresh 512-token text, each pattern vs full attention, per layer 0–5")
    text = fresh_text(512, random.Random(20261125))
    quality_rows, quality = [], {}
    for label, options in QUALITY.items():
        q = pattern_quality(text, "scratch:minilm", max_tokens=512, **options)
        quality[label] = {"kl": q.kl.tolist(), "error": q.error.tolist(), "overlap": q.overlap.tolist()}
        for metric, values, fmt in (("KL(pattern‖full)", q.kl, "{:.3f}"), ("rel. output error", q.error, "{:.3f}"),
                                    (f"top-{q.top_k} overlap", q.overlap, "{:.2f}")):
            quality_rows.append([label, metric, *(fmt.format(v) for v in values)])
    print(table(["pattern", "measure", *(f"layer {i}" for i in range(6))], quality_rows))
    took = time.perf_counter() - started
    print(f"\nwhole bench {took:.0f} s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.save:
        out = ROOT / "attention" / "data" / "bench_patterns.json"
        out.parent.mkdir(exist_ok=True)
        meta = {"date": datetime.date.today().isoformat(), "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                "torch": torch.__version__, "engine": "scratch, 2 layers × 4 heads, d_head 16", "reps": args.reps,
                "load_average": os.getloadavg()[0], "seconds": round(took)}
        out.write_text(json.dumps({"meta": meta, "rows": rows, "exponents": exponents, "quality": quality}, indent=1))
        print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
