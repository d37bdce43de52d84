"""Rotary positions in the project's engine (ScratchConfig(positional="rotary")): the angles and the rotation equal
transformers' Llama code, a score depends only on the distance between query and key, the key/value cache gives the
same numbers as one pass, and the trace records the rotated queries and keys the weights come from."""
from __future__ import annotations

import torch

from attention.engine.config import ScratchConfig
from attention.engine.maths import rotary_angles, rotate
from attention.engine.transformer import ScratchTransformer

CONFIG = ScratchConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=64, type_vocab_size=0,
                       positional="rotary", norm_first=True, embedding_norm=False, causal=True, layer_norm_eps=1e-5)


def test_angles_and_rotation_equal_transformers_llama():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = LlamaConfig(hidden_size=64, num_attention_heads=4, head_dim=16, rope_theta=500.0, max_position_embeddings=64)
    positions = torch.arange(5, 17)[None]
    cos_hf, sin_hf = LlamaRotaryEmbedding(config)(torch.zeros(1, 12, 16), positions)       # [1, 12, 16]
    cos, sin = rotary_angles(5, 12, 16, base=500.0)
    assert torch.allclose(cos, cos_hf[0], atol=1e-6) and torch.allclose(sin, sin_hf[0], atol=1e-6)
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 4, 12, 16, generator=generator), torch.randn(2, 4, 12, 16, generator=generator)
    q_hf, k_hf = apply_rotary_pos_emb(q, k, cos_hf, sin_hf)
    for ours, theirs in ((rotate(q, cos, sin), q_hf), (rotate(k, cos, sin), k_hf)):   # float32 rounding only
        assert (ours - theirs).abs().max() < 1e-5 and (ours - theirs).abs().max() < 1e-3 * theirs.abs().max()


def test_a_score_depends_only_on_the_distance():
    generator = torch.Generator().manual_seed(1)
    q, k = torch.randn(16, generator=generator), torch.randn(16, generator=generator)

    def score(m: int, n: int) -> float:
        cos, sin = rotary_angles(0, 40, 16)
        return float(rotate(q, cos[m], sin[m]) @ rotate(k, cos[n], sin[n]))
    assert abs(score(7, 3) - score(30, 26)) < 1e-4 and abs(score(7, 3) - score(7, 4)) > 1e-3   # same gap, another gap
    assert abs(float(q @ k) - score(9, 9)) < 1e-4                                               # distance 0: unrotated


def test_the_cache_and_one_pass_agree_and_the_trace_holds_rotated_queries():
    torch.manual_seed(0)
    network = ScratchTransformer.random(CONFIG, seed=1)
    ids = torch.randint(0, 50, (1, 20))
    whole = network.run(ids, record=True)
    first = network.run(ids[:, :12], record=True)
    cache = [(r["self"]["key"], r["self"]["value"]) for r in first.records]
    rest = network.run(ids[:, 12:], past=cache)
    assert torch.allclose(rest.hidden, whole.hidden[:, 12:], atol=1e-5)
    assert torch.allclose(rest.weights[1], whole.weights[1][:, :, 12:], atol=1e-6)
    record = whole.records[1]["self"]
    query, key = record["query"], record["key"]                                 # [1, head, token, d_head], rotated
    again = torch.softmax((query @ key.transpose(-1, -2)) / 8 ** 0.5 + torch.full((20, 20), float("-inf")).triu(1), -1)
    assert torch.allclose(again, whole.weights[1], atol=1e-6)
    shuffled = network.run(ids, use_positions=False).weights[0]
    assert not torch.allclose(shuffled, whole.weights[0], atol=1e-3)            # positions matter


def test_position_ids_shift_nothing_but_gaps_do():
    """run(positions=...) gives a rotary model any position ids: the same ids as the default change nothing, all of
    them moved by a constant change nothing either (only distances count), a gap changes the scores across it; a
    model with learned positions, or with a key/value cache, refuses them."""
    import pytest

    network = ScratchTransformer.random(CONFIG, seed=2)
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(3))
    plain = network.run(ids)
    default = torch.arange(16).repeat(2, 1)
    assert torch.allclose(network.run(ids, positions=default).hidden, plain.hidden, atol=1e-6)
    assert torch.allclose(network.run(ids, positions=default + 1000).hidden, plain.hidden, atol=1e-4)
    gapped = default + (default >= 8) * 500                                    # a jump of 500 between tokens 7 and 8
    gapped[1] = default[1]                                                     # the second row keeps its positions
    found = network.run(ids, positions=gapped)
    assert torch.allclose(found.weights[0][1], plain.weights[0][1], atol=1e-6)
    assert torch.allclose(found.weights[0][0, :, :8, :8], plain.weights[0][0, :, :8, :8], atol=1e-6)   # before the gap
    assert not torch.allclose(found.weights[0][0, :, 8:, :8], plain.weights[0][0, :, 8:, :8], atol=1e-3)
    learned = ScratchTransformer.random(ScratchConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=1, d_ff=64,
                                                      max_positions=64, type_vocab_size=0, causal=True), seed=0)
    with pytest.raises(ValueError, match="rotary"):
        learned.run(ids, positions=default)
