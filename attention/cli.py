"""The `attention-lens` command (installed by `pip install -e .`): `attention-lens` or `attention-lens run` starts
the app. Each subcommand is one entry of COMMANDS: a name, a help line, how to add its arguments, what it runs.

The core never imports streamlit: `run` starts `python -m streamlit run app.py` as a child process.
Every command that writes a file writes it whole or not at all (a temporary file beside it, then renamed), and bad
input (unknown model, empty text, a path that cannot be written) ends with a message and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import tempfile
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from attention.run.export import write_whole


@dataclass(frozen=True)
class Command:
    """One subcommand: `add` declares its arguments on its parser, `run` does the work and returns an exit code."""

    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    passthrough: str | None = None   # the argument that receives everything after the subcommand's name, unparsed


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


def _writable(out: str) -> Path:
    """The output path, checked before any model is loaded: its folder exists and is a folder; ValueError otherwise."""
    target = Path(out).expanduser()
    if target.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name.")
    if not target.parent.is_dir():
        raise ValueError(f"Cannot write {out}: the folder {target.parent} does not exist.")
    if not os.access(target.parent, os.W_OK):
        raise ValueError(f"Cannot write {out}: the folder {target.parent} is not writable.")
    return target


def _add_text_and_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the text to run (quote it)")
    parser.add_argument("--model", default="minilm",
                        help="minilm (default), scratch, scratch:minilm, or a Hugging Face id / local folder")
    parser.add_argument("--max-tokens", type=int, default=None, help="read at most this many tokens of the text")


def _attend(args: argparse.Namespace):
    from attention import attend   # imported here: `attention-lens --help` stays instant

    options = {} if args.max_tokens is None else {"max_tokens": args.max_tokens}
    return attend(args.text, args.model, **options)


def _add_export(parser: argparse.ArgumentParser) -> None:
    _add_text_and_model(parser)
    parser.add_argument("--out", default="view.html", help="the HTML file to write (default view.html)")
    parser.add_argument("--layer", type=int, default=0, help="the head opened first: layer (0-based, default 0)")
    parser.add_argument("--head", type=int, default=0, help="the head opened first: head (0-based, default 0)")
    parser.add_argument("--threshold", type=float, default=0.1, help="token links drawn at or above this weight (default 0.1)")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=None,
                        help="precision of the weights in the file (default: 16 for small texts, else 8)")


def _export(args: argparse.Namespace) -> int:
    target = _writable(args.out)
    if not 0.0 < args.threshold <= 1.0:
        raise ValueError("--threshold must be above 0 and at most 1.")
    from attention import export

    result = _attend(args)
    path = export.view_file(result, target, text=args.text, layer=args.layer, head=args.head, threshold=args.threshold,
                            bits=args.bits)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB): {result.n_tokens} tokens, "
          f"{result.n_layers} layers × {result.n_heads} heads; open it in any browser, offline")
    return 0


FORMATS = ("npz", "json", "csv")


def _add_attend(parser: argparse.ArgumentParser) -> None:
    _add_text_and_model(parser)
    parser.add_argument("--format", choices=FORMATS, default=None, help="npz, json or csv (default: from --out's suffix)")
    parser.add_argument("--out", required=True, help="the file to write (weights [layer, head, query, key], tokens, model)")


def _attend_command(args: argparse.Namespace) -> int:
    target = _writable(args.out)
    kind = args.format or target.suffix.lstrip(".").lower()
    if kind not in FORMATS:
        raise ValueError(f"Cannot tell the format from {args.out!r}: give --format npz, json or csv.")
    from attention import export

    result = _attend(args)
    data = {"npz": export.to_npz, "json": lambda r: export.to_json(r).encode("utf-8"),
            "csv": lambda r: export.to_csv(r).encode("utf-8")}[kind](result)
    write_whole(target, data)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(f"{target} ({len(data) / 1e6:.2f} MB, {kind}): {result.n_tokens} tokens, "
          f"{result.n_layers} layers × {result.n_heads} heads")
    return 0


def _add_corpus(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_args", nargs=argparse.REMAINDER,
                        help="as `python -m attention.corpus`: FILE [--model M] [--out stats.parquet] [--column C] "
                             "[--batch-size N] [--max-tokens N] [--limit N] [--ray ADDRESS]; `corpus --help` for details")


def _corpus(args: argparse.Namespace) -> int:
    from attention.analyses import corpus

    argv = list(args.corpus_args)
    if not argv or argv[0] in ("-h", "--help"):
        return corpus.main(argv or ["--help"])
    # the statistics go to a temporary file with the same suffix (it picks the format), renamed once complete
    out = argv[argv.index("--out") + 1] if "--out" in argv[:-1] else "stats.parquet"
    target = _writable(out)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(handle)
    try:
        if "--out" in argv[:-1]:
            argv[argv.index("--out") + 1] = temporary
        else:
            argv += ["--out", temporary]
        code = corpus.main(argv)
        if code == 0:
            os.replace(temporary, target)
        return code
    finally:
        Path(temporary).unlink(missing_ok=True)


COMMANDS: dict[str, Command] = {
    "run": Command("start the app (the default; extra arguments go to `streamlit run`)", _add_run, _run, "streamlit_args"),
    "export": Command("write one interactive HTML file of a text's attention that works offline", _add_export, _export),
    "attend": Command("write a text's attention weights as NPZ, JSON or CSV", _add_attend, _attend_command),
    "corpus": Command("per-head statistics over a corpus (locally or on Ray), as `python -m attention.corpus`",
                      _add_corpus, _corpus),
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
    # argparse's REMAINDER stops at a leading option (`run --server.port 8502` would be refused), so a passthrough
    # command takes everything after its name as it is
    args, extra = parser().parse_known_args(argv)
    passthrough = COMMANDS[args.command].passthrough if args.command else None
    if passthrough:
        setattr(args, passthrough, argv[1:])   # argv[0] is the subcommand
    elif extra:
        parser().error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return COMMANDS[args.command].run(args)
    except ValueError as error:
        print(f"attention-lens: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
