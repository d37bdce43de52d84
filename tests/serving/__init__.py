"""Start the app as it is served (through scripts/serve) for the tests and the benchmarks, and the settings
for Debian's headless Chromium that both use. Test and bench support: it lives under tests/ and is installed by
`pip install -e .` (pyproject.toml), so tests and benches import it as `serving` without touching sys.path."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # tests/serving/__init__.py -> the repository
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int, env: dict | None = None, log_path: Path | None = None, root: Path = ROOT) -> subprocess.Popen:
    """The app of `root` (this repository, or e.g. a worktree of an older commit for a before/after bench) through its
    deployment entry script (scripts/serve) on 127.0.0.1:port; returns once its health check answers ok. Its output goes
    to `log_path` (a temporary file when not given)."""
    log_path = log_path or Path(tempfile.mkstemp(prefix="attention-lens-", suffix=".log")[1])
    settings = {**os.environ, "PORT": str(port), "ADDRESS": "127.0.0.1", "PYTHON": sys.executable, **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(root / "scripts" / "serve"), "--browser.gatherUsageStats", "false"],
                                   cwd=root, env=settings, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the app did not start: " + log_path.read_text(errors="replace")[-2000:])


def stop(process: subprocess.Popen) -> None:
    """Stop a started app, forcefully if it does not end within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
