"""Weights on demand (attention/run/weights.py) and long inputs through attend(): rows, tiles, overviews, summaries
and groupings against a full softmax computed directly; limits that follow the model; progress and cancelling;
memory at 16k tokens; clear messages for bad input."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers.masking_utils import sliding_window_causal_mask_function  # noqa: E402

from attention.engine import tiles  # noqa: E402
from attention.engine.record import KeyMask, LayerRecord  # noqa: E402
from attention.run import weights as on_demand  # noqa: E402
from attention.run.weights import DenseWeights, RecordedWeights  # noqa: E402

N = 37   # small enough for a direct softmax, odd so blocks are uneven


def _layer(mask: KeyMask, softcap: float | None = None, seed: int = 0) -> LayerRecord:
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(1, 4, N, 8, generator=generator) * 2     # 4 query heads
    keys = torch.randn(1, 2, N, 8, generator=generator) * 2        # 2 key/value heads: grouped-query
    return LayerRecord(queries, keys, 8 ** -0.5, softcap, mask)


def _direct(layer: LayerRecord, visible: torch.Tensor) -> np.ndarray:
    """The full map [head, query, key] by the textbook formula, for comparison."""
    keys = layer.keys.repeat_interleave(layer.groups, dim=1)                     # [1, head, key, d]
    scores = layer.queries @ keys.transpose(-1, -2) * layer.scaling               # [1, head, query, key]
    if layer.softcap is not None:
        scores = layer.softcap * torch.tanh(scores / layer.softcap)
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0)[0].numpy()


def _cases() -> dict[str, tuple[LayerRecord, torch.Tensor]]:
    q, k = torch.arange(N)[:, None], torch.arange(N)[None, :]
    padding = torch.ones(1, N, dtype=torch.bool)
    padding[0, 30:] = False
    return {
        "causal": (_layer(KeyMask(None, N, N, kind="causal")), k <= q),
        "full": (_layer(KeyMask(None, N, N, kind="full")), torch.ones(N, N, dtype=torch.bool)),
        "sliding window": (_layer(KeyMask(sliding_window_causal_mask_function(5), N, N)), (k <= q) & (k > q - 5)),
        "padding": (_layer(KeyMask(None, N, N, key_valid=padding, kind="full")), padding[0][None, :].expand(N, N)),
        "soft-capping": (_layer(KeyMask(None, N, N, kind="causal"), softcap=1.5), k <= q),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_rows_tiles_and_overviews_equal_a_direct_softmax(case):
    layer, visible = _cases()[case]
    expected = _direct(layer, visible)                                            # [head, query, key]
    recorded = RecordedWeights([layer])
    dense = DenseWeights(expected[None])
    for source in (recorded, dense):                                              # one contract, two sources
        for head in range(4):
            assert np.abs(on_demand.tile(source, 0, head) - expected[head]).max() < 1e-6
            assert np.abs(on_demand.tile(source, 0, head, slice(3, 20), slice(10, 37)) - expected[head, 3:20, 10:]).max() < 1e-6
            assert np.abs(on_demand.row(source, 0, head, 17) - expected[head, 17]).max() < 1e-6
            small = on_demand.overview(source, 0, head, size=8, pool="mean")
            spikes = on_demand.overview(source, 0, head, size=8, pool="max")
            block = np.arange(N) * 8 // N                                          # the blocks overview() uses
            for row_block in range(8):
                rows = expected[head][block == row_block]
                sums = np.stack([rows[:, block == b].sum(1) for b in range(8)], 1).mean(0)
                tops = np.array([rows[:, block == b].max() for b in range(8)])
                assert np.abs(small[row_block] - sums).max() < 1e-6
                assert np.abs(spikes[row_block] - tops).max() < 1e-6
            assert np.abs(on_demand.overview(source, 0, head, size=64) - expected[head]).max() < 1e-6   # fits: exact
    assert recorded.shape == (1, 4, N, N) and recorded.groups == 2


def test_a_large_overview_in_blocks_equals_pooling_the_full_softmax():
    """Long enough (2,100² weights) for many row and key blocks, online softmax over key blocks of uneven cells,
    causal: both pools equal pooling the directly computed map, and rows of the mean still sum to 1."""
    n, size = 2100, 97
    generator = torch.Generator().manual_seed(3)
    layer = LayerRecord(torch.randn(1, 2, n, 8, generator=generator) * 3, torch.randn(1, 1, n, 8, generator=generator) * 3,
                        8 ** -0.5, None, KeyMask(None, n, n, kind="causal"))
    source = RecordedWeights([layer])
    q, k = torch.arange(n)[:, None], torch.arange(n)[None, :]
    scores = (layer.queries[0, 1] @ layer.keys[0, 0].T * layer.scaling).masked_fill(k > q, float("-inf"))
    full = torch.softmax(scores.double(), -1).numpy()                            # [query, key]
    cell = np.arange(n) * size // n
    sums = np.stack([full[:, cell == c].sum(1) for c in range(size)], 1)           # [query, key cell]
    mean = np.stack([sums[cell == c].mean(0) for c in range(size)])
    peak = np.stack([np.stack([full[cell == r][:, cell == c].max() for c in range(size)]) for r in range(size)])
    found_mean = on_demand.overview(source, 0, 1, size=size, pool="mean")
    found_max = on_demand.overview(source, 0, 1, size=size, pool="max")
    assert found_mean.shape == found_max.shape == (size, size)
    assert np.abs(found_mean - mean).max() < 2e-6 and np.abs(found_max - peak).max() < 2e-6
    assert np.allclose(found_mean.sum(1), 1.0, atol=1e-5)
    lse = torch.logsumexp(scores, -1)                                               # the pass keeps every row's
    assert torch.allclose(source.log_sum_exp(0, 1, slice(0, n)), lse, atol=1e-5)   # log-sum-exp as it goes


def test_with_the_runs_log_sum_exp_each_pool_is_its_own_pass_and_equals_the_online_one():
    """A record whose rows' log-sum-exp came with it (LayerRecord.lse, as the run's kernel gives it) computes only the
    pool asked for, without an online softmax, and both pools equal those of the pass that finds the log-sum-exp."""
    n, size = 2100, 97
    generator = torch.Generator().manual_seed(5)
    plain = LayerRecord(torch.randn(1, 2, n, 8, generator=generator) * 3, torch.randn(1, 1, n, 8, generator=generator) * 3,
                        8 ** -0.5, None, KeyMask(None, n, n, kind="causal"))
    lse = torch.stack([tiles.log_sum_exp(plain, 0, head, slice(0, n)) for head in range(2)])[None]   # [batch, head, query]
    online, given = RecordedWeights([plain]), RecordedWeights([dataclasses.replace(plain, lse=lse)])
    calls = []
    real = tiles.pooled_rows
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiles, "pooled_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
        found_max = on_demand.overview(given, 0, 1, size=size, pool="max")
        assert not calls                                        # the online pass never ran
        assert "mean" not in given._overviews[(0, 1, size, size)]   # and the other pool was not computed
        found_mean = on_demand.overview(given, 0, 1, size=size, pool="mean")
        assert not calls
    assert np.abs(found_max - on_demand.overview(online, 0, 1, size=size, pool="max")).max() < 4e-6   # float32 both
    assert np.abs(found_mean - on_demand.overview(online, 0, 1, size=size, pool="mean")).max() < 4e-6
    assert np.allclose(found_mean.sum(1), 1.0, atol=1e-5)


def test_mean_overview_keeps_row_sums_and_max_keeps_a_lone_spike():
    weights = np.full((1, 1, 40, 40), 1 / 40, dtype=np.float32)
    weights[0, 0, 21] = 0.0
    weights[0, 0, 21, 3] = 1.0                                                    # one query looks at one key
    source = DenseWeights(weights)
    mean = on_demand.overview(source, 0, 0, size=4, pool="mean")
    assert np.allclose(mean.sum(1), 1.0, atol=1e-6)
    spikes = on_demand.overview(source, 0, 0, size=4, pool="max")
    assert spikes[2, 0] == 1.0 and spikes[0, 0] == pytest.approx(1 / 40)


def test_summary_against_its_definition():
    layer, visible = _cases()["causal"]
    expected = _direct(layer, visible)[1]                                          # head 1 [query, key]
    found = on_demand.summary(RecordedWeights([layer]), 0, 1, band_width=2)
    q, k = np.arange(N)[:, None], np.arange(N)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(expected > 0, expected * np.log(expected), 0), axis=1).mean()
    assert found.entropy == pytest.approx(entropy, abs=1e-5)
    assert found.distance == pytest.approx((expected * np.abs(q - k)).sum(1).mean(), abs=1e-4)
    assert found.sink == pytest.approx(expected[:, 0].mean(), abs=1e-6)
    assert found.band == pytest.approx((expected * (np.abs(q - k) <= 2)).sum(1).mean(), abs=1e-6)
    one_hot = np.eye(6, dtype=np.float32)[None, None]                              # each query looks at itself only
    itself = on_demand.summary(DenseWeights(one_hot), 0, 0)
    assert (itself.entropy, itself.distance, itself.band) == (0.0, 0.0, 1.0) and itself.sink == pytest.approx(1 / 6)


@pytest.mark.parametrize("starts", [[0, 5, 6, 20], [0], list(range(0, N, 8))])
def test_grouping_keeps_row_sums_and_sums_key_groups(starts):
    layer, visible = _cases()["sliding window"]
    expected = _direct(layer, visible)[2]
    merged = on_demand.grouped(RecordedWeights([layer]), 0, 2, starts)
    assert np.allclose(merged.sum(1), 1.0, atol=1e-5)
    ends = [*starts[1:], N]
    a, b = starts[-1], ends[-1]
    assert merged[-1, 0] == pytest.approx(expected[a:b, starts[0]:ends[0]].sum(1).mean(), abs=1e-6)


def test_sentence_and_word_starts():
    tokens = ["[CLS]", "the", "cat", "sat", ".", "it", "pur", "##red", "!", "[SEP]"]
    assert on_demand.sentence_starts(tokens) == [0, 5, 9]
    assert on_demand.word_starts(tokens, [None, 0, 1, 2, 3, 4, 5, 5, 6, None]) == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert on_demand.sentence_starts(["ĠHi", ".", "ĠYes", "Ċ", "ĠNo"]) == [0, 2, 4]


def test_bad_input_gets_a_clear_message():
    layer, _ = _cases()["causal"]
    source = RecordedWeights([layer])
    with pytest.raises(ValueError, match="outside the map"):
        on_demand.tile(source, 0, 0, slice(30, 40), slice(0, 5))
    with pytest.raises(ValueError, match="outside the map"):
        on_demand.tile(source, 0, 0, slice(-5, 3), slice(0, 5))
    with pytest.raises(ValueError, match="no step"):
        on_demand.tile(source, 0, 0, slice(0, 10, 2), slice(0, 5))
    with pytest.raises(ValueError, match="at least 1"):
        on_demand.overview(source, 0, 0, size=-3)
    with pytest.raises(ValueError, match="pool"):
        on_demand.overview(source, 0, 0, pool="median")
    with pytest.raises(ValueError, match="no head 9"):
        on_demand.row(source, 0, 9, 0)
    with pytest.raises(ValueError, match="no query 37"):
        on_demand.row(source, 0, 0, 37)
    with pytest.raises(ValueError, match="begin at 0"):
        on_demand.grouped(source, 0, 0, [3, 9])


# --- through attend(): a Llama-architecture folder with grouped-query attention and 4,096 positions ---------------

@pytest.fixture(scope="module")
def long_llama(tmp_path_factory) -> str:
    """A tiny random Llama (8 query heads over 2 key/value heads, 4,096 positions) with MiniLM's tokenizer, whose
    own model_max_length is 512: the folder a user would point at, with a tokenizer limit that is not the model's."""
    from conftest import save_with_tokenizer

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=4096,
                                      initializer_range=0.3)
    return save_with_tokenizer(transformers.LlamaForCausalLM(config), tmp_path_factory.mktemp("long_llama"))


