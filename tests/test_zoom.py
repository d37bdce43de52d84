"""The zoomable view's payloads (views/zoom/payload.py) against the result's own weights: a long result (queries
and keys kept) and a short one (every weight kept) of the same text must send the same cells."""
from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from attention import attend
from views.payloads import view_id
from views.zoom.payload import (EXACT_SPAN, WINDOW_CELLS, grouped_payload, kv_groups,
                                     overview_payload, row_payload, window_payload, zoom_payload)

TEXT = " ".join(["The keeper lit the lamp.", "Ships passed in the night while the harbour slept."] * 40)


def halves(b64: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f2").astype(np.float32).reshape(shape)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-layer Llama with 4 query heads sharing 2 key/value heads (random weights), MiniLM's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from conftest import save_with_tokenizer

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=4096)
    return save_with_tokenizer(LlamaForCausalLM(config), tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def pair(tiny_llama):
    """(long, short): the same text and model, once over the weights budget (weights on demand), once under it."""
    mp = pytest.MonkeyPatch()
    short = attend(TEXT, tiny_llama)
    mp.setenv("ATTENTION_LENS_WEIGHTS_MB", "2")   # the least it takes; 642 tokens need 13 MB
    long = attend(TEXT + " ", tiny_llama)   # another cache key, the same tokens
    mp.undo()
    assert short.has_weights and not long.has_weights and long.tokens == short.tokens
    return long, short


def test_exact_window_is_the_weights(pair):
    long, short = pair
    sent = window_payload(long, 1, 3, (300, 300 + EXACT_SPAN), (100, 100 + EXACT_SPAN))
    assert sent["factor"] == 1 and (sent["rows"], sent["cols"]) == (EXACT_SPAN, EXACT_SPAN)
    cells = halves(sent["data"], (EXACT_SPAN, EXACT_SPAN))
    truth = short.weights[1, 3, 300:300 + EXACT_SPAN, 100:100 + EXACT_SPAN]
    assert np.abs(cells - truth).max() <= 1e-3 * max(truth.max(), 1e-6)   # float16: 3 significant digits


def test_pooled_window_pools_the_weights(pair):
    long, short = pair
    n = long.n_tokens
    span = min(n, 2 * EXACT_SPAN + 10)
    for pool, reduce in (("max", np.max), ("mean", np.mean)):
        sent = window_payload(long, 0, 1, (0, span), (0, span), pool=pool)
        factor = -(-span // WINDOW_CELLS)
        assert sent["factor"] == factor > 1
        cells = halves(sent["data"], (sent["rows"], sent["cols"]))
        truth = short.weights[0, 1, :span, :span]
        for r, c in [(0, 0), (1, 0), (sent["rows"] - 1, sent["cols"] - 1), (3, 2)]:
            block = truth[r * factor:(r + 1) * factor, c * factor:(c + 1) * factor]
            assert cells[r, c] == pytest.approx(float(reduce(block)), rel=2e-3, abs=1e-6)


def test_windows_outside_or_too_wide_are_refused(pair, monkeypatch):
    from views.zoom import payload

    long, _ = pair
    with pytest.raises(ValueError, match="outside the map"):
        window_payload(long, 0, 0, (long.n_tokens + 5, long.n_tokens + 50), (0, 10))
    monkeypatch.setattr(payload, "POOLED_SPAN", 300)   # the test's text is shorter than the real limit
    with pytest.raises(ValueError, match="the overview shows it"):
        window_payload(long, 0, 0, (0, 301), (0, 301))


def test_overview_levels_decode_to_the_overview(pair):
    long, short = pair
    sent = overview_payload(long, 1, 0, pool="max", size=64)
    levels = np.frombuffer(zlib.decompress(base64.b64decode(sent["data"])), dtype=np.uint8).reshape(sent["rows"], sent["cols"])
    cells = short.overview(1, 0, size=64, pool="max")
    assert sent["top"] == pytest.approx(float(cells.max()))
    shown = sent["scale"] * (levels / 255.0) ** 2                    # what the view's hover reads
    below = cells < sent["scale"]
    assert np.abs(shown[below] - cells[below]).max() <= 2 * sent["scale"] / 255   # within a level (square root scale)
    assert (levels[~below] == 255).all()


def test_row_lists_the_strongest_keys_with_their_text(pair):
    long, short = pair
    sent = row_payload(long, 1, 2, 500)
    values = halves(sent["data"], (long.n_tokens,))
    truth = short.weights[1, 2, 500]
    assert np.abs(values - truth).max() <= 1e-3 * truth.max()
    assert [peak["key"] for peak in sent["peaks"]] == list(np.argsort(-truth, kind="stable")[:len(sent["peaks"])])
    first = sent["peaks"][0]
    assert first["weight"] == pytest.approx(float(truth.max())) and first["context"][1] == long.tokens[first["key"]]


def test_payload_names_grouped_heads_and_sends_only_what_is_missing(pair):
    long, short = pair
    assert kv_groups(long) == 2
    data = zoom_payload(long, 0, 3, overview=False, tokens=False)
    assert data["groups"] == 2 and data["causal"] and "overview" not in data and "tokens" not in data
    assert view_id(long) == view_id(short)          # the same tokens, model and options: one view
    full = zoom_payload(long, 9, 9)                 # clamped to the last layer and head
    assert (full["layer"], full["head"]) == (1, 3) and len(full["tokens"]) == long.n_tokens


def test_sentence_level_rows_sum_to_one(pair):
    long, _ = pair
    sent = grouped_payload(long, 1, 1, by="sentence")
    size = len(sent["labels"])
    cells = halves(sent["data"], (size, size))
    assert size > 40 and np.allclose(cells.sum(axis=1), 1.0, atol=5e-3)


def test_docs_numbers_are_the_code():
    """docs/zoom.md states the view's sizes and long-mini's shape: each is the code's."""
    from pathlib import Path

    from attention.domains import long_mini
    from attention.domains.long_mini.data import tokenizer
    from views.zoom import payload

    doc = " ".join((Path(__file__).resolve().parent.parent / "docs" / "zoom.md").read_text().split())
    c = long_mini.LongMiniConfig()
    assert f"{payload.OVERVIEW_SIZE:,} × {payload.OVERVIEW_SIZE:,} cells" in doc
    assert f"more than {payload.EXACT_SPAN} tokens a side (up to {payload.POOLED_SPAN:,})" in doc
    assert f"at most {payload.WINDOW_CELLS} × {payload.WINDOW_CELLS} cells" in doc
    assert f"({payload.SATURATE * 100:.1f} %)" in doc and f"fit in {payload.RECORD_BYTES // 1_000_000} MB" in doc
    assert f"blocks of {256} tokens" in doc and 'size: int = 256' in __import__("inspect").getsource(grouped_payload)
    assert (f"{c.layers} layers, {c.heads} query heads sharing {c.kv_heads} key/value heads" in doc
            and f"up to {c.max_positions:,} tokens" in doc and f"by up to {c.max_gap:,}" in doc)
    first, second, _ = long_mini.passage_positions(tokenizer()(long_mini.demo_text())["input_ids"])
    assert round(second - first, -3) == 15000 and "about 15,000 tokens apart" in doc


def test_the_record_sent_to_the_browser_gives_the_tile(pair):
    """What the view computes from record_payload (zoom.js computeWindow, repeated here in numpy) is Attention.tile."""
    from views.zoom.payload import record_payload

    long, short = pair
    sent = record_payload(long, 1, 3)
    assert sent is not None and sent["causal"] and record_payload(short, 1, 3) is None   # short: the server's windows
    wire = "<f2" if sent["bits"] == 16 else "<f4"
    n, d = long.n_tokens, sent["d"]
    queries = np.frombuffer(base64.b64decode(sent["q"]), dtype=wire).astype(np.float64).reshape(n, d)
    keys = np.frombuffer(base64.b64decode(sent["k"]), dtype=wire).astype(np.float64).reshape(n, d)
    lse = np.frombuffer(base64.b64decode(sent["lse"]), dtype="<f4").astype(np.float64)
    q, k = slice(400, 480), slice(350, 430)
    scores = queries[q] @ keys[k].T * sent["scaling"]
    visible = np.arange(k.start, k.stop)[None, :] <= np.arange(q.start, q.stop)[:, None]
    weights = np.where(visible, np.exp(scores - lse[q, None]), 0.0)
    assert np.abs(weights - short.weights[1, 3, q, k]).max() < 1e-5


# --- a long result with no server behind it: the notebook cell and the offline file (views/zoom/embed.py) ---

def test_the_page_holds_heads_in_order_within_its_budget_keys_once_per_shared_head(pair):
    import json

    from views.standalone import spec
    from views.zoom.embed import embedded, head_order

    long, _ = pair
    every = embedded(long, 1, 2, max_bytes=50_000_000)
    assert every["held"] == every["total"] == long.n_layers * long.n_heads and every["exact"] == every["held"]
    assert list(every["heads"]) == [f"{l}|{h}" for l, h in head_order(long, 1, 2)][:every["held"]]
    assert list(every["heads"])[:2] == ["1|2", "1|0"]                              # the asked head, then its layer
    assert sorted(every["keys"]) == ["0|0", "0|1", "1|0", "1|1"]                   # 4 query heads share 2 keys
    entry = every["heads"]["1|3"]["record"]
    assert entry["kv"] == "1|1" and "k" not in entry
    wire = "<f2" if entry["bits"] == 16 else "<f4"
    floats = lambda b64: np.frombuffer(base64.b64decode(b64), dtype=wire).astype(np.float32).reshape(long.n_tokens, -1)  # noqa: E731
    queries = floats(entry["q"])
    assert np.array_equal(queries, long.record.layers[1].queries[0, 3].float().numpy())
    keys = floats(every["keys"]["1|1"])
    assert np.array_equal(keys, long.record.layers[1].keys[0, 1].float().numpy())
    one = embedded(long, 0, 1, max_bytes=1)                                        # no room: still the asked head
    assert one["held"] == 1 and list(one["heads"]) == ["0|1"] and "1 of 8 heads (L0H1)" in one["note"]
    some = embedded(long, 0, 0, max_bytes=len(json.dumps(every)) // 3)
    assert 1 < some["held"] < 8 and len(json.dumps(some)) <= len(json.dumps(every)) // 3
    found = spec(long, layer=1, head=2)
    assert found["views"] == ["zoom"] and found["zoom"]["layer"] == 1 and some["note"] not in found["notices"]
    assert any("holds" in notice for notice in found["notices"])
    cell = long._repr_html_()                                                      # a notebook cell: the same view
    assert '"views":["zoom"]' in cell and len(cell) < 8_000_000 + 1_000_000


def test_the_offline_file_of_a_long_result_zooms_and_reads_rows_in_the_page(pair, offline_page, tmp_path, artifacts):
    import json

    from attention.run import export

    long, short = pair
    path = export.view_file(long, tmp_path / "long.html", layer=1, head=0)
    page = offline_page
    page.goto(path.as_uri())
    root = page.locator(".zm-root[data-ready='1']")
    root.wait_for(timeout=60_000)
    assert root.get_attribute("data-source") == "browser"                          # queries and keys in the page
    assert "holds 8 of 8 heads" in page.locator(".sa-notice").all_inner_texts()[-1]
    page.screenshot(path=str(artifacts / "zoom_offline_overview.png"), full_page=True)
    root.evaluate("e => e.parentNode.__zoom.setViewport(400, 300, 60)")            # computed here: exact
    q0, q1, k0, k1, factor = map(int, root.get_attribute("data-window").split(","))
    assert factor == 1
    box = page.locator(".zm-canvas").bounding_box()
    x, y = box["x"] + 118 + 640 * 0.4, box["y"] + 96 + 640 * 0.6
    tile = short.weights[1, 0, q0:q1, k0:k1]
    for dx, dy in [(0, 0), (60, 0), (0, 60), (-60, -60)]:
        page.mouse.move(x + dx, y + dy)
        page.wait_for_timeout(50)
        cell = json.loads(root.get_attribute("data-hover"))
        truth = float(tile[cell["query"] - q0, cell["key"] - k0])
        assert cell["factor"] == 1 and abs(cell["weight"] - truth) <= 2e-3 * max(truth, 1e-3), (cell, truth)
    page.mouse.click(x, y)                                                         # the row: computed in the page
    page.locator(".zm-peak").first.wait_for(timeout=10_000)
    query = int(root.get_attribute("data-row"))
    assert f"key {int(np.argmax(short.weights[1, 0, query])):,}" in page.locator(".zm-peak").first.inner_text()
    page.screenshot(path=str(artifacts / "zoom_offline_exact.png"), full_page=True)
    page.locator(".zm-cell[data-layer='0'][data-head='3']").click()                 # another head from the grid
    page.locator(".zm-root[data-layer='0'][data-head='3']").wait_for(timeout=10_000)
    assert page.locator(".zm-status").inner_text() == ""
    assert not page.errors and not page.requested


def test_the_docs_state_when_the_view_asks_for_a_heads_record():
    """docs/zoom.md: a head's record is asked once the reader stayed on it "for a second" (RECORD_AFTER_MS), and one
    head of long-mini at 32,000 tokens is 4 MB (queries and keys as float32)."""
    import re
    from pathlib import Path

    from attention.domains.long_mini import LongMiniConfig

    root = Path(__file__).resolve().parent.parent
    script = (root / "views" / "zoom" / "zoom.js").read_text()
    docs = " ".join((root / "docs" / "zoom.md").read_text().split())
    assert int(re.search(r"const RECORD_AFTER_MS = (\d+);", script).group(1)) == 1000
    assert "stayed on a head for a second (`RECORD_AFTER_MS`" in docs
    assert round(2 * 32_000 * LongMiniConfig().head_dim * 4 / 1e6) == 4 and "long-mini at 32,000 tokens is 4 MB" in docs
