"""The from-scratch engine with a decoder side: GPT-2 weights (pre-norm, causal, Conv1D layouts), BART weights
(encoder–decoder, cross-attention) and the random "scratch" model's side decoder.

Tiny random checkpoints (saved with MiniLM's tokenizer) are loaded as "scratch:<folder>" and compared with
transformers' own `output_attentions` on the same folder: every layer and head within 1e-5. Their weights are
drawn wider than transformers' default (std 0.02 makes every head nearly uniform, which would prove little).
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import save_with_tokenizer
import torch

from attention import attend, load_model
from attention.engine import from_gpt2, from_transformers

ATOL = 1e-5
SOURCE = "The little robot read every book in the library, then it wrote one of its own."
TARGET = "Le petit robot a lu tous les livres."


def eager(folder: str):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()


def ids_of(folder: str, text: str) -> list[int]:
    return load_model(folder).tokenizer(text)["input_ids"]


def upper(n: int) -> np.ndarray:
    return np.triu(np.ones((n, n), dtype=bool), 1)


def gpt2(**overrides):
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    config = dict(n_layer=2, n_head=4, n_embd=32, vocab_size=30522, n_positions=64, initializer_range=0.3)
    return GPT2Model(GPT2Config(**{**config, **overrides})).eval()


def bart(**overrides):
    from transformers import BartConfig, BartModel

    torch.manual_seed(0)
    config = dict(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
                  decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=48, max_position_embeddings=64, init_std=0.3)
    return BartModel(BartConfig(**{**config, **overrides})).eval()


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> str:
    return save_with_tokenizer(gpt2(), tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def bart_folder(tmp_path_factory) -> str:
    return save_with_tokenizer(bart(), tmp_path_factory.mktemp("bart"))


# --- GPT-2 -----------------------------------------------------------------------------------------------------

def test_scratch_gpt2_attention_equals_transformers(gpt2_folder):
    ours = attend(SOURCE, f"scratch:{gpt2_folder}")
    ids = ids_of(gpt2_folder, SOURCE)
    with torch.inference_mode():
        out = eager(gpt2_folder)(input_ids=torch.tensor([ids]), output_attentions=True, use_cache=False)
    expected = torch.cat(out.attentions).numpy()
    n = len(ids)
    assert ours.weights.shape == expected.shape == (2, 4, n, n)
    np.testing.assert_allclose(ours.weights, expected, rtol=0, atol=ATOL)
    assert (ours.weights[..., upper(n)] == 0).all()                      # causal: exact zeros above the diagonal
    assert ours.weights[..., ~upper(n)].max(-1).mean() > 0.3             # peaked heads, not a near-uniform blur
    assert ours.meta["engine"] == "scratch" and ours.meta["family"] == "decoder" and ours.meta["norm"] == "pre-norm"
    assert ours.meta["causal"] is True


def test_scratch_gpt2_hidden_states_equal_transformers_including_the_final_norm(gpt2_folder):
    hf = eager(gpt2_folder)
    ours = from_transformers(hf)
    ids = torch.tensor([ids_of(gpt2_folder, SOURCE)])
    with torch.inference_mode():
        expected = hf(input_ids=ids, use_cache=False).last_hidden_state
        hidden, _ = ours(ids)
    torch.testing.assert_close(hidden, expected, rtol=0, atol=5e-5)


@pytest.mark.parametrize("overrides", [{"activation_function": "relu", "n_inner": 40}, {"activation_function": "gelu", "n_head": 8}])
def test_gpt2_variants_with_a_language_model_head(overrides):
    """GPT2LMHeadModel keeps its weights under 'transformer.'; other activations and inner sizes are read too."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    config = dict(n_layer=2, n_head=4, n_embd=32, vocab_size=500, n_positions=40, initializer_range=0.3)
    hf = GPT2LMHeadModel(GPT2Config(**{**config, **overrides}, attn_implementation="eager")).eval()
    ours = from_gpt2(hf)
    ids = torch.tensor([[3, 99, 250, 7, 41, 499, 12]])
    with torch.inference_mode():
        out = hf(input_ids=ids, output_attentions=True, output_hidden_states=True, use_cache=False)
        hidden, weights = ours(ids)
    np.testing.assert_allclose(torch.cat(weights).numpy(), torch.cat(out.attentions).numpy(), rtol=0, atol=ATOL)
    torch.testing.assert_close(hidden, out.hidden_states[-1], rtol=0, atol=5e-5)