LONG_TEXT = " ".join(f"Sentence {i} says {'abc'[i % 3]}." for i in range(200))   # 1,002 tokens


def test_the_model_sets_the_limit_not_512(long_llama):
    from attention import attend

    result = attend(LONG_TEXT, long_llama)
    assert result.n_tokens == 1002 and not any("truncated" in n for n in result.notices)
    assert result.meta["max_tokens"] == 4096 and result.meta["kv_groups"] == 4
    assert result.meta["recorded"] is True and result.meta["causal"] is True


def test_hosted_mode_keeps_its_cap(long_llama, monkeypatch):
    from attention import attend

    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")
    monkeypatch.setenv("ATTENTION_LENS_MODELS", long_llama)
    monkeypatch.setenv("ATTENTION_LENS_MAX_TOKENS", "300")
    result = attend(LONG_TEXT, long_llama)
    assert result.n_tokens == 300 and any("at most 300 tokens" in n for n in result.notices)


def test_above_the_budget_weights_come_on_demand_and_match(long_llama, monkeypatch):
    from attention import attend

    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "512")
    full = attend(LONG_TEXT, long_llama)
    assert full.has_weights and full.weights.shape[:2] == (2, 8)
    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "8")
    long = attend(LONG_TEXT, long_llama)
    assert not long.has_weights and not hasattr(long, "weights")
    assert any("keeps the queries and keys" in n for n in long.notices)
    with pytest.raises(ValueError, match=r"row\(layer, head, query\), tile\("):
        long.weights  # noqa: B018
    n = long.n_tokens
    assert long.nbytes < full.weights.nbytes / 20
    # the same record maths; the long result's rows use the log-sum-exp the run's own kernel gave (float32 like ours,
    # summed in another order), the short one's torch.logsumexp over the recorded scores
    assert np.abs(long.tile(1, 5) - full.weights[1, 5]).max() < 4e-6
    assert np.abs(long.row(0, 2, n - 1) - full.row(0, 2, n - 1)).max() < 4e-6
    assert np.abs(long.overview(1, 3, 100) - full.overview(1, 3, 100)).max() < 1e-5
    assert dataclasses.astuple(long.summary(0, 1)) == pytest.approx(dataclasses.astuple(full.summary(0, 1)))
    sentences = long.grouped(0, 1, by="sentence")
    assert len(sentences.labels) == 201 and np.allclose(sentences.weights.sum(1), 1, atol=1e-5)
    assert sentences.labels[1] == "sentence 1 says b ." and sentences.labels[-1] == "[SEP]"
    blocks = long.grouped(0, 1, by="block", size=100)
    assert blocks.weights.shape == (-(-n // 100),) * 2 and np.allclose(blocks.weights.sum(1), 1, atol=1e-5)
    words = full.grouped(0, 1, by="word")
    assert np.allclose(words.weights.sum(1), 1, atol=1e-5)


def test_progress_counts_tokens_and_cancelling_caches_nothing(long_llama):
    from attention import attend
    from attention.run.api import is_cached

    text = LONG_TEXT + " Once more."
    seen = []
    attend(text, long_llama, progress=lambda done, total: seen.append((done, total)))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == seen[-1][1] > 1000

    class Stop(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Stop

    other = LONG_TEXT + " A third time."
    with pytest.raises(Stop):
        attend(other, long_llama, progress=cancel)
    assert not is_cached(other, long_llama)
    assert attend(other, long_llama).n_tokens > 1000            # the model still runs normally afterwards


def test_device_is_checked(long_llama):
    from attention import attend

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            attend("Hello.", long_llama, device="cuda")
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        attend("Hello.", long_llama, device="tpu")
    assert attend("Hello.", long_llama, device="cpu").n_tokens > 2


MEMORY_CEILING_MB = 256   # a quarter of one float32 16k × 16k map (1 GiB): no such buffer may exist

_SIXTEEN_K = textwrap.dedent("""
    import json, resource, torch, transformers
    torch.set_num_threads(1)
    from attention.engine import record
    from attention.run.weights import RecordedWeights, overview, tile
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16384)
    network = transformers.LlamaModel(config).eval()
    record.use_recording(network)
    ids = torch.randint(0, 64, (1, 16384))
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with torch.no_grad():
        network(input_ids=ids[:, :64])     # warm up: every import and kernel loaded before the baseline
    before = peak()
    with torch.no_grad(), record.recording(network, dtype=torch.float16) as rec:
        network(input_ids=ids)
    source = RecordedWeights(rec.stacks["weights"])
    view = overview(source, 1, 3, size=256)
    corner = tile(source, 1, 3, slice(16000, 16128), slice(0, 16384))
    print(json.dumps({"grown_mb": peak() - before, "record_mb": rec.nbytes / 2**20, "rows": float(view.sum(1).mean()),
                      "tile_rows": float(corner.sum(1).mean())}))
""")


def test_a_16k_token_run_stays_under_the_memory_ceiling():
    done = subprocess.run([sys.executable, "-c", _SIXTEEN_K], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["rows"] == pytest.approx(1.0, abs=1e-3) and found["tile_rows"] == pytest.approx(1.0, abs=1e-3)
    assert found["grown_mb"] < MEMORY_CEILING_MB, found


def test_the_cli_reads_a_long_text_file(long_llama, tmp_path, monkeypatch, capsys):
    from attention import cli

    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "8")
    monkeypatch.setenv("ATTENTION_LENS_OFFLINE", "1")
    source = tmp_path / "long.txt"
    source.write_text(LONG_TEXT + " " + LONG_TEXT, encoding="utf-8")
    out = tmp_path / "long.npz"
    assert cli.main(["attend", str(source), "--model", long_llama, "--max-tokens", "1500", "--out", str(out)]) == 0
    saved = np.load(out)
    header = json.loads(str(saved["header"]))
    assert saved["overviews"].shape == (2, 8, 256, 256) and header["n_tokens"] == 1500
    assert np.allclose(saved["overviews"].sum(-1), 1, atol=1e-4) and "not every weight" in header["notices"][-1]
    again = ["--model", long_llama, "--max-tokens", "1500"]   # the same run, answered from the result cache
    assert cli.main(["attend", str(source), *again, "--out", str(tmp_path / "long.json")]) == 2
    assert "give --out a .npz name" in capsys.readouterr().err
    assert cli.main(["export", str(source), *again, "--out", str(tmp_path / "long.html"), "--layer", "1"]) == 0
    assert "zoomable view" in capsys.readouterr().out                  # the page: views/zoom/embed.py, test_zoom.py
    page = (tmp_path / "long.html").read_text(encoding="utf-8")
    assert '"views":["zoom"]' in page and '"layer":1' in page


def test_the_numbers_in_the_docs_are_the_code_s():
    from pathlib import Path

    from attention.engine.record_backend import FP32_RECORD_MB, FP32_RECORD_TOKENS
    from attention.run import limits
    from attention.run.on_demand import FILE_OVERVIEW_SIZE

    page = (Path(__file__).resolve().parent.parent / "docs" / "long-context.md").read_text()
    assert f"{limits.WEIGHTS_MB} MB by default" in page and f"float32 up to\n{FP32_RECORD_TOKENS:,} tokens" in page
    assert f"takes at most {FP32_RECORD_MB} MB" in page
    assert f"{FILE_OVERVIEW_SIZE} × {FILE_OVERVIEW_SIZE} mean overview" in page
    import inspect

    from attention.engine import tiles
    from attention.run import weights
    from views.zoom import embed

    key_step = inspect.signature(tiles.pooled_rows).parameters["key_step"].default
    assert f"{weights.ROWS_PER_BLOCK} queries\n  × {key_step:,} keys at a time" in page
    known_step = inspect.signature(tiles.pooled_rows_known).parameters["key_step"].default
    assert f"{weights.KNOWN_ROWS_PER_BLOCK:,} queries × {known_step} keys at a time" in page
    assert f"the last {weights._OVERVIEWS_KEPT} heads" in page
    from components.zoom import WARM_HEADS

    assert f"up to {WARM_HEADS} other heads of its layer" in page
    assert f"fit in {embed.FILE_BYTES // 10**6} MB (a file) or {embed.NOTEBOOK_BYTES // 10**6} MB (a notebook cell)" in page


def test_the_hosted_cap_in_the_docs(monkeypatch):
    from pathlib import Path

    from attention.run import limits

    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")
    monkeypatch.delenv("ATTENTION_LENS_MAX_TOKENS", raising=False)
    page = (Path(__file__).resolve().parent.parent / "docs" / "long-context.md").read_text()
    assert f"`ATTENTION_LENS_MAX_TOKENS` ({limits.current().max_tokens} by default)" in page


def test_a_long_result_displays_in_a_notebook_as_the_zoomable_view(long_llama, monkeypatch):
    from attention import attend

    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "8")
    long = attend(LONG_TEXT, long_llama)
    shown = long._repr_html_()                     # the zoomable view with the heads that fit (tests/test_zoom.py)
    assert '"views":["zoom"]' in shown and '"n":1002' in shown and "<script" in shown
    assert "2 layers × 8 heads" in repr(long)


def test_warming_computes_a_layers_overviews_in_the_background(long_llama, monkeypatch):
    from attention import attend
    from attention.run.weights import RecordedWeights, overview

    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "8")
    long = attend(LONG_TEXT + "  ", long_llama)
    assert long.warm(1, [2, 5], size=256).result(timeout=120) == [2, 5]   # 1,002 tokens: 256 pools
    kept = long.record.__dict__["_overviews"]
    assert {(1, 2), (1, 5)} <= {key[:2] for key in kept} and not any(key[:2] == (1, 3) for key in kept)
    fresh = RecordedWeights(long.record.layers)                                   # the same record, nothing kept
    assert np.array_equal(long.overview(1, 5, size=256, pool="max"), overview(fresh, 1, 5, 256, "max"))
    short = attend("A short text.", long_llama)
    assert short.warm(0, [1]).result(timeout=60) == []                            # every weight is kept already


def test_warming_stands_back_while_a_reader_asks(long_llama, monkeypatch):
    """Warming starts a head only once no reader has asked for an overview for QUIET_S seconds; the warming thread's
    own overviews do not count as a reader's."""
    import time

    from attention import attend
    from attention.run import weights

    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "8")
    long = attend(LONG_TEXT + "   ", long_llama)
    monkeypatch.setattr(weights, "QUIET_S", 0.2)
    monkeypatch.setitem(weights._READER, "last", time.monotonic() + 3600)       # a reader asking all along
    waiting = long.warm(0, [1], size=256)
    time.sleep(0.6)
    assert not waiting.done() and "_overviews" not in long.record.__dict__     # nothing computed meanwhile
    weights._READER["last"] = 0.0                                                # the reader is done
    assert waiting.result(timeout=120) == [1]
    assert weights._READER["last"] == 0.0                                        # warming itself is no reader
    long.overview(0, 2, size=256)
    assert weights._READER["last"] > 0.0                                         # a reader's request is


