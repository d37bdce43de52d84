"""Corpus mode: reading .txt/.csv corpora, the command line locally and on a local Ray instance started here; the
numbers equal each sentence's own statistics."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from attention import attend

from attention.analyses import corpus
from attention.analyses.stats import STATS, result_stats

from conftest import ROOT

SENTENCES = ["The cat sat on the mat.", "Dogs bark.", "Where did you put the scissors, Sam?",
             "It rained all week. The garden looked green again.", "=1+1 <b>not bold</b>"]


# Ray's token authentication with a token of this test run's own, given to the head and to the jobs by environment:
# nothing is read from or written to ~/.ray, whatever Ray runs elsewhere on the machine
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attention.analyses.corpus", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **RAY_ENV})


def check_table(table: pd.DataFrame, sentences: list[str], model: str = "scratch", guarded: bool = False) -> None:
    """Every sentence's rows equal the statistics of its own attend() run (the corpus ran it in a padded batch).
    `guarded`: read from CSV, where text a spreadsheet would run as a formula starts with '."""
    assert sorted(table["sentence"].unique()) == list(range(len(sentences)))
    for index, text in enumerate(sentences):
        rows = table[table["sentence"] == index]
        own = pd.DataFrame(result_stats(attend(text, model, max_tokens=corpus.MAX_TOKENS)).rows())
        shown = "'" + text if guarded and text[:1] in "=+-@\t\r" else text
        assert (rows["text"] == shown).all() and rows["tokens"].iloc[0] == attend(text, model).n_tokens
        np.testing.assert_allclose(rows[list(STATS)].to_numpy(), own[list(STATS)].to_numpy(), atol=2e-5)
        assert list(rows["pattern"].astype(str)) == list(own["pattern"])


def test_reading_txt_and_csv(tmp_path):
    assert corpus.read_sentences(b"one\n\n  two  \r\nthree\n", "a.txt") == ["one", "two", "three"]
    data = b'id,text\n1,"Hello, world."\n2,Second one\n3,\n'
    assert corpus.csv_columns(data) == ["id", "text"]
    assert corpus.read_sentences(data, "a.csv", "text") == ["Hello, world.", "Second one"]
    assert corpus.read_sentences(data, "a.csv") == ["1", "2", "3"]                    # the first column by default
    with pytest.raises(ValueError, match="no column 'body'"):
        corpus.read_sentences(data, "a.csv", "body")
    with pytest.raises(ValueError, match="no sentences"):
        corpus.read_sentences(b"\n \n", "a.txt")
    with pytest.raises(ValueError, match=".txt file"):
        corpus.read_sentences(b"x", "a.pdf")
    assert len(corpus.read_sentences(corpus.SAMPLE)) >= 250                           # the shipped sample corpus


def test_run_in_process_is_batched_cached_and_reports_progress():
    seen = []
    table = corpus.run(SENTENCES, "scratch", batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]
    check_table(table, SENTENCES)
    assert len(table) == len(SENTENCES) * 2 * 4
    again = corpus.run(SENTENCES, "scratch", batch_size=2)
    pd.testing.assert_frame_equal(again, table)
    values, pattern = corpus.summary(table)
    assert values["entropy"].shape == pattern.shape == (2, 4)
    assert values["cls"][1, 2] == pytest.approx(table.query("layer == 1 and head == 2")["cls"].mean())


def test_cli_locally_on_a_small_file(tmp_path):
    source = tmp_path / "corpus.csv"
    pd.DataFrame({"id": range(len(SENTENCES)), "sentence": SENTENCES}).to_csv(source, index=False)
    out = tmp_path / "stats.parquet"
    done = cli(str(source), "--column", "sentence", "--model", "scratch", "--out", str(out), "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert "5 sentences locally" in done.stderr and "sentences/s" in done.stderr
    check_table(pd.read_parquet(out), SENTENCES)
    bad = cli(str(source), "--column", "nope", "--out", str(tmp_path / "x.parquet"))
    assert bad.returncode == 2 and "no column 'nope'" in bad.stderr


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """A local Ray head started for these tests (its own session and temp folder), stopped by its process group."""
    pytest.importorskip("ray")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp = tmp_path_factory.mktemp("ray")
    head = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, **RAY_ENV})
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert head.poll() is None, "ray start --head exited"
            time.sleep(0.3)
    yield f"127.0.0.1:{port}"
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(3)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)       # the head, its raylet, GCS and workers: all in this session only
        head.wait(10)


