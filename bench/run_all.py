"""Run every benchmark in turn (each in its own process) and print their reports: `make bench`."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_speed.py", "bench_browser.py", "bench_load.py", "bench_links.py", "bench_patterns.py", "bench_corpus.py",
           "bench_offline_file.py"]


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n{'=' * 30} {name} {'=' * 30}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / name)], cwd=HERE.parent)
        print(f"--- {name}: exit {done.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
