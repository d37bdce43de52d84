"""The `attention-lens` command (installed by `pip install -e .`): `attention-lens` or `attention-lens run` starts
the app. Each subcommand is one entry of COMMANDS: a name, a help line, how to add its arguments, what it runs.

The core never imports streamlit: `run` starts `python -m streamlit run app.py` as a child process.
Rules every subcommand keeps (tests/test_cli.py holds them to it):
- an unknown subcommand is an error (exit 2, with "did you mean"); options go in any order, `--out x` or `--out=x`;
- a file's format follows --format or its suffix, and a mismatch is an error;
- a file is written whole or not at all, with the mode the user's umask gives (attention.run.export.write_whole: on
  Linux an unnamed file named only once complete, so even SIGKILL leaves nothing behind); the path printed is the
  path written;
- bad input (unknown model, empty text, out-of-range layer or head, a path that cannot be written) ends with one line
  on stderr and exit code 2, before any file is touched. With no network, an unknown model fails at once instead of
  waiting for the Hugging Face Hub's retries.
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse


@dataclass(frozen=True)
class Command:
    """One subcommand: `add` declares its arguments on its parser, `run` does the work and returns an exit code."""

    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    passthrough: str | None = None   # the argument that receives everything after the subcommand's name, unparsed


def app_path() -> Path:
    """app.py from the package attention_lens_app: in a checkout it links to the repository's own, in an installed wheel
    it is the copy the wheel carries; ValueError when the app's files are not installed."""
    spec = importlib.util.find_spec("attention_lens_app")   # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("The app's files (the attention_lens_app package) are not installed; "
                         "install the wheel, or run `pip install -e .` in the repository.")
    path = (Path(next(iter(spec.submodule_search_locations))) / "app.py").resolve()   # a checkout: the top-level app.py
    if not path.is_file():
        raise ValueError(f"app.py was not found in {path.parent}; reinstall Attention Lens.")
    return path


def _add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("streamlit_args", nargs=argparse.REMAINDER,
                        help="passed on to `streamlit run`, e.g. --server.port 8502")


def _run(args: argparse.Namespace) -> int:
    app = app_path()
    command = [sys.executable, "-m", "streamlit", "run", str(app), *args.streamlit_args]
    return subprocess.call(command, cwd=app.parent)


def _writable(out: str) -> Path:
    from attention.run.export import writable

    return writable(out)


