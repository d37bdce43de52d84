"""Contributions (attention/analyses/contributions/): every method on a hand-built toy whose target one token alone
decides, explicit computations of value norms and ALTI's properties, integrated gradients' completeness, head
removal against the engine's own gates, gradients against finite differences, faithfulness ranges and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from attention import explain, trace
from attention.analyses import contributions as C
from attention.engine import backends
from attention.run import models
from attention.engine.backends import _scratch_backend
from attention.run.models import _bundled_path, load_model
from attention.engine.config import ScratchConfig
from attention.engine.transformer import ScratchTransformer
from attention.run.trace import forward

A = "The animal didn't cross the street because it was too tired."
B = "The animal didn't cross the street because it was too wide."
TOY_TEXT = "the small cat sat on a mat"


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_bundled_path(), local_files_only=True)


def _toy_network(dtype=torch.float32) -> ScratchTransformer:
    """One layer, one head, d_model 4, no layer norms, feed-forward zero: every query attends to 'cat' (weight ≈ 0.95),
    whose embedding (2, 0, 0, 0) is the only large one; the others are small noise in dimensions 1–3."""
    tokenizer = _tokenizer()
    config = ScratchConfig(vocab_size=tokenizer.vocab_size, d_model=4, n_heads=1, n_layers=1, d_ff=4, max_positions=32,
                           type_vocab_size=0, positional="learned", embedding_norm=False)
    network = ScratchTransformer(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.token_embedding.weight[:, 1:] = torch.randn(tokenizer.vocab_size, 3, generator=generator) * 0.05
        cat = tokenizer.convert_tokens_to_ids("cat")
        network.token_embedding.weight[cat] = torch.tensor([2.0, 0, 0, 0])
        attention = network.layers[0].self_attention
        attention.key.weight[0, 0] = 5.0                 # keys: 10 for 'cat' on dimension 0, ~0 for the rest
        attention.query.bias[0] = 1.0                     # every query asks for dimension 0
        attention.value.weight.copy_(torch.eye(4))
        attention.output.weight.copy_(torch.eye(4))
    layer = network.layers[0]
    layer.attention_norm, layer.output_norm = nn.Identity(), nn.Identity()   # the output is x + attention(x)
    return network.to(dtype).eval()


def _register(name: str, network: ScratchTransformer, family: str = "encoder") -> str:
    models._LOADED[name] = _scratch_backend(name, _tokenizer(), network, family, 32, {"causal"})
    return name


@pytest.fixture
def toy() -> str:
    name = "scratch:toy-contributions"
    if name not in models._LOADED:
        _register(name, _toy_network())
    return name


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> str:
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    torch.manual_seed(0)
    model = GPT2Model(GPT2Config(n_layer=2, n_head=4, n_embd=32, vocab_size=30522, n_positions=64, initializer_range=0.3)).eval()
    folder = tmp_path_factory.mktemp("gpt2-contributions")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(folder)
    return f"scratch:{folder}"


_DEFAULT_PAIR = []


@pytest.fixture(scope="module")
def default_pair():
    """One full explain() of MiniLM's default pair (every method, the default steps), shared by the tests that read it:
    the costliest call in this file, made once per process (kept here too: this module's fixtures are set up again when
    its trained-model tests run last, and other tests may clear the core's caches meanwhile)."""
    if not _DEFAULT_PAIR:
        _DEFAULT_PAIR.append(explain(A, "minilm", text_b=B))
    return _DEFAULT_PAIR[0]


def _cat_position(name: str) -> int:
    return trace(TOY_TEXT, name).tokens.index("cat")


# --- the toy: one token decides ------------------------------------------------------------------------------------

def test_every_method_ranks_the_deciding_token_first(toy):
    position = _cat_position(toy)
    found = explain(TOY_TEXT, toy, target="token", token=position)
    assert set(found.scores) == set(C.METHODS)
    for method, scores in found.scores.items():
        assert scores.shape == (len(found.tokens),) and scores.dtype == np.float32
        assert int(np.argmax(scores)) == position, (method, scores)
        others = np.delete(scores, position)
        assert scores[position] > 2 * np.abs(others).max(), method
    # 'cat' is the whole target: replacing it is what every faithful ranking does first (deleting it would delete the
    # token the target reads, so deletion keeps it)
    masked = explain(TOY_TEXT, toy, target="token", token=position, removal="mask")
    for method in C.METHODS:
        assert masked.faithfulness[method]["comprehensiveness_vs_random"] > 0
    assert np.isnan(found.leave_one_out[position]) and np.nanargmax(np.abs(masked.leave_one_out)) == position


def test_toy_target_is_the_output_norm_and_head_removal_leaves_the_residual(toy):
    position = _cat_position(toy)
    run = trace(TOY_TEXT, toy)
    found = explain(TOY_TEXT, toy, target="token", token=position, methods=["attention"])
    assert found.target_value == pytest.approx(float(np.linalg.norm(run.output[position])), rel=1e-6)
    # without its only head, 'cat''s output is its own embedding (2, 0, 0, 0): norm 2
    assert found.head_importance[0, 0] == pytest.approx(found.target_value - 2.0, abs=1e-5)


def test_mean_ablation_replaces_the_head_output_by_its_mean_over_tokens(toy):
    position = _cat_position(toy)
    run = trace(TOY_TEXT, toy)
    found = explain(TOY_TEXT, toy, target="token", token=position, methods=["attention"])
    heads = run.head_outputs[0, 0]                                             # [token, d_head]
    change = (heads.mean(0) - heads[position]) @ run.output_weights[0, 0]      # through W_O
    ablated = run.output[position] + change                                     # no norms, zero feed-forward
    assert found.head_mean_ablation[0, 0] == pytest.approx(found.target_value - np.linalg.norm(ablated), abs=1e-5)


# --- explicit computations and defining properties -----------------------------------------------------------------

def test_value_norms_equal_an_explicit_computation():
    run = trace("Birds sing at dawn.", "scratch")
    network = load_model("scratch").network
    layer = 1
    attention = network.layers[layer].self_attention
    x = torch.from_numpy(run.attention_input[layer].copy())                    # what the attention read [token, d_model]
    d_head = attention.value.weight.shape[0] // attention.n_heads
    expected = np.zeros((attention.n_heads, run.n_tokens, run.n_tokens))
    with torch.no_grad():
        values = attention.value(x)                                             # [token, d_model], bias included
        for head in range(attention.n_heads):
            part = slice(head * d_head, (head + 1) * d_head)
            f = values[:, part] @ attention.output.weight[:, part].T            # f(x) through this head's W_O slice
            for query in range(run.n_tokens):
                for key in range(run.n_tokens):
                    expected[head, query, key] = float(torch.linalg.norm(run.weights[layer, head, query, key] * f[key]))
    np.testing.assert_allclose(C.value_norms(run, layer), expected, rtol=1e-4, atol=1e-6)
    token = 2
    found = explain("Birds sing at dawn.", "scratch", target="token", token=token, methods=["value_norm"])
    whole = C.layer_value_norms(run, run.n_layers - 1)[token]
    np.testing.assert_allclose(found.scores["value_norm"], whole, rtol=1e-6)


@pytest.mark.parametrize("model", ["scratch", "gpt2"])
def test_alti_contributions_are_non_negative_and_rows_sum_to_one(model, gpt2_folder):
    name = gpt2_folder if model == "gpt2" else model
    run = trace(A, name)
    network = load_model(name).network
    for found in (C.alti_layers(run, network), C.alti(run, network)):
        assert found.shape == (run.n_layers, run.n_tokens, run.n_tokens)
        assert (found >= 0).all()
        np.testing.assert_allclose(found.sum(-1), 1.0, atol=1e-5)


def test_integrated_gradients_completeness_on_minilm_default_pair(default_pair):
    found = default_pair                                                       # the default steps
    assert found.completeness_gap < 0.01
    for side, f_baseline in enumerate(found.f_baselines):                     # each sentence: its own baseline
        part = found.scores["integrated_gradients"][found.segments == side]
        assert part.sum() == pytest.approx(found.target_value - f_baseline, rel=0.01, abs=1e-6)
    assert any("scratch:minilm" in n for n in found.notices)


def test_integrated_gradients_completeness_on_a_decoder(gpt2_folder):
    found = explain(A, gpt2_folder, target="next_token", methods=["integrated_gradients"])
    assert found.completeness_gap < 0.01


def test_similarity_is_the_cosine_of_transformers_mean_pooled_embeddings(default_pair):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(_bundled_path(), local_files_only=True).eval()
    tokenizer = _tokenizer()
    with torch.inference_mode():
        pooled = [model(**tokenizer(t, return_tensors="pt")).last_hidden_state[0].mean(0) for t in (A, B)]
    expected = float(torch.cosine_similarity(pooled[0], pooled[1], dim=0))
    found = default_pair
    assert found.target_value == pytest.approx(expected, abs=1e-5)
    assert found.tokens == tokenizer.convert_ids_to_tokens(tokenizer(A)["input_ids"]) + \
        tokenizer.convert_ids_to_tokens(tokenizer(B)["input_ids"])
    assert list(found.segments).count(1) == len(tokenizer(B)["input_ids"])


@pytest.mark.parametrize("model", ["scratch", "gpt2"])
def test_head_removal_equals_the_engines_gate(model, gpt2_folder):
    name = gpt2_folder if model == "gpt2" else model
    target, token = ("next_token", None) if model == "gpt2" else ("token", 3)
    setup, _, _ = C._setup(A, name, target, None, token)
    with torch.no_grad():
        removed = C.head_effects(setup, "remove")
        full = float(C._value(setup, [torch.from_numpy(setup.runs[0].output.copy())[None]])[0])
        for layer, head in [(0, 0), (0, 3), (1, 2)]:
            gated = trace(A, name, gate={(layer, head): 0.0})
            value = float(C._value(setup, [torch.from_numpy(gated.output.copy())[None]])[0])
            assert removed[layer, head] == pytest.approx(full - value, abs=1e-5)


def test_gradients_through_the_engine_equal_finite_differences():
    network = ScratchTransformer.random(ScratchConfig(vocab_size=_tokenizer().vocab_size, d_model=16, n_heads=2), seed=3)
    name = _register("scratch:float64-contributions", network.double())
    found = explain(TOY_TEXT, name, target="token", token=(2, 5), methods=["grad_input"])
    setup, _, _ = C._setup(TOY_TEXT, name, "token", None, (2, 5))
    embeddings = C._embeddings(setup, 0)

    def f(vectors):
        with torch.no_grad():
            return float(C._value(setup, [forward(setup.prepared[0], None, False, vectors)[0].hidden])[0])

    epsilon = 1e-6
    for position in range(len(setup.prepared[0].ids)):
        step = torch.zeros_like(embeddings)
        step[0, position] = embeddings[0, position] * epsilon                  # d/dε f(x + ε·x_i) = ∇_i f · x_i
        numeric = (f(embeddings + step) - f(embeddings - step)) / (2 * epsilon)
        assert found.scores["grad_input"][position] == pytest.approx(numeric, rel=1e-3, abs=1e-6)


# --- faithfulness, agreement, the decoder target -------------------------------------------------------------------

def test_faithfulness_numbers_are_in_range_and_both_directions_are_explained(default_pair):
    found = default_pair
    assert set(found.faithfulness) == set(C.METHODS) | {"random"}
    assert found.directions == ["A", "B"] and found.removal == C.DEFAULT_REMOVAL == "delete"
    for name, values in found.faithfulness.items():
        assert {"comprehensiveness", "sufficiency", "comprehensiveness_vs_random", "comprehensiveness_spread",
                "tau_abs", "tau_signed"} <= set(values)
        assert all(abs(v) <= 2.0 for v in values.values() if np.isfinite(v))   # a cosine moves at most 2
        assert (name in C.UNSIGNED or name == "random") == np.isnan(values["tau_signed"])
    assert found.faithfulness["random"]["comprehensiveness_vs_random"] == 0
    assert found.faithfulness["random"]["comprehensiveness_spread"] > 0
    for direction, curves in found.curves.items():
        for curve in curves.values():
            assert 0 < curve["fraction"].min() and curve["fraction"].max() < 1     # bins never reach 100%
    assert len(found.f_baselines) == 2


def test_the_page_reads_head_names_and_the_most_comprehensive_method_from_the_explanation(default_pair):
    found = default_pair
    assert found.layer_names == [f"layer {l}" for l in range(6)]            # MiniLM: one stack of 6 layers
    assert found.head_name(3, 5) == "L3 H5"
    best = found.most_comprehensive()
    assert best["method"] != "random" and best == {"method": best["method"], **found.faithfulness[best["method"]]}
    assert all(best["comprehensiveness"] >= v["comprehensiveness"] for name, v in found.faithfulness.items()
               if name != "random")


def test_agreement_is_one_for_equal_rankings_and_minus_one_for_reversed():
    names, spearman, kendall = C.agreement({"a": np.arange(5.0), "b": np.arange(5.0) * 3, "c": -np.arange(5.0),
                                            "flat": np.ones(5)})
    assert names == ["a", "b", "c", "flat"]
    assert spearman[0, 1] == pytest.approx(1) and kendall[0, 1] == pytest.approx(1)
    assert spearman[0, 2] == pytest.approx(-1) and kendall[0, 2] == pytest.approx(-1)
    assert np.isnan(spearman[0, 3])


def test_next_token_scores_the_predicted_token_or_a_named_one(gpt2_folder):
    run = trace(A, gpt2_folder)
    network = load_model(gpt2_folder).network
    logits = torch.from_numpy(run.output[-1].copy()) @ network.token_embedding.weight.detach().T
    found = explain(A, gpt2_folder, target="next_token", methods=["grad_input"])
    assert found.target_value == pytest.approx(float(logits.max()), rel=1e-5)
    named = explain(A, gpt2_folder, target="next_token", token="river", methods=["grad_input"])
    river = _tokenizer().convert_tokens_to_ids("river")
    assert named.target_value == pytest.approx(float(logits[river]), rel=1e-5, abs=1e-5)
    assert "river" in named.target_label


@pytest.mark.parametrize("kwargs, message", [
    ({"target": "sentiment"}, "target must be one of"),
    ({"target": "similarity"}, "give a second sentence"),
    ({"target": "token"}, "needs a token index"),
    ({"target": "token", "token": 99}, "token 99 does not exist"),
    ({"target": "token", "token": "2"}, "whole number"),
    ({"target": "next_token"}, "needs a decoder"),
    ({"target": "token", "token": 1, "methods": ["lime"]}, "Unknown method"),
    ({"target": "token", "token": 1, "steps": 1}, "steps must be between"),
])
def test_bad_targets_tokens_and_options_are_value_errors_for_people(kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain("Birds sing at dawn.", "minilm", **kwargs)


def test_a_named_next_token_must_be_one_token(gpt2_folder):
    with pytest.raises(ValueError, match="name one token"):
        explain(A, gpt2_folder, target="next_token", token="unbelievably wonderful")


def test_a_decoder_with_its_own_output_layer_is_read_through_it():
    """The next-token target's output row is the model's own output layer where it has one (induction-mini's and an
    untied gpt-mini's `unembed`), not its token embeddings; an untied gpt-mini's rows outside its vocabulary are 0."""
    import torch

    from attention.analyses.contributions.setups import ENGINE
    from attention.analyses.contributions.targets import _output_layer
    from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig
    from attention.domains.induction_mini.model import InductionConfig, InductionMini

    induction = InductionMini.initial(InductionConfig())
    weight, bias, words = _output_layer(induction, ENGINE)
    assert torch.equal(weight, induction.unembed.weight) and bias is None and "output layer" in words
    vocabulary = torch.tensor([0, 5, 9])
    untied = GPTMini.initial(GPTMiniConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32).scratch(vocab_size=12), vocabulary,
                             untied=True)
    weight, _, _ = _output_layer(untied, ENGINE)
    assert weight.shape == (12, 16) and torch.equal(weight[vocabulary], untied.unembed.weight)
    assert not weight[[1, 2, 3, 4, 6, 7, 8, 10, 11]].any()
    hidden = torch.randn(1, 2, 16)
    assert torch.allclose((hidden @ weight.T)[..., vocabulary], untied.next_token_logits(hidden)[..., vocabulary])
    tied = GPTMini.initial(GPTMiniConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32).scratch(vocab_size=12), vocabulary)
    assert torch.equal(_output_layer(tied, ENGINE)[0], tied.token_embedding.weight)
