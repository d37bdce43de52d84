"""`attention-lens` / `attention-lens run`: start the app (app.py next to the ui package), passing arguments to streamlit."""
from __future__ import annotations

import sys

import pytest

from attention import cli
from conftest import ROOT


@pytest.fixture
def started(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command, cwd=None: calls.append((command, cwd)) or 0)
    return calls


@pytest.mark.parametrize("argv, passed", [
    ([], []),
    (["run"], []),
    (["--server.port", "8502"], ["--server.port", "8502"]),                  # no subcommand: run, options and all
    (["run", "--server.port", "8502", "--server.headless", "true"], ["--server.port", "8502", "--server.headless", "true"]),
])
def test_run_starts_streamlit_on_the_repositorys_app(started, argv, passed):
    assert cli.main(argv) == 0
    (command, cwd), = started
    assert command == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), *passed] and cwd == ROOT
    assert cli.app_path() == ROOT / "app.py"


def test_help_lists_run(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--help"])
    assert stopped.value.code == 0 and "run" in capsys.readouterr().out