class _HubProbe:
    """Whether the Hugging Face Hub answers, asked in the background as the command starts (an answer within
    HUB_TIMEOUT seconds): with no network, a model that is not on this machine then fails at once."""

    HUB_TIMEOUT = 1.0

    def __init__(self) -> None:
        self.reachable: bool | None = None
        self.thread = threading.Thread(target=self._ask, daemon=True)
        self.thread.start()

    def _ask(self) -> None:
        url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        try:
            socket.create_connection((url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=self.HUB_TIMEOUT).close()
            self.reachable = True
        except OSError:
            self.reachable = False

    def answer(self) -> bool:
        self.thread.join(self.HUB_TIMEOUT + 0.5)
        return bool(self.reachable)


_PROBE: _HubProbe | None = None


def _offline_unless_reachable() -> bool:
    """Load models from this machine only (ATTENTION_LENS_OFFLINE) when the hub does not answer; True when offline."""
    explicit = any(os.environ.get(name, "") not in ("", "0") for name in ("HF_HUB_OFFLINE", "ATTENTION_LENS_OFFLINE"))
    if not explicit and _PROBE is not None and not _PROBE.answer():
        os.environ["ATTENTION_LENS_OFFLINE"] = "1"
    return explicit or os.environ.get("ATTENTION_LENS_OFFLINE") == "1"


def _check_model_offline(model: str) -> None:
    """Offline, a name that is neither the project's own, a folder, nor in the Hugging Face cache fails here, at once
    (before transformers is even imported)."""
    from attention.run import names   # no torch: checked before the libraries load

    name = model.strip()
    if not name or names.is_named(name) or Path(name).expanduser().exists():
        return
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    cache = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub"))
    if not (cache / f"models--{name.replace('/', '--')}").is_dir():
        raise ValueError(f"Could not load the model '{name[:80]}': it is not on this machine and this machine is offline "
                         "(the Hugging Face Hub does not answer). Check the name, or pick minilm, scratch or scratch:minilm.")


def _quiet() -> None:
    """No library warnings on the terminal: a failure is one line from us."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("transformers", "huggingface_hub", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _add_text_and_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the text to run (quote it), or a .txt file to read; bytes that are not UTF-8 "
                                     "and control characters are removed, with a note")
    parser.add_argument("--model", default="minilm",
                        help="minilm (default), scratch, scratch:minilm, or a Hugging Face id / local folder")
    parser.add_argument("--max-tokens", type=int, default=None, help="read at most this many tokens of the text")
    parser.add_argument("--device", default=None, help="cpu or cuda (recorded transformers models; default: cuda when "
                                                       "present, else cpu)")


def _model_first(args: argparse.Namespace) -> None:
    """An unknown model fails first, before torch is imported (about 0.2 s instead of seconds)."""
    _quiet()
    if _offline_unless_reachable():
        _check_model_offline(args.model)


def _attend(args: argparse.Namespace):
    """The result of the text and model in `args` (its callers have already checked the model name: _model_first)."""
    from attention import attend
    from attention.run import on_demand

    options = {} if args.max_tokens is None else {"max_tokens": args.max_tokens}
    from_file = on_demand.read_text_file(args.text)   # `attend FILE.txt`: long texts come as files
    if from_file is not None:
        args.text = from_file

    def progress(done: int, total: int) -> None:   # long runs say how far they are (stderr, rewritten in place)
        if total >= 4096 and sys.stderr.isatty():
            print(f"\rread {done:,} of {total:,} tokens", end="\n" if done >= total else "", file=sys.stderr, flush=True)

    return attend(args.text, args.model, progress=progress, device=args.device, **options)


def _add_export(parser: argparse.ArgumentParser) -> None:
    _add_text_and_model(parser)
    parser.add_argument("--out", default="view.html", help="the HTML file to write, .html or .htm (default view.html)")
    parser.add_argument("--layer", type=int, default=0, help="the head opened first: layer (0-based, default 0)")
    parser.add_argument("--head", type=int, default=0, help="the head opened first: head (0-based, default 0)")
    parser.add_argument("--threshold", type=float, default=0.1, help="token links drawn at or above this weight (default 0.1)")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=None,
                        help="precision of the weights in the file (default: 16 for small texts, else 8)")


def _check_head(result, layer: int, head: int) -> None:
    if not 0 <= layer < result.n_layers:
        raise ValueError(f"--layer {layer} is out of range: {result.model} has layers 0–{result.n_layers - 1}.")
    if not 0 <= head < result.n_heads:
        raise ValueError(f"--head {head} is out of range: {result.model} has heads 0–{result.n_heads - 1}.")


def _export(args: argparse.Namespace) -> int:
    _model_first(args)
    target = _writable(args.out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"export writes an HTML page: give --out a name ending in .html (not {target.name[:80]!r}); "
                         "for the weights as data use `attention-lens attend`.")
    if not 0.0 < args.threshold <= 1.0:
        raise ValueError("--threshold must be above 0 and at most 1.")
    result = _attend(args)
    _check_head(result, args.layer, args.head)
    from attention.run import export
    from attention.run.api import clean_text

    text, _ = clean_text(args.text)   # the same text attend() read (no broken characters in the file)
    path = export.view_file(result, target, text=text, layer=args.layer, head=args.head, threshold=args.threshold,
                            bits=args.bits)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    held = "" if result.has_weights else \
        " (a long result: the zoomable view of the heads that fit; the page names them, starting with --layer/--head)"
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB): {result.n_tokens} tokens, "
          f"{result.n_layers} layers × {result.n_heads} heads{held}; open it in any browser, offline")
    return 0


FORMATS = ("npz", "json", "csv")


def _add_attend(parser: argparse.ArgumentParser) -> None:
    _add_text_and_model(parser)
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="npz, json or csv (default: from --out's suffix; a different suffix is an error)")
    parser.add_argument("--out", required=True, help="the file to write (weights [layer, head, query, key], tokens, model)")


def attend_format(out: str, chosen: str | None) -> str:
    """The format of `attend --out`: --format or the suffix; ValueError when they disagree or neither says."""
    suffix = Path(out).suffix.lstrip(".").lower()
    if chosen and suffix in FORMATS and suffix != chosen:
        raise ValueError(f"--format {chosen} does not match --out {out[:200]} (a .{suffix} file): give --out with the "
                         f".{chosen} suffix, or leave out --format.")
    if not chosen and suffix not in FORMATS:
        raise ValueError(f"Cannot tell the format from {out[:200]!r}: give --format npz, json or csv.")
    return chosen or suffix


def _attend_command(args: argparse.Namespace) -> int:
    _model_first(args)
    target = _writable(args.out)
    kind = attend_format(args.out, args.format)
    result = _attend(args)
    from attention.run import export

    if not result.has_weights and kind != "npz":
        raise ValueError(f"{result.n_tokens:,} tokens are too many for every weight to fit in a {kind} file; give --out "
                         "a .npz name to write every head's overview instead.")
    if not result.has_weights:   # a long result: each head's overview, not every weight
        from attention.run import on_demand

        data = on_demand.overview_npz(result)
    else:
        data = {"npz": export.to_npz, "json": lambda r: export.to_json(r).encode("utf-8"),
                "csv": lambda r: export.to_csv(r).encode("utf-8")}[kind](result)
    export.write_whole(target, data)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(f"{target} ({len(data) / 1e6:.2f} MB, {kind}): {result.n_tokens} tokens, "
          f"{result.n_layers} layers × {result.n_heads} heads")
    return 0


def _add_corpus(parser: argparse.ArgumentParser) -> None:
    from attention.analyses.corpus import add_arguments   # (imports torch: only when `corpus` is the command)

    add_arguments(parser)


def _corpus(args: argparse.Namespace) -> int:
    _quiet()
    if _offline_unless_reachable():
        _check_model_offline(args.model)
    from attention.analyses import corpus

    return corpus.run_command(args)


COMMANDS: dict[str, Command] = {
    "run": Command("start the app (the default; extra arguments go to `streamlit run`)", _add_run, _run, "streamlit_args"),
    "export": Command("write one interactive HTML file of a text's attention that works offline", _add_export, _export),
    "attend": Command("write a text's attention weights as NPZ, JSON or CSV", _add_attend, _attend_command),
    "corpus": Command("per-head statistics over a corpus (.txt or .csv), locally or on Ray, as .parquet or .csv",
                      _add_corpus, _corpus),
}
DEFAULT = "run"


def version() -> str:
    """The installed version (written once, in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("attention-lens")
    except PackageNotFoundError:
        return "unknown (not installed: run `pip install -e .`)"


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line: one subparser per entry of COMMANDS (`only`: declare that one's arguments, the others' help)."""
    top = argparse.ArgumentParser(prog="attention-lens", description="Attention Lens: see self-attention.")
    top.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = top.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        if only is None or name == only:
            command.add(sub)
    return top


def unknown_command(word: str) -> str | None:
    """The message for a first word that is neither a subcommand nor an option (None when it is one of them)."""
    if word in COMMANDS or word.startswith("-"):
        return None
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (f"attention-lens: unknown command '{word[:40]}'.{hint} Commands: {', '.join(COMMANDS)} "
            "(`attention-lens --help`).")


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and run the subcommand; no subcommand starts the app."""
    global _PROBE
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (message := unknown_command(argv[0])):
        print(message, file=sys.stderr)
        return 2
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = [DEFAULT, *argv]   # `attention-lens --server.port 8502` starts the app too
    if argv[0] in COMMANDS and argv[0] != DEFAULT and not {"-h", "--help"} & set(argv[1:]):
        _PROBE = _HubProbe()      # asked while torch imports
    # argparse's REMAINDER stops at a leading option (`run --server.port 8502` would be refused), so a passthrough
    # command takes everything after its name as it is
    args, extra = parser(argv[0] if argv[0] in COMMANDS else None).parse_known_args(argv)
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
