"""Recorded runs (attention/engine/record.py + tiles.py) equal transformers' eager output_attentions for every
layer and head of tiny random models of each family: grouped-query, sliding windows, soft-capping, padding."""
from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from attention.engine import record, tiles  # noqa: E402

TOLERANCE = 1e-5


def _configs() -> dict:
    small = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 initializer_range=0.3)
    return {
        "llama": transformers.LlamaConfig(**small, num_key_value_heads=2, max_position_embeddings=4096),
        "qwen2": transformers.Qwen2Config(**small, num_key_value_heads=2, max_position_embeddings=4096),
        "mistral": transformers.MistralConfig(**small, num_key_value_heads=2, sliding_window=8),
        "gemma2": transformers.Gemma2Config(**small, num_key_value_heads=2, head_dim=8, sliding_window=8,
                                            attn_logit_softcapping=0.5, query_pre_attn_scalar=8),
        "gpt2": transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                        initializer_range=0.3, bos_token_id=0, eos_token_id=0),
        "bert": transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=64, initializer_range=0.3),
        "bart": transformers.BartConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2,
                                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                                        decoder_ffn_dim=64, init_std=0.3, max_position_embeddings=128),
    }


def _network(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return transformers.AutoModel.from_config(_configs()[name], attn_implementation="eager").eval()


def _eager_and_record(network, ids, attention_mask=None, **kwargs):
    """eager {stack: per-layer [batch, head, query, key]} and the Record of the same input."""
    with torch.no_grad():
        eager = network(input_ids=ids, attention_mask=attention_mask, output_attentions=True, **kwargs)
    record.use_recording(network)
    with torch.no_grad(), record.recording(network) as rec:
        recorded = network(input_ids=ids, attention_mask=attention_mask, **kwargs)
    if network.config.is_encoder_decoder:
        stacks = {"weights": eager.encoder_attentions, "target_weights": eager.decoder_attentions,
                  "cross": eager.cross_attentions}
        hidden = (eager.last_hidden_state, recorded.last_hidden_state)
    else:
        stacks = {"weights": eager.attentions}
        hidden = (eager.last_hidden_state, recorded.last_hidden_state)
    return stacks, rec, hidden


def _tile(layer: record.LayerRecord, batch: int, head: int) -> torch.Tensor:
    n_q = layer.queries.shape[2]
    lse = tiles.log_sum_exp(layer, batch, head, slice(0, n_q))
    return tiles.weights(layer, batch, head, slice(0, n_q), slice(0, tiles.n_keys(layer)), lse)


@pytest.mark.parametrize("family", ["llama", "qwen2", "mistral", "gemma2", "gpt2", "bert", "bart"])
def test_every_layer_and_head_equals_eager(family):
    network = _network(family)
    ids = torch.randint(3, 100, (1, 40), generator=torch.Generator().manual_seed(1))
    kwargs = {"decoder_input_ids": ids[:, :30]} if family == "bart" else {}
    eager, rec, (eager_out, recorded_out) = _eager_and_record(network, ids, **kwargs)
    assert set(rec.stacks) == set(eager)
    for stack, layers in eager.items():
        assert len(rec.stacks[stack]) == len(layers)
        for index, expected in enumerate(layers):
            layer = rec.stacks[stack][index]
            assert layer.queries.dtype == torch.float32
            for head in range(expected.shape[1]):
                got = _tile(layer, 0, head)
                assert (got - expected[0, head]).abs().max().item() <= TOLERANCE, (stack, index, head)
    # the layer outputs came from SDPA (or the chunked soft-capped softmax), not from the eager weights
    assert (eager_out - recorded_out).abs().max().item() <= 1e-4


def test_grouped_query_heads_share_keys():
    network = _network("llama")
    _, rec, _ = _eager_and_record(network, torch.randint(3, 100, (1, 12)))
    layer = rec.stacks["weights"][0]
    assert layer.n_heads == 4 and layer.keys.shape[1] == 2 and layer.groups == 2


def test_sliding_window_and_softcap_are_recorded_and_matter():
    mistral = _network("mistral")
    eager, rec, _ = _eager_and_record(mistral, torch.randint(3, 100, (1, 30)))
    tile = _tile(rec.stacks["weights"][0], 0, 0)
    assert tile[20, :13].abs().max() == 0 and tile[20, 13:21].sum().item() == pytest.approx(1, abs=1e-5)  # window 8
    gemma = _network("gemma2")
    eager, rec, _ = _eager_and_record(gemma, torch.randint(3, 100, (1, 30)))
    layers = rec.stacks["weights"]
    assert all(layer.softcap == 0.5 for layer in layers)
    local, full = _tile(layers[0], 0, 0), _tile(layers[1], 0, 0)   # Gemma 2 alternates local and global layers
    assert local[25, :18].abs().max() == 0 and full[25, :18].abs().max() > 0


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_padding_matches_eager_on_real_tokens(family):
    network = _network(family)
    ids = torch.randint(3, 100, (2, 20), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 20, dtype=torch.long)
    if family == "llama":
        mask[1, :6] = 0      # a decoder pads on the left
    else:
        mask[1, 14:] = 0     # an encoder on the right
    eager, rec, _ = _eager_and_record(network, ids, attention_mask=mask)
    real = mask[1].bool()
    for index, expected in enumerate(eager["weights"]):
        layer = rec.stacks["weights"][index]
        for head in range(expected.shape[1]):
            for batch in (0, 1):
                got = _tile(layer, batch, head)
                rows = real if batch == 1 else torch.ones(20, dtype=torch.bool)
                assert (got[rows] - expected[batch, head][rows]).abs().max().item() <= TOLERANCE
            assert _tile(layer, 1, head)[:, ~real].abs().max() == 0   # padding keys get exactly 0


def test_outside_recording_the_network_still_runs():
    network = _network("llama")
    ids = torch.randint(3, 100, (1, 16))
    with torch.no_grad():
        expected = network(input_ids=ids).last_hidden_state
        record.use_recording(network)
        got = network(input_ids=ids).last_hidden_state
    assert (got - expected).abs().max().item() <= 1e-4


def test_fp16_record_is_close_and_half_the_bytes():
    network = _network("llama")
    ids = torch.randint(3, 100, (1, 64))
    eager, rec32, _ = _eager_and_record(network, ids)
    with torch.no_grad(), record.recording(network, dtype=torch.float16) as rec16:
        network(input_ids=ids)
    given = sum(layer.lse.numel() * 4 for layer in rec32.stacks["weights"])   # the fp32 run's own log-sum-exps
    assert given > 0 and rec16.nbytes * 2 == rec32.nbytes - given
    assert all(layer.lse is None for layer in rec16.stacks["weights"])         # rounded keys: the kernel's would not fit
    layer = rec16.stacks["weights"][1]
    assert layer.queries.dtype == torch.float16
    assert (_tile(layer, 0, 3) - eager["weights"][1][0, 3]).abs().max().item() < 2e-3


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_the_run_gives_each_rows_log_sum_exp_when_it_keeps_the_models_dtype(family):
    """The CPU kernel SDPA dispatches to also returns every row's log-sum-exp: kept (grouped-query and bidirectional
    heads alike) and equal to the one found from the recorded queries and keys; with padding (another path) none."""
    network = _network(family)
    ids = torch.randint(3, 100, (1, 48), generator=torch.Generator().manual_seed(2))
    eager, rec, (eager_out, recorded_out) = _eager_and_record(network, ids)
    assert torch.allclose(eager_out, recorded_out, atol=1e-5)                 # the output is still the model's
    for layer in rec.stacks["weights"]:
        assert layer.lse is not None and layer.lse.shape == (1, layer.n_heads, 48)
        for head in range(layer.n_heads):
            assert torch.allclose(layer.lse[0, head], tiles.log_sum_exp(layer, 0, head, slice(0, 48)), atol=2e-6)
    padded = torch.ones(1, 48, dtype=torch.long)
    padded[0, 40:] = 0
    with torch.no_grad(), record.recording(network) as rec_padded:
        network(input_ids=ids, attention_mask=padded)
    assert all(layer.lse is None for layer in rec_padded.stacks["weights"])


def test_an_fp32_record_at_any_length_while_it_is_small():
    from attention.engine.record_backend import FP32_RECORD_MB, fp32_record_bytes, record_dtype

    llama = _configs()["llama"]
    per_token = llama.num_hidden_layers * (llama.num_attention_heads + llama.num_key_value_heads) * llama.head_dim * 4
    assert fp32_record_bytes(llama, 1000) == 1000 * per_token
    assert record_dtype(torch.float32, 32768, 32768 * per_token) == torch.float32              # a small model
    assert record_dtype(torch.float32, 32768, FP32_RECORD_MB * 2**20 + 1) == torch.float16    # a large one
    assert record_dtype(torch.float32, 32768) == torch.float16 and record_dtype(torch.float32, 2048) == torch.float32
    assert record_dtype(torch.bfloat16, 100, 1) == torch.bfloat16


def test_a_model_that_computes_attention_itself_is_refused_clearly():
    xlnet = transformers.XLNetModel(transformers.XLNetConfig(vocab_size=50, d_model=16, n_layer=1, n_head=2, d_inner=32))
    with pytest.raises(ValueError, match="AttentionInterface"):
        record.use_recording(xlnet)
    plain = torch.nn.Linear(4, 4)   # anything that never calls the registered function: found after the run
    with pytest.raises(ValueError, match="nothing was recorded"):
        with torch.no_grad(), record.recording(plain):
            plain(torch.zeros(1, 4))