def test_cli_on_a_local_ray_instance(tmp_path, ray_address):
    source = tmp_path / "corpus.txt"
    source.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    out = tmp_path / "stats.csv"
    done = cli(str(source), "--model", "scratch", "--out", str(out), "--batch-size", "2", "--ray", ray_address, timeout=150)
    assert done.returncode == 0, done.stderr
    assert f"5 sentences Ray ({ray_address})" in done.stderr
    table = pd.read_csv(out)
    check_table(table, SENTENCES, guarded=True)
    local = corpus.run(SENTENCES, "scratch", batch_size=2)
    np.testing.assert_allclose(table[list(STATS)].to_numpy(), local[list(STATS)].to_numpy(), atol=1e-5)


def test_ray_address_that_answers_nothing_is_a_clear_error(tmp_path):
    pytest.importorskip("ray")
    source = tmp_path / "corpus.txt"
    source.write_text("One.\n", encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = cli(str(source), "--model", "scratch", "--out", str(tmp_path / "x.parquet"), "--ray", f"127.0.0.1:{port}", timeout=150)
    assert done.returncode == 2 and "Could not reach a Ray cluster" in done.stderr


def test_first_keeps_the_deployments_share_and_says_so():
    sentences = [f"Sentence {i}." for i in range(5)]
    assert corpus.first(sentences, 5) == (sentences, None)
    kept, notice = corpus.first(sentences, 2)
    assert kept == sentences[:2] and "has 5 sentences" in notice and "reads the first 2" in notice


# ---------------------------------------------------------------- the decoding rule (issue 27): stated, never silent

LINES = ["Café au lait.", "Naïve façade — déjà vu.", "The cat sat."]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf8_and_utf16_with_or_without_a_mark_read_exactly(encoding):
    data = "\n".join(LINES).encode(encoding)
    assert corpus.read_sentences(data, "c.txt") == LINES
    csv_data = ("text\n" + "\n".join(f'"{line}"' for line in LINES)).encode(encoding)
    assert corpus.csv_columns(csv_data) == ["text"] and corpus.read_sentences(csv_data, "c.csv") == LINES


def test_latin1_is_an_error_naming_the_first_line_that_is_not_utf8():
    data = "\n".join(LINES).encode("utf-8").replace("Naïve".encode(), "Naïve".encode("latin-1"))
    with pytest.raises(ValueError, match=r"c.txt is not UTF-8 text: line 2 has the byte 0xef .*Latin-1.*Save it as UTF-8"):
        corpus.read_sentences(data, "c.txt")
    with pytest.raises(ValueError, match="line 1 has the byte 0xe9"):
        corpus.read_sentences("Café\nx\n".encode("latin-1"), "c.txt")


def test_invalid_bytes_are_an_error_naming_their_line_never_replacement_characters(tmp_path):
    data = b"one\ntwo\nthree \xff\xfe\x80 bad\nfour\n"
    with pytest.raises(ValueError, match="line 3 has the byte 0xff"):
        corpus.read_sentences(data, "c.txt")
    path = tmp_path / "c.txt"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="c.txt is not UTF-8 text: line 3"):
        corpus.read_sentences(path)
    with pytest.raises(ValueError, match="is not UTF-16 text"):
        corpus.read_sentences(b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00\xd8", "c.txt")   # a broken half


def test_the_cli_stops_on_latin1_with_exit_2_and_writes_nothing(tmp_path):
    source = tmp_path / "latin.txt"
    source.write_bytes("The cat.\nCafé au lait.\n".encode("latin-1"))
    done = cli(str(source), "--model", "scratch", "--out", str(tmp_path / "s.csv"))
    assert done.returncode == 2 and "line 2 has the byte 0xe9" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin.txt"]
    utf16 = tmp_path / "wide.txt"
    utf16.write_bytes("The cat.\nCafé au lait.\n".encode("utf-16-le"))   # no mark: recognised by its zero bytes
    done = cli(str(utf16), "--model", "scratch", "--out", str(tmp_path / "s.csv"))
    assert done.returncode == 0, done.stderr
    assert set(pd.read_csv(tmp_path / "s.csv")["text"]) == {"The cat.", "Café au lait."}
