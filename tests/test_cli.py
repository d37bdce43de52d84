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