def test_gpt2_is_always_causal(gpt2_folder):
    name = f"scratch:{gpt2_folder}"
    np.testing.assert_array_equal(attend(SOURCE, name, causal=True).weights, attend(SOURCE, name).weights)
    with pytest.raises(ValueError, match="decoder.*always runs causally"):
        attend(SOURCE, name, causal=False)
    with pytest.raises(ValueError, match="does not take the option 'target'"):
        attend(SOURCE, name, target=TARGET)


def test_gpt2_with_unusual_attention_scaling_is_refused():
    with pytest.raises(ValueError, match="standard attention scaling"):
        from_gpt2(gpt2(scale_attn_by_inverse_layer_idx=True))


def test_gpt2_reads_at_most_its_positions(gpt2_folder):
    result = attend(" ".join([SOURCE] * 10), f"scratch:{gpt2_folder}")
    assert result.n_tokens == 64 and any("truncated" in notice for notice in result.notices)


# --- BART: self- and cross-attention -----------------------------------------------------------------------------

def bart_reference(folder: str, source_ids: list[int], target_ids: list[int]):
    with torch.inference_mode():
        return eager(folder)(input_ids=torch.tensor([source_ids]), decoder_input_ids=torch.tensor([target_ids]),
                             output_attentions=True, use_cache=False)


def test_scratch_bart_self_and_cross_attention_equal_transformers(bart_folder):
    ours = attend(SOURCE, f"scratch:{bart_folder}", target=TARGET)
    source_ids, target_ids = ids_of(bart_folder, SOURCE), ids_of(bart_folder, TARGET)
    out = bart_reference(bart_folder, source_ids, target_ids)
    s, t = len(source_ids), len(target_ids)
    assert ours.weights.shape == (2, 4, s, s)
    assert ours.target_weights.shape == (3, 2, t, t)
    assert ours.cross.shape == (3, 2, t, s)                                    # [layer, head, target, source]
    np.testing.assert_allclose(ours.weights, torch.cat(out.encoder_attentions).numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours.target_weights, torch.cat(out.decoder_attentions).numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours.cross, torch.cat(out.cross_attentions).numpy(), rtol=0, atol=ATOL)
    assert (ours.target_weights[..., upper(t)] == 0).all()                    # the decoder is causal ...
    assert (ours.cross > 0).all()                                              # ... but sees the whole source
    assert ours.cross.max(-1).mean() > 0.2
    assert ours.target_tokens == load_model(bart_folder).tokenizer.convert_ids_to_tokens(target_ids)
    assert ours.meta["family"] == "encoder-decoder" and ours.meta["decoder"] is True


def test_scratch_bart_hidden_states_equal_transformers(bart_folder):
    hf = eager(bart_folder)
    ours = from_transformers(hf)
    source, target = torch.tensor([ids_of(bart_folder, SOURCE)]), torch.tensor([ids_of(bart_folder, TARGET)])
    with torch.inference_mode():
        out = hf(input_ids=source, decoder_input_ids=target, use_cache=False)
        encoded, decoded = ours.encode_decode(source, target)
    torch.testing.assert_close(encoded.hidden, out.encoder_last_hidden_state, rtol=0, atol=5e-5)
    torch.testing.assert_close(decoded.hidden, out.last_hidden_state, rtol=0, atol=5e-5)


