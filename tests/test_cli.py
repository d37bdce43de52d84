"""The `attention-lens` command line: export, attend and corpus, run as a user runs them (a subprocess), with their help,
their files, and their errors (a message, exit code 2, nothing written)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attention import attend
from attention.run import export
from conftest import ROOT

TEXT = "The cat sat on the mat because it was warm."
INSTALLED = Path(sys.executable).with_name("attention-lens")
COMMAND = [str(INSTALLED)] if INSTALLED.exists() else [sys.executable, "-m", "attention.cli"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}   # an unknown model name fails at once instead of asking the hub
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.mark.parametrize("command, wanted", [
    ("export", ["--out", "--layer", "--head", "--threshold", "--bits", "--model"]),
    ("attend", ["--format", "{npz,json,csv}", "--out", "--model"]),
    ("corpus", ["--ray", "--out", "--column", "--batch-size"]),
])
def test_every_subcommand_has_help(command, wanted):
    done = cli(command, "--help")
    assert done.returncode == 0, done.stderr
    for option in wanted:
        assert option in done.stdout
    assert command in cli("--help").stdout


def test_export_writes_one_offline_file_with_the_share_parameters(tmp_path):
    done = cli("export", TEXT, "--model", "minilm", "--out", str(tmp_path / "view.html"), "--layer", "2", "--head", "5")
    assert done.returncode == 0, done.stderr
    document = (tmp_path / "view.html").read_text(encoding="utf-8")
    spec = json.loads(re.search(r'<script type="application/json" id="al-[0-9a-f]+-data">(.*?)</script>', document, re.S)[1])
    assert spec["share"] == {"text": TEXT, "model": "minilm", "layer": 2, "head": 5}
    assert spec["tokens"] == attend(TEXT, "minilm").tokens
    assert "view.html" in done.stdout and "12 heads" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.html"]   # no temporary file left


@pytest.mark.parametrize("kind, load", [("npz", lambda p: export.from_npz(p.read_bytes())),
                                        ("json", lambda p: export.from_json(p.read_text(encoding="utf-8"))),
                                        ("csv", lambda p: export.from_csv(p.read_text(encoding="utf-8")))])
def test_attend_writes_the_weights_with_the_existing_exporters(tmp_path, kind, load):
    out = tmp_path / f"weights.{kind}"
    done = cli("attend", TEXT, "--model", "minilm", "--out", str(out))   # the format from the suffix
    assert done.returncode == 0, done.stderr
    back, expected = load(out), attend(TEXT, "minilm")
    assert back.tokens == expected.tokens and back.model == "minilm"
    np.testing.assert_array_equal(back.weights, expected.weights)      # all three formats are exact for float32


def test_attend_format_flag_overrides_the_suffix(tmp_path):
    out = tmp_path / "weights.data"
    assert cli("attend", TEXT, "--model", "scratch", "--format", "json", "--out", str(out)).returncode == 0
    assert export.from_json(out.read_text(encoding="utf-8")).model == "scratch"
    refused = cli("attend", TEXT, "--out", str(tmp_path / "weights.data2"))
    assert refused.returncode == 2 and "--format" in refused.stderr and not (tmp_path / "weights.data2").exists()


@pytest.mark.parametrize("args, message", [
    (["export", "   ", "--out", "{dir}/v.html"], "text is empty"),
    (["export", TEXT, "--model", "no-such-model-here", "--out", "{dir}/v.html"], "Could not load the model 'no-such-model-here'"),
    (["export", TEXT, "--out", "{dir}/missing/v.html"], "does not exist"),
    (["export", TEXT, "--out", "{dir}/a-file.txt/v.html"], "does not exist"),
    (["export", TEXT, "--out", "{dir}"], "is a folder"),
    (["export", TEXT, "--threshold", "0", "--out", "{dir}/v.html"], "--threshold"),
    (["attend", "", "--out", "{dir}/w.npz"], "text is empty"),
    (["attend", TEXT, "--model", "no-such-model-here", "--out", "{dir}/w.npz"], "Could not load the model"),
    (["corpus", "{dir}/no-such-corpus.txt", "--out", "{dir}/stats.csv"], ""),
])
def test_bad_input_gives_a_message_exit_code_2_and_writes_nothing(tmp_path, args, message):
    (tmp_path / "a-file.txt").write_text("a file, not a folder")
    (tmp_path / "v.html").write_text("an older file")   # must survive a failed run untouched
    before = sorted(p.name for p in tmp_path.iterdir())
    done = cli(*(arg.replace("{dir}", str(tmp_path)) for arg in args))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "v.html").read_text() == "an older file"


def test_corpus_runs_the_statistics_and_writes_them_whole(tmp_path):
    corpus = tmp_path / "three.txt"
    corpus.write_text("The cat sat.\nA dog barked loudly.\nIt rained all day.\n", encoding="utf-8")
    out = tmp_path / "stats.csv"
    done = cli("corpus", str(corpus), "--model", "minilm", "--out", str(out))
    assert done.returncode == 0, done.stderr
    import pandas as pd

    table = pd.read_csv(out)
    assert len(table) == 3 * 6 * 12                                    # sentence × layer × head
    assert set(table["text"]) == {"The cat sat.", "A dog barked loudly.", "It rained all day."}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.csv", "three.txt"]



# ---------------------------------------------------------------- a command line that never misleads (issue 27)

def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_mistyped_subcommand_is_an_error_with_a_suggestion_not_the_server(tmp_path):
    done = cli("exprot", TEXT, cwd=tmp_path)
    assert done.returncode == 2 and "unknown command 'exprot'" in done.stderr and "Did you mean 'export'" in done.stderr
    assert done.stderr.count("\n") == 1 and files(tmp_path) == []
    assert cli("zzzz", cwd=tmp_path).returncode == 2


def test_corpus_help_is_complete_and_does_not_send_the_reader_elsewhere():
    done = cli("corpus", "--help")
    assert done.returncode == 0
    for option in ("--model", "--out", "--format", "--column", "--batch-size", "--max-tokens", "--limit", "--ray", "file",
                   "UTF-8", "UTF-16"):
        assert option in done.stdout, option
    assert "for details" not in done.stdout
    assert "[-h]" in cli("attend", "--help").stdout and "--format" in cli("attend", "--help").stdout


@pytest.mark.parametrize("order", [["{src}", "--out={out}"], ["--out", "{out}", "{src}"], ["--model", "scratch", "{src}", "--out", "{out}"]])
def test_corpus_options_in_any_order_write_the_named_file(tmp_path, order):
    source = tmp_path / "f.txt"
    source.write_text("The cat sat.\n=HYPERLINK(\"http://x\")\n+1+1\n-2\n@me\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    args = [a.replace("{src}", str(source)).replace("{out}", str(out)) for a in order]
    done = cli("corpus", *args, *([] if "scratch" in args else ["--model", "scratch"]))
    assert done.returncode == 0, done.stderr
    assert files(tmp_path) == ["f.txt", "s.csv"]                              # no stats.parquet, no temporary file
    assert f"written to {out}" in done.stderr                                  # the path printed is the one written
    text = out.read_text(encoding="utf-8")
    import pandas as pd

    cells = set(pd.read_csv(out)["text"])
    assert cells == {"The cat sat.", "'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@me"}   # no formula runs
    assert not any(line.split(",")[1].startswith(("=", "+", "@")) for line in text.splitlines()[1:])


@pytest.mark.parametrize("args, message", [
    (["attend", TEXT, "--format", "csv", "--out", "{dir}/x.npz"], "--format csv does not match"),
    (["attend", TEXT, "--out", "{dir}/x.txt"], "Cannot tell the format"),
    (["corpus", "{dir}/f.txt", "--format", "csv", "--out", "{dir}/x.parquet"], "--format csv does not match"),
    (["corpus", "{dir}/f.txt", "--out", "{dir}/x.xlsx"], "Cannot tell the format"),
    (["export", TEXT, "--out", "{dir}/x.npz"], "export writes an HTML page"),
    (["export", TEXT, "--layer", "99", "--out", "{dir}/x.html"], "--layer 99 is out of range: minilm has layers 0–5"),
    (["export", TEXT, "--head", "-3", "--out", "{dir}/x.html"], "--head -3 is out of range: minilm has heads 0–11"),
    (["corpus", "{dir}/latin.txt", "--model", "scratch", "--out", "{dir}/s.csv"], "line 2 has the byte 0xe9"),
])
def test_mismatches_and_out_of_range_are_errors_that_write_nothing(tmp_path, args, message):
    (tmp_path / "f.txt").write_text("One.\n", encoding="utf-8")
    (tmp_path / "latin.txt").write_bytes("One.\nCafé au lait.\n".encode("latin-1"))
    before = files(tmp_path)
    done = cli(*(a.replace("{dir}", str(tmp_path)) for a in args))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert files(tmp_path) == before


def test_files_get_the_users_umask(tmp_path):
    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        out = tmp_path / f"w{umask:o}.json"
        done = subprocess.run([*COMMAND, "attend", TEXT, "--model", "scratch", "--out", str(out)], capture_output=True,
                              text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, preexec_fn=lambda u=umask: os.umask(u))
        assert done.returncode == 0, done.stderr
        assert out.stat().st_mode & 0o777 == mode
        assert f"{out} (" in done.stdout


def test_export_with_bytes_that_are_not_utf8_cleans_them_like_attend(tmp_path):
    out = tmp_path / "v.html"
    done = subprocess.run([*COMMAND, "export", b"caf\xe9 au lait", "--out", str(out)], capture_output=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert b"Removed 1 broken" in done.stderr and files(tmp_path) == ["v.html"]
    assert "caf au lait" in out.read_text(encoding="utf-8")


def test_an_unknown_model_offline_fails_at_once_with_one_line(tmp_path):
    with __import__("socket").socket() as sock:      # a port nobody answers at: the "hub" of a machine with no network
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "ATTENTION_LENS_OFFLINE")}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
    done = subprocess.run([*COMMAND, "attend", TEXT, "--model", "no-such-org/no-such-model", "--out", str(tmp_path / "w.npz")],
                          capture_output=True, text=True, env=env, timeout=60)   # the hub's retries took 25 s
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no-such-org/no-such-model" in done.stderr and "offline" in done.stderr
    assert files(tmp_path) == []


KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from attention.run import export
real = os.replace
def slow(a, b):
    print("written", flush=True)
    time.sleep(60)
export.os.replace = slow
export.write_whole(Path(sys.argv[1]), b"x" * 1_000_000)
"""


