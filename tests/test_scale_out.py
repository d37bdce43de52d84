"""Scale-out: real nginx (deploy/nginx.conf.template) on loopback in front of two replicas, browsers through it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

import pytest

from conftest import ROOT, free_port, start_app, stop

pytestmark = pytest.mark.browser
WORDS = ["apple", "river", "garden", "window", "music", "silver", "ocean", "forest", "castle", "bridge", "summer", "winter"]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render(template: str, values: dict[str, str]) -> str:
    """Substitute ${NAME} the way the nginx image's envsubst step does (only the names given)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


@pytest.fixture(scope="module")
def balanced(tmp_path_factory):
    """Two replicas started by the entry script, and nginx in front; yields (url, access log path, replica ports)."""
    if not Path(NGINX).exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("nginx not found: apt-get install -y nginx")
        pytest.skip("nginx not installed (apt-get install -y nginx)")
    folder = tmp_path_factory.mktemp("nginx")
    ports = [free_port(), free_port()]
    replicas = [start_app(port) for port in ports]
    listen = free_port()
    snippet = render((ROOT / "deploy" / "nginx.conf.template").read_text(),
                     {"APP_1": f"127.0.0.1:{ports[0]}", "APP_2": f"127.0.0.1:{ports[1]}", "LISTEN_PORT": f"127.0.0.1:{listen}"})
    (folder / "lens.conf").write_text(snippet)
    temp = "".join(f"{kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{ worker_connections 512; }}\nhttp {{\n{temp}include {folder}/lens.conf;\n}}\n"
    )
    log = folder / "access.log"
    with open(log, "w") as out:
        nginx = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")], stdout=out,
                                 stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{listen}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    yield url, log, ports
    for process in (nginx, *replicas):
        stop(process)


def routes(log: Path) -> dict[str, set[str]]:
    """route key -> the replicas nginx sent its requests to."""
    seen = defaultdict(set)
    for line in log.read_text().splitlines():
        match = re.search(r"route=(\S+) upstream=(\S+)", line)
        if match and match.group(2) != "-":
            seen[match.group(1)].add(match.group(2))
    return seen


def test_sessions_through_nginx_are_sticky_and_spread_over_both_replicas(browser, balanced):
    url, log, ports = balanced
    used: set[str] = set()
    visits = 0
    while visits < 12 and (visits < 4 or len(used) < 2):
        visits += 1
        word = WORDS[visits - 1]  # whole-word tokens, a different one per session
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/?{urlencode({'text': f'Hello {word} world.', 'model': 'scratch', 'head': '1'})}")
        page.locator(".hm-title", has_text="Layer 0 · Head 1").first.wait_for(timeout=90_000)
        assert word in page.locator(".hm-tokens li").all_text_contents()  # each session sees its own text
        cookie = next(c["value"] for c in context.cookies() if c["name"] == "lens_route")
        context.close()
        time.sleep(0.2)  # let nginx write the log lines
        replicas = routes(log)[cookie]
        assert len(replicas) == 1, f"route {cookie} went to {replicas}: not sticky"
        used |= replicas
    assert used == {f"127.0.0.1:{port}" for port in ports}, f"only {used} served in {visits} visits"
    assert any("/_stcore/stream" in line for line in log.read_text().splitlines())  # websockets went through nginx
