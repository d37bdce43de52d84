"""The `attention-lens` command (installed by `pip install -e .`): `attention-lens` or `attention-lens run` starts
the app. Each subcommand is one entry of COMMANDS: a name, a help line, how to add its arguments, what it runs.

The core never imports streamlit: `run` starts `python -m streamlit run app.py` as a child process.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Command:
    """One subcommand: `add` declares its arguments on its parser, `run` does the work and returns an exit code."""

    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def app_path() -> Path:
    """app.py, which sits next to the `ui` package (the app side) in the repository; ValueError when it is missing."""
    spec = importlib.util.find_spec("ui")   # found, not imported: importing ui would import streamlit
    if spec is None or spec.origin is None:
        raise ValueError("The app side (the ui package) is not installed; run `pip install -e .` in the repository.")
    path = Path(spec.origin).resolve().parent.parent / "app.py"
    if not path.is_file():
        raise ValueError(f"app.py was not found next to the ui package ({path.parent}); "
                         "the app runs from a checkout of the repository (`pip install -e .`).")
    return path


def _add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("streamlit_args", nargs=argparse.REMAINDER,
                        help="passed on to `streamlit run`, e.g. --server.port 8502")


def _run(args: argparse.Namespace) -> int:
    app = app_path()
    command = [sys.executable, "-m", "streamlit", "run", str(app), *args.streamlit_args]
    return subprocess.call(command, cwd=app.parent)


COMMANDS: dict[str, Command] = {
    "run": Command("start the app (the default; extra arguments go to `streamlit run`)", _add_run, _run),
}
DEFAULT = "run"


def parser() -> argparse.ArgumentParser:
    """The command line: one subparser per entry of COMMANDS."""
    top = argparse.ArgumentParser(prog="attention-lens", description="Attention Lens: see self-attention.")
    commands = top.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    for name, command in COMMANDS.items():
        command.add(commands.add_parser(name, help=command.help, description=command.help))
    return top


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and run the subcommand; no subcommand starts the app."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = [DEFAULT, *argv]   # `attention-lens --server.port 8502` starts the app too
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except ValueError as error:
        print(f"attention-lens: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
