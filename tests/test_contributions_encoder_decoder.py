"""Contributions on encoder–decoders (attention/analyses/contributions/, target next_token with the source as `text`
and the output so far as `text_b`): a hand-built translator whose next-token logit one source token alone decides,
head removal against heads zeroed in the weights, gradients against finite differences, integrated gradients'
completeness on the trained translate-mini, and scratch:<BART folder> against transformers' own decoder output."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from attention import explain
from attention.analyses import contributions as C
from attention.domains import translate_mini as T
from attention.engine import backends
from attention.run import models
from attention.engine.backends import _scratch_backend
from attention.engine.config import ScratchConfig

SOURCE = "the third of march, twenty twenty-one"
PREFIX = "2021-03-0"


def _register(name: str, network: nn.Module) -> str:
    models._LOADED[name] = _scratch_backend(name, T.tokenizer(), network, "encoder-decoder", 32, {"target"})
    return name


def _config(d_model: int, n_heads: int, layers: int, **extra) -> ScratchConfig:
    sizes = dict(vocab_size=len(T.vocabulary()), d_model=d_model, n_heads=n_heads, d_ff=2 * d_model, max_positions=32,
                 type_vocab_size=0, **extra)
    return ScratchConfig(**sizes, n_layers=layers, decoder=ScratchConfig(**sizes, n_layers=layers, causal=True,
                                                                          cross_attention=True))


def _toy() -> T.Translator:
    """One encoder and one decoder layer, one head, d_model 4, no layer norms, zero positions, self-attention values
    and feed-forward zero. 'march' is the only source embedding with a dimension 0 (2, 0, 0, 0); the others, and
    every decoder embedding, are small noise in dimensions 1–3. Cross-attention keys read dimension 0 (×10) and every
    query asks for it, so each decoder position copies 'march' (weight ≈ 0.9995); the read-out scores '3' by
    dimension 0. So the logit of '3' is 2·α(march) and nothing else moves it. The encoder's self-attention looks at
    'march' the same way (its values are 0, so it changes nothing: only weight-based methods see it)."""
    network = T.Translator(_config(4, 1, 1, positional="learned", embedding_norm=False))
    vocab = T.tokenizer().get_vocab()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        for table in (network.token_embedding, network.decoder.token_embedding):
            table.weight[:, 1:] = torch.randn(table.weight.shape[0], 3, generator=generator) * 0.05
        network.token_embedding.weight[vocab["march"]] = torch.tensor([2.0, 0, 0, 0])
        for attention in (network.layers[0].self_attention, network.decoder.layers[0].cross_attention):
            attention.key.weight[0, 0] = 10.0                               # keys: 20 for 'march' on dimension 0
            attention.query.bias[0] = 1.0                                   # every query asks for dimension 0
        cross = network.decoder.layers[0].cross_attention
        cross.value.weight.copy_(torch.eye(4))
        cross.output.weight.copy_(torch.eye(4))
        network.read_out.weight[vocab["3"], 0] = 1.0
    for stack in (network, network.decoder):
        for layer in stack.layers:
            layer.attention_norm, layer.output_norm = nn.Identity(), nn.Identity()
            if hasattr(layer, "cross_norm"):
                layer.cross_norm = nn.Identity()
    return network.eval()


@pytest.fixture(scope="module")
def toy() -> str:
    return _register("scratch:toy-translator", _toy())


@pytest.fixture(scope="module")
def tiny64() -> str:
    """A random encoder–decoder with real (post-norm) layer norms, 2 + 2 layers × 2 heads, in float64."""
    torch.manual_seed(1)
    network = T.Translator(_config(16, 2, 2)).double().eval()
    with torch.no_grad():
        for parameter in network.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0, 0.5)
    return _register("scratch:tiny64-translator", network)


@pytest.fixture(scope="module")
def toy_found(toy):
    return explain(SOURCE, toy, target="next_token", text_b=PREFIX)


def test_toy_target_is_the_logit_of_the_copied_token(toy, toy_found):
    tokens = T.tokenizer().convert_ids_to_tokens(T.tokenizer()(SOURCE)["input_ids"])
    n_source = len(tokens)
    weight = np.exp(10 / 2) ** 2                                           # q·k/√d = 1·(10·2)/2 = 10 for 'march'
    alpha = weight / (weight + n_source - 1)                                # every other key scores 0
    assert toy_found.target_value == pytest.approx(2 * alpha, rel=1e-5)
    assert "‘3’" in toy_found.target_label                                  # the predicted token, by default
    assert toy_found.tokens[:n_source] == tokens
    assert toy_found.tokens[n_source:] == ["[BOS]", *"2021-03-0"]           # start token, then the output so far
    assert list(toy_found.segments).count(1) == 10
    assert toy_found.head_layers == ["encoder 0", "decoder self 0", "decoder cross 0"]
    assert toy_found.layer_names == toy_found.head_layers
    assert [toy_found.head_name(row, 0) for row in range(3)] == ["encoder 0 · H0", "decoder self 0 · H0", "decoder cross 0 · H0"]


def test_every_method_ranks_the_deciding_source_token_first(toy_found):
    march = toy_found.tokens.index("march")
    assert set(toy_found.scores) == set(C.METHODS)
    for method, scores in toy_found.scores.items():
        assert scores.shape == (len(toy_found.tokens),) and scores.dtype == np.float32
        assert int(np.argmax(scores)) == march, (method, scores)
        if method != "rollout":       # rollout keeps half of each sub-layer on the residual: the last decoder token keeps ¼
            assert scores[march] > 2 * np.abs(np.delete(scores, march)).max(), method
    for method in C.METHODS:
        assert toy_found.faithfulness[method]["comprehensiveness"] > toy_found.faithfulness["random"]["comprehensiveness"]


def test_toy_heads_only_the_cross_attention_head_matters(toy_found):
    encoder, decoder_self, cross = toy_found.head_importance[:, 0]
    assert cross == pytest.approx(toy_found.target_value, abs=1e-5)       # without it the last position holds 0 in dim 0
    assert encoder == pytest.approx(0, abs=1e-6) and decoder_self == pytest.approx(0, abs=1e-6)
    # every query asks the same (bias only), so the head's output is the same at every position: its mean changes nothing
    assert toy_found.head_mean_ablation[2, 0] == pytest.approx(0, abs=1e-5)


def test_rollout_and_alti_rows_are_distributions_over_source_and_decoder_tokens(tiny64):
    setup, _, _ = C._setup(SOURCE, tiny64, "next_token", PREFIX, None)
    for rows in (C.rollout_encoder_decoder(setup.stacks), C.alti_encoder_decoder(setup.stacks, setup.network)):
        assert rows.shape == (len(setup.segment_ids[1]), sum(len(ids) for ids in setup.segment_ids))
        assert (rows >= 0).all()
        np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-5)


def test_target_equals_the_models_own_forward_and_head_removal_equals_zeroed_heads(tiny64):
    found = explain(SOURCE, tiny64, target="next_token", text_b=PREFIX, methods=["attention"])
    setup, _, _ = C._setup(SOURCE, tiny64, "next_token", PREFIX, None)
    network = setup.network
    source, prefix = (torch.tensor([ids]) for ids in setup.segment_ids)

    def logit(model) -> float:
        with torch.no_grad():
            return float(model.logits(source, prefix)[0, -1, setup.target_id])

    assert found.target_value == pytest.approx(logit(network), rel=1e-6)     # the trace keeps float32
    d_head = 16 // 2
    stacks = {"encoder": (network.layers, "self_attention"), "decoder self": (network.decoder.layers, "self_attention"),
              "decoder cross": (network.decoder.layers, "cross_attention")}
    for row, name in enumerate(found.head_layers):
        side, layer = name.rsplit(" ", 1)
        for head in range(2):
            zeroed = copy.deepcopy(network)
            layers, attribute = stacks[side]
            module = getattr((zeroed.layers if side == "encoder" else zeroed.decoder.layers)[int(layer)], attribute)
            with torch.no_grad():
                module.output.weight[:, head * d_head:(head + 1) * d_head] = 0     # the head writes nothing
            assert found.head_importance[row, head] == pytest.approx(found.target_value - logit(zeroed), abs=1e-5), (name, head)


def test_gradients_on_both_sides_equal_finite_differences(tiny64):
    found = explain(SOURCE, tiny64, target="next_token", text_b=PREFIX, methods=["grad_input"])
    setup, _, _ = C._setup(SOURCE, tiny64, "next_token", PREFIX, None)
    vectors = [C._embeddings(setup, i) for i in range(2)]

    def f(moved: list[torch.Tensor]) -> float:
        with torch.no_grad():
            return float(setup.value(C._run(setup, moved)[0])[0])

    epsilon, offset = 1e-6, 0
    for side in range(2):
        for position in range(vectors[side].shape[1]):
            step = torch.zeros_like(vectors[side])
            step[0, position] = vectors[side][0, position] * epsilon          # d/dε f(x + ε·x_i) = ∇_i f · x_i
            plus = [v + step if i == side else v for i, v in enumerate(vectors)]
            minus = [v - step if i == side else v for i, v in enumerate(vectors)]
            numeric = (f(plus) - f(minus)) / (2 * epsilon)
            assert found.scores["grad_input"][offset + position] == pytest.approx(numeric, rel=1e-3, abs=1e-7)
        offset += vectors[side].shape[1]


def test_integrated_gradients_completeness_on_translate_mini(trained_translate_mini):
    found = explain(SOURCE, "translate-mini", target="next_token", text_b=PREFIX)
    assert found.completeness_gap < 0.01
    assert found.scores["integrated_gradients"].sum() == pytest.approx(found.target_value - found.f_baseline, rel=0.01)
    assert "‘3’" in found.target_label                                      # the trained model writes the 3rd's day
    n_source = list(found.segments).count(0)
    # the cross-attention of its last layer looks at the day ('third'), as its alignment score says it learned to
    assert found.tokens[int(np.argmax(found.scores["attention"][:n_source]))] == "third"
    assert found.head_importance.shape == (len(found.head_layers), 4)


def test_named_token_and_empty_prefix(trained_translate_mini):
    first = explain(SOURCE, "translate-mini", target="next_token", methods=["attention"])
    assert first.tokens[-1] == "[BOS]" and "‘2’" in first.target_label      # nothing written yet: the year's first digit
    named = explain(SOURCE, "translate-mini", target="next_token", text_b=PREFIX, token="4", methods=["attention"])
    assert "‘4’" in named.target_label


@pytest.fixture(scope="module")
def bart_folder(tmp_path_factory) -> str:
    from transformers import BartConfig, BartModel

    from conftest import save_with_tokenizer

    torch.manual_seed(0)
    config = BartConfig(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
    return save_with_tokenizer(BartModel(config).eval(), tmp_path_factory.mktemp("bart-contributions"))


def test_bart_weights_on_the_engine_equal_transformers_decoder(bart_folder):
    from transformers import AutoTokenizer, BartModel

    found = explain("The cat sat on the mat.", f"scratch:{bart_folder}", target="next_token", text_b="A cat",
                    methods=["attention", "alti", "grad_input"])
    tokenizer = AutoTokenizer.from_pretrained(bart_folder)
    model = BartModel.from_pretrained(bart_folder, attn_implementation="eager").eval()
    source = tokenizer("The cat sat on the mat.", return_tensors="pt")["input_ids"]
    prefix = tokenizer("A cat", return_tensors="pt")["input_ids"][:, :-1]          # [CLS] a cat, without [SEP]
    with torch.no_grad():
        hidden = model(input_ids=source, decoder_input_ids=prefix).last_hidden_state[0, -1]
        logits = model.shared.weight @ hidden
    assert found.target_value == pytest.approx(float(logits.max()), rel=1e-4)
    assert found.head_layers[:2] == ["encoder 0", "encoder 1"] and len(found.head_layers) == 2 + 3 + 3
    assert found.head_importance.shape == (8, 4)
    assert np.isnan(found.head_importance[2:, 2:]).all() and np.isfinite(found.head_importance[:, :2]).all()


def test_encoder_decoders_take_only_the_next_token_target(tiny64):
    with pytest.raises(ValueError, match="encoder–decoder: its target is the logit of the next output token"):
        explain(SOURCE, tiny64, target="similarity", text_b="x")
    assert C.targets_for(tiny64) == ("next_token",)
    assert C.targets_for("minilm") == C.TARGETS