def test_bart_with_scaled_embeddings_and_a_generation_head(tmp_path):
    """BartForConditionalGeneration keeps its weights under 'model.'; scale_embedding multiplies by √d_model."""
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(2)
    config = BartConfig(vocab_size=600, d_model=16, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
                        decoder_attention_heads=4, encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=32,
                        scale_embedding=True, activation_function="relu", init_std=0.3,
                        attn_implementation="eager")
    hf = BartForConditionalGeneration(config).eval()
    ours = from_transformers(hf)
    assert ours.config.embed_scale == pytest.approx(4.0)
    source, target = torch.tensor([[0, 45, 300, 12, 599, 2]]), torch.tensor([[2, 0, 77, 5]])
    with torch.inference_mode():
        out = hf(input_ids=source, decoder_input_ids=target, output_attentions=True, use_cache=False)
        encoded, decoded = ours.encode_decode(source, target)
    np.testing.assert_allclose(torch.cat(decoded.cross).numpy(), torch.cat(out.cross_attentions).numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(torch.cat(encoded.weights).numpy(), torch.cat(out.encoder_attentions).numpy(), rtol=0, atol=ATOL)


def test_scratch_bart_without_target_decodes_the_text_itself(bart_folder):
    result = attend(SOURCE, f"scratch:{bart_folder}")
    assert result.target_tokens == result.tokens
    np.testing.assert_allclose(result.cross, attend(SOURCE, bart_folder).cross, rtol=0, atol=ATOL)


# --- the random "scratch" model's side decoder ---------------------------------------------------------------------

def test_scratch_with_a_target_gives_cross_attention():
    plain = attend(SOURCE, "scratch")
    result = attend(SOURCE, "scratch", target=TARGET)
    s, t = plain.n_tokens, len(result.target_tokens)
    assert plain.cross is None and plain.meta["family"] == "encoder"
    assert result.cross.shape == (2, 4, t, s) and result.target_weights.shape == (2, 4, t, t)
    np.testing.assert_array_equal(result.weights, plain.weights)      # the encoder is the same model either way
    np.testing.assert_allclose(result.cross.sum(-1), 1.0, atol=1e-5)
    assert (result.target_weights[..., upper(t)] == 0).all()
    assert result.cross.max(-1).mean() > 2.0 / s                        # the random decoder's heads are not uniform
    other = attend("A completely different source sentence about rivers.", "scratch", target=TARGET)
    assert other.cross.shape[3] != s or not np.allclose(other.cross, result.cross)


def test_cross_attention_reads_the_encoder_output():
    """Changing one source word changes every target token's cross-attention, though the target is the same."""
    first = attend("The robot read a book.", "scratch", target=TARGET)
    second = attend("The robot read a poem.", "scratch", target=TARGET)
    # the decoder's first self-attention sees only the target; from layer 1 on it carries what cross-attention brought in
    np.testing.assert_array_equal(first.target_weights[0], second.target_weights[0])
    assert np.abs(first.target_weights[1] - second.target_weights[1]).max() > 1e-4
    assert np.abs(first.cross - second.cross).max() > 1e-3


def test_encoder_only_weights_have_no_target():
    with pytest.raises(ValueError, match="does not take the option 'target'"):
        attend(SOURCE, "scratch:minilm", target=TARGET)


def test_other_families_are_refused_by_the_scratch_engine(tmp_path):
    from transformers import T5Config, T5Model

    folder = save_with_tokenizer(T5Model(T5Config(vocab_size=30522, d_model=16, d_kv=4, num_heads=4, num_layers=1, d_ff=32)), tmp_path / "t5")
    with pytest.raises(ValueError, match="BERT-family, GPT-2 or BART.*'t5'"):
        attend(SOURCE, f"scratch:{folder}")


def test_the_learn_views_open_up_gpt2_weights_too(gpt2_folder):
    """Pre-norm and the decoder's own causal mask reach the step-by-step and multi-head views."""
    from attention.analyses.multihead import ablate, layer_heads
    from attention.analyses.steps import sentence_steps

    name = f"scratch:{gpt2_folder}"
    result = attend(SOURCE, name)
    steps = sentence_steps(SOURCE, name, 1, 3)
    np.testing.assert_allclose(steps.weights, result.weights[1, 3], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(steps.mask, np.tri(result.n_tokens, dtype=bool))
    np.testing.assert_allclose(layer_heads(SOURCE, name, 0).weights, result.weights[0], rtol=0, atol=1e-6)
    assert ablate(SOURCE, name, 0, [1]).layer_change > 0
