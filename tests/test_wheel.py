"""The wheel runs by itself. Built from this checkout, installed into a fresh virtual environment with no checkout on
its path (the dependencies come from this test venv through a .pth file: nothing is downloaded), it gives
`import attention`, every `attention-lens` command, and the app served from the installed copy: a health check and
the first page drawn in Chromium."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from serving import free_port

# what the build reads; the rest of the checkout (its venv, git, artifacts, docs, bench) stays out of the copy
SKIP = shutil.ignore_patterns(".venv", ".git", ".cache", "artifacts", "build", "dist", "site", "*.egg-info", "__pycache__",
                              ".pytest_cache", "bench", "docs", "examples", "*.whl")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel --no-deps` of a copy of the checkout (the copy keeps the build's scratch folder out of the tree)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIP)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(folder / "dist")], check=True, capture_output=True, cwd=folder, timeout=300)
    found, = (folder / "dist").glob("attention_lens-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    """A fresh venv with the wheel installed: bin/, its site-packages, a work folder outside any checkout."""
    started = time.perf_counter()
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True, timeout=120)
    python = folder / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies: this test venv's site-packages, appended after the venv's own (a .pth line adds a folder to
    # sys.path; the .pth files inside it, such as the editable install's finder, are not run)
    (site / "test-venv-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = folder / "work"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PATH=f"{python.parent}:{env.get('PATH', '')}")
    return {"bin": python.parent, "site": site, "work": work, "env": env, "install": time.perf_counter() - started}


def run(venv: dict, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(venv["bin"] / command[0]), *command[1:]], cwd=venv["work"], env=venv["env"],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_wheel_carries_the_core_the_app_and_its_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = sorted(path.name for path in (ROOT / "pages").glob("*.py"))
    assert {"attention/__init__.py", "attention/cli.py", "ui/__init__.py", "figures/__init__.py",
            "attention_lens_app/app.py", "attention_lens_app/.streamlit/config.toml", "attention_lens_app/assets/icon.png",
            "attention/data/sample_corpus.txt", "views/heatmap/heatmap.js"} <= names
    assert {f"attention_lens_app/pages/{name}" for name in pages} <= names
    assert (ROOT / "attention_lens_app" / "app.py").resolve() == ROOT / "app.py"   # the checkout: one copy, linked
    assert not any(name.startswith(("tests/", "docs/", "bench/")) for name in names)


def test_import_and_version_come_from_the_installed_wheel(venv):
    found = json.loads(run(venv, "python", "-c", "import json, sys, attention, attention.cli as cli; print(json.dumps("
                           "{'file': attention.__file__, 'app': str(cli.app_path()), 'path': sys.path, "
                           "'drawing': sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly'))}))").stdout)
    assert found["file"].startswith(str(venv["site"])) and found["app"].startswith(str(venv["site"]))
    assert not any(entry.startswith(str(ROOT)) and ".venv" not in entry for entry in found["path"])   # no checkout
    assert found["drawing"] == []
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run(venv, "attention-lens", "--version").stdout.strip() == f"attention-lens {version}"


def test_every_command_runs_from_the_wheel(venv):
    work = venv["work"]
    run(venv, "attention-lens", "attend", "The cat sat on the mat.", "--model", "scratch", "--out", "weights.npz")
    with np.load(work / "weights.npz") as saved:
        assert saved["weights"].shape[:2] == (2, 4)   # scratch: 2 layers × 4 heads
    run(venv, "attention-lens", "export", "The cat sat on the mat.", "--model", "scratch", "--out", "view.html")
    assert "Content-Security-Policy" in (work / "view.html").read_text()   # the offline file, whole
    (work / "corpus.txt").write_text("The cat sat.\nA dog barked twice.\n")
    run(venv, "attention-lens", "corpus", "corpus.txt", "--model", "scratch", "--out", "stats.csv")
    assert len((work / "stats.csv").read_text().splitlines()) == 1 + 2 * 2 * 4   # header + sentence × layer × head
    assert "run" in run(venv, "attention-lens", "--help").stdout


@pytest.mark.browser
def test_the_app_starts_from_the_wheel_and_draws_its_first_page(venv, page, artifacts):
    port, started = free_port(), time.perf_counter()
    log = open(venv["work"] / "app.log", "wb")
    process = subprocess.Popen([str(venv["bin"] / "attention-lens"), "run", "--server.port", str(port),
                                "--server.address", "127.0.0.1"], cwd=venv["work"], env=venv["env"], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, healthy = time.time() + 120, False
        while time.time() < deadline and process.poll() is None and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    healthy = answer.read().strip() == b"ok"
            except OSError:
                time.sleep(0.3)
        assert healthy, (venv["work"] / "app.log").read_text(errors="replace")[-3000:]
        page.goto(f"http://127.0.0.1:{port}/?text=Installed+from+a+wheel.&model=minilm")
        page.locator(".hm-root[data-ready='true']").first.wait_for(timeout=120_000)   # the head heatmap, drawn
        assert "installed" in page.locator(".hm-tokens li").all_text_contents()
        first_page = time.perf_counter() - started
        page.screenshot(path=str(artifacts / "wheel-first-page.png"))
        (artifacts / "wheel.txt").write_text(f"fresh venv + wheel installed: {venv['install']:.1f} s; `attention-lens run` "
                                             f"to the first page drawn: {first_page:.1f} s\n")
    finally:   # the whole session: `attention-lens run` waits on its streamlit child, which must stop too
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