def test_two_callers_of_one_heads_overview_share_one_pass(monkeypatch):
    import threading

    from attention.engine import tiles

    n = 600
    generator = torch.Generator().manual_seed(4)
    layer = LayerRecord(torch.randn(1, 2, n, 8, generator=generator), torch.randn(1, 1, n, 8, generator=generator),
                        8 ** -0.5, None, KeyMask(None, n, n, kind="causal"))
    source = RecordedWeights([layer])
    calls = []
    original = tiles.pooled_rows
    monkeypatch.setattr(tiles, "pooled_rows", lambda *a, **k: calls.append(1) or original(*a, **k))
    found = []
    callers = [threading.Thread(target=lambda: found.append(on_demand.overview(source, 0, 1, size=50))) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    one_pass = len(calls)
    on_demand.overview(RecordedWeights([layer]), 0, 1, size=50)               # a fresh source: one more pass
    assert len(calls) == 2 * one_pass and np.array_equal(found[0], found[1])


def test_the_overview_pass_threads_each_run_torch_on_one_thread():
    """Two pass threads that each fork torch's own threads would put 4 busy threads on this 2-core machine (the pass
    then took ~0.39 s at 32k tokens against ~0.29 s); the app's other work keeps torch's thread count."""
    import torch

    from attention.run import weights

    before = torch.get_num_threads()
    counts = list(weights._PASS_POOL.map(lambda _: torch.get_num_threads(), range(weights.PASS_THREADS)))
    assert counts == [1] * weights.PASS_THREADS
    assert torch.get_num_threads() == before
