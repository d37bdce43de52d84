"""Contributions on models the project's engine cannot hold (run through transformers itself): a tiny random Llama
(decoder) and RoBERTa (encoder) built from configs. What gradients and hooks allow is computed and checked against
independent computations; value_norm and alti are named as not available."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from attention import explain
from attention.analyses import contributions as C
from attention.run.models import load_model
from conftest import save_with_tokenizer

A = "The animal didn't cross the street because it was too tired."
B = "The animal didn't cross the street because it was too wide."


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> str:
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64, initializer_range=0.1)
    return save_with_tokenizer(LlamaModel(config).eval(), tmp_path_factory.mktemp("llama-contributions"))


@pytest.fixture(scope="module")
def roberta(tmp_path_factory) -> str:
    from transformers import RobertaConfig, RobertaModel

    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=80)
    return save_with_tokenizer(RobertaModel(config).eval(), tmp_path_factory.mktemp("roberta-contributions"))


@pytest.fixture(scope="module")
def llama_found(llama):
    return explain(A, llama, target="next_token")


def _last_hidden(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).last_hidden_state[0]


def test_transformers_only_models_get_what_gradients_and_hooks_allow(llama, llama_found):
    assert set(llama_found.scores) == {"attention", "rollout", "grad_input", "integrated_gradients", "attention_gradient"}
    assert llama_found.unavailable == ["value_norm", "alti"]
    notice = " ".join(llama_found.notices)
    assert "value_norm and alti" in notice and "not available" in notice and "transformers" in notice
    assert llama_found.completeness_gap < 0.01
    assert llama_found.head_importance.shape == (2, 4) and np.isfinite(llama_found.head_importance).all()
    for name in ("attention", "rollout"):                                 # weights from output_attentions: rows of 1
        assert llama_found.scores[name].sum() == pytest.approx(1.0, abs=1e-5)


def test_next_token_is_the_predicted_tokens_logit_through_tied_input_embeddings(llama, llama_found):
    model = load_model(llama).network
    ids = model.get_input_embeddings().weight.shape[0]
    tokenizer = load_model(llama).tokenizer
    logits = (model.get_input_embeddings().weight @ _last_hidden(model, tokenizer(A)["input_ids"])[-1]).detach()
    assert logits.shape == (ids,)
    assert llama_found.target_value == pytest.approx(float(logits.max()), rel=1e-5)


def test_head_removal_equals_zeroing_the_heads_output_projection_columns(llama, llama_found):
    model = load_model(llama).network
    ids = load_model(llama).tokenizer(A)["input_ids"]
    row = model.get_input_embeddings().weight[int(np.argmax(
        (model.get_input_embeddings().weight @ _last_hidden(model, ids)[-1]).detach().numpy()))]
    d_head = 32 // 4
    for layer, head in [(0, 0), (0, 3), (1, 2)]:
        zeroed = copy.deepcopy(model)
        with torch.no_grad():
            zeroed.layers[layer].self_attn.o_proj.weight[:, head * d_head:(head + 1) * d_head] = 0
            value = float(_last_hidden(zeroed, ids)[-1] @ row)
        assert llama_found.head_importance[layer, head] == pytest.approx(llama_found.target_value - value, abs=1e-4)


def test_gradients_through_inputs_embeds_equal_finite_differences(roberta):
    # RoBERTa in float64 (Llama's RMSNorm computes in float32 whatever the model's dtype, too coarse for differences)
    model = load_model(roberta).network
    model.double()
    try:
        found = explain("the small cat sat", roberta, target="token", token=(1, 3), methods=["grad_input"])
        setup, _, _ = C._setup("the small cat sat", roberta, "token", None, (1, 3))
        vectors = C._embeddings(setup, 0)

        def f(moved: torch.Tensor) -> float:
            with torch.no_grad():
                return float(setup.value(C._run(setup, [moved])[0])[0])

        epsilon = 1e-6
        for position in range(vectors.shape[1]):
            step = torch.zeros_like(vectors)
            step[0, position] = vectors[0, position] * epsilon                  # d/dε f(x + ε·x_i) = ∇_i f · x_i
            numeric = (f(vectors + step) - f(vectors - step)) / (2 * epsilon)
            assert found.scores["grad_input"][position] == pytest.approx(numeric, rel=1e-3, abs=1e-7)
    finally:
        model.float()
        C._CACHE.clear()


def test_a_transformers_only_encoder_gives_the_similarity_of_mean_pooled_outputs(roberta):
    found = explain(A, roberta, text_b=B, methods=["attention", "integrated_gradients", "value_norm"])
    backend = load_model(roberta)
    pooled = [_last_hidden(backend.network, backend.tokenizer(t)["input_ids"]).mean(0) for t in (A, B)]
    assert found.target_value == pytest.approx(float(torch.cosine_similarity(pooled[0], pooled[1], dim=0)), abs=1e-6)
    assert set(found.scores) == {"attention", "integrated_gradients"} and found.unavailable == ["value_norm"]
    assert found.completeness_gap < 0.01
    assert np.isfinite(found.head_importance).all()                        # RoBERTa's attention.output.dense hooks


def test_asking_only_for_engine_methods_is_a_message(llama):
    with pytest.raises(ValueError, match="need the project's engine"):
        explain(A, llama, target="next_token", methods=["alti"])


def test_a_transformers_only_head_view_shows_its_weights(llama):
    view = C.head_views(A, llama, 1, 2)
    assert view.norms is None and view.weights.shape == (len(view.query_tokens), len(view.key_tokens))
    np.testing.assert_allclose(view.weights.sum(-1), 1.0, atol=1e-5)
