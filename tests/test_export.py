"""Every export round-trips: NPZ, JSON and CSV load back to the same result; PNG/SVG come out of the system Chromium;
the HTML view is one self-contained file that loads no script from anywhere."""
from __future__ import annotations

import csv
import io
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from attention import Attention, attend

from attention.run import export
from figures import head_heatmap
from figures.export import figure_image, view_html
from attention.analyses.stats import result_stats

TEXT = '=HYPERLINK("x") +1 -2 @me \'quoted\' <script>alert(1)</script> "ok", fine.'


@pytest.fixture(scope="module")
def result():
    return attend(TEXT, "scratch", max_tokens=24)


def same(back, result) -> None:
    assert back.tokens == result.tokens and back.model == result.model and back.options == result.options == {"max_tokens": 24}
    assert back.weights.dtype == np.float32 and np.array_equal(back.weights, result.weights)
    assert back.word_ids == result.word_ids and back.meta == result.meta and back.notices == result.notices


@pytest.mark.parametrize("kind", ["npz", "json", "csv"])
def test_results_round_trip(result, kind, tmp_path):
    data = getattr(export, f"to_{kind}")(result)
    same(getattr(export, f"from_{kind}")(data), result)
    if kind == "npz":                                        # from a file on disk too
        path = tmp_path / "attention.npz"
        path.write_bytes(data)
        same(export.from_npz(path), result)


def test_csv_is_a_plain_table_a_spreadsheet_cannot_run(result):
    text = export.to_csv(result)
    first, _, body = text.partition("\n")
    assert first.startswith("# attention-lens {")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == result.n_layers * result.n_heads * result.n_tokens
    assert not any(row["query_token"].startswith(("=", "+", "-", "@")) for row in rows)
    assert "'=" in {row["query_token"] for row in rows}      # the formula sign is kept, made inert
    row = rows[result.n_tokens + 3]                          # layer 0, head 1, query 3
    assert (row["layer"], row["head"], row["query"]) == ("0", "1", "3")
    assert float(row["k2"]) == result.weights[0, 1, 3, 2]


def test_loaders_refuse_other_files():
    with pytest.raises(ValueError, match="not an Attention Lens"):
        export.from_csv("layer,head\n0,0\n")
    with pytest.raises(ValueError, match="not an Attention Lens"):
        export.from_json('{"tokens": [], "weights": []}')


def test_statistics_table_csv_makes_formulas_inert(result):
    rows = result_stats(result).rows()
    rows[0]["pattern"] = "=1+1"
    table = list(csv.DictReader(io.StringIO(export.table_csv(rows))))
    assert table[0]["pattern"] == "'=1+1" and float(table[0]["entropy"]) == pytest.approx(rows[0]["entropy"])


def test_view_html_is_self_contained_and_escapes_text(result):
    page = view_html([head_heatmap(result, 0, 0), head_heatmap(result, 1, 2)], "<b>title</b>", [TEXT])
    assert len(re.findall(r"<script\b[^>]*\bsrc\s*=", page, flags=re.I)) == 0      # nothing loaded from anywhere
    assert "<link" not in page.lower() and "<iframe" not in page.lower()
    assert page.count("Plotly.newPlot") == 2 and len(page) > 3_000_000              # plotly.js inlined once
    assert "<script>alert(1)</script>" not in page and "&lt;b&gt;title&lt;/b&gt;" in page


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's Chromium")
def test_png_and_svg_from_the_system_chromium(result):
    fig = head_heatmap(result, 0, 0, height=400)
    png = figure_image(fig, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (2000, 800)                            # 1000 × 400 at scale 2
    svg = figure_image(fig, "svg").decode("utf-8")
    assert svg.startswith("<svg") and "Layer 0 · Head 0" in svg and "<script" not in svg
    with pytest.raises(ValueError, match="png or svg"):
        figure_image(fig, "gif")


# ---------------------------------------------------------------- the formula guard over every CSV the project writes

HOSTILE_CELLS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
RUNS = ("=", "+", "-", "@", "\t", "\r")


def _cells(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    body = "".join(lines[1:]) if lines and lines[0].startswith("# attention-lens") else text
    return [cell for row in csv.reader(io.StringIO(body, newline="")) for cell in row]


def _writers():
    import pandas as pd

    from attention.analyses import corpus
    from test_bias import report

    table = pd.DataFrame({"text": HOSTILE_CELLS, "n": range(len(HOSTILE_CELLS)), "x": [-0.5] * len(HOSTILE_CELLS)})
    hostile = Attention(tokens=HOSTILE_CELLS, weights=np.full((1, 1, 6, 6), 1 / 6, np.float32), model="m")
    return {
        "export.to_csv": lambda: export.to_csv(hostile),
        "export.table_csv": lambda: export.table_csv(table),
        "corpus CSV": lambda: corpus.table_bytes(table, "csv").decode("utf-8"),
        "bias report CSV": lambda: report().csv(),
    }


@pytest.mark.parametrize("writer", ["export.to_csv", "export.table_csv", "corpus CSV", "bias report CSV"])
def test_no_csv_writer_leaves_a_cell_a_spreadsheet_would_run(writer):
    text = _writers()[writer]()
    cells = _cells(text)
    numbers = {cell for cell in cells if re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", cell)}   # -0.5 is a number, not a formula
    assert not [cell for cell in cells if cell.startswith(RUNS) and cell not in numbers]
    if writer != "bias report CSV":
        for hostile in HOSTILE_CELLS:
            assert "'" + hostile in cells          # kept, made inert