def test_a_write_killed_by_sigkill_leaves_at_most_a_name_the_next_write_removes(tmp_path):
    import signal

    target = tmp_path / "out.bin"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "written"     # complete, named, not yet renamed: the worst moment
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = files(tmp_path)
    assert "out.bin" not in left and all(name.startswith(".out.bin.partial-") for name in left)
    export.write_whole(target, b"next")                     # the next write of that file sweeps what a dead process left
    assert files(tmp_path) == ["out.bin"] and target.read_bytes() == b"next"


def test_a_write_in_progress_is_never_visible_under_its_name_and_never_half_there(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.replace("os.replace = slow", "os.link = slow"), str(target)],
                             stdout=subprocess.PIPE, text=True)
    import signal

    line = child.stdout.readline().strip()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert target.read_bytes() == b"old"
    if line == "written":                                   # Linux: the data sat in an unnamed file; nothing left
        assert files(tmp_path) == ["out.bin"]


def test_an_unknown_model_fails_offline_before_torch_is_imported(tmp_path):
    """The name is checked first (attention/run/names.py, no torch): offline, `attend` and `export` with a model that is
    neither the project's own, a folder nor in the Hugging Face cache fail before any library loads, and write nothing."""
    code = ("import sys\nfrom attention.cli import main\n"
            "codes = [main(['attend', 'The cat.', '--model', 'no-such/model-xyz', '--out', sys.argv[1] + '/w.npz']),\n"
            "         main(['export', 'The cat.', '--model', 'no-such/model-xyz', '--out', sys.argv[1] + '/v.html'])]\n"
            "print(codes, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert done.stdout.strip() == "[2, 2] False", done.stdout + done.stderr
    assert done.stderr.count("Could not load the model 'no-such/model-xyz'") == 2
    assert list(tmp_path.iterdir()) == []
