"""attention/scratch.py: the from-scratch encoder, its seeded random weights, and BERT weights copied into it.

The central promise: with a BERT checkpoint's weights, our engine's attention equals transformers'
`output_attentions` to 1e-5 for every layer and head.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attention import attend
from attention.run.models import _bundled_path, load_model
from attention.engine import ScratchConfig, ScratchTransformer, from_bert, sinusoidal_positions

ATOL = 1e-5
SENTENCE = "The cat sat on the mat because it was warm, and the dog watched it from the door."
MEDIUM = (
    "Attention lets every token look at every other token. A query asks a question, keys offer answers, "
    "and values carry the content that is handed over. Heads specialise: some look at the previous word, "
    "some at punctuation, some at the start of the sentence. Layers stack these patterns, so later layers "
    "can combine what earlier ones found. Visualising the weights is a way to see which tokens matter. "
    "Some heads even follow syntax, linking verbs to their subjects and adjectives to the nouns they describe, "
    "across many words of distance in the text, which is why people enjoy looking at them."
)
LONG = " ".join(f"Sentence number {i} talks about topic {i % 17} and refers back to item {i // 3}." for i in range(400))


def hf_eager(folder: str):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()


def hf_attentions(model, input_ids: list[int]) -> tuple[np.ndarray, torch.Tensor]:
    """transformers' own attention [layer, head, query, key] and last hidden state for one sequence."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([input_ids]), output_attentions=True)
    return torch.cat(out.attentions).numpy(), out.last_hidden_state


def save_bert(folder, **config) -> str:
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(7)
    BertModel(BertConfig(vocab_size=30522, **config)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def minilm_hf():
    return hf_eager(_bundled_path())


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_bundled_path())


@pytest.fixture(scope="module")
def bert_gelu_new(tmp_path_factory) -> str:
    """3 layers × 2 heads, tanh-approximated GELU, learned positions up to 64."""
    return save_bert(tmp_path_factory.mktemp("bert-gelu-new"), hidden_size=24, num_hidden_layers=3, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=64, hidden_act="gelu_new")


@pytest.fixture(scope="module")
def bert_relu(tmp_path_factory) -> str:
    """1 layer × 8 heads, ReLU, a non-default layer-norm epsilon and 3 segment types."""
    return save_bert(tmp_path_factory.mktemp("bert-relu"), hidden_size=32, num_hidden_layers=1, num_attention_heads=8,
                     intermediate_size=40, max_position_embeddings=96, hidden_act="relu", layer_norm_eps=1e-5,
                     type_vocab_size=3)


# --- seeded random weights: the model called "scratch" ---------------------------------------------------------

def test_random_builds_are_deterministic():
    config = ScratchConfig(vocab_size=500)
    first = ScratchTransformer.random(config).state_dict()
    second = ScratchTransformer.random(config).state_dict()
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0, msg=name)
    other = ScratchTransformer.random(config, seed=1).state_dict()
    assert not torch.equal(first["layers.0.self_attention.query.weight"], other["layers.0.self_attention.query.weight"])


def test_random_weights_layer_norm_identity_biases_zero_and_eval_mode():
    model = ScratchTransformer.random(ScratchConfig(vocab_size=100))
    assert not model.training
    for name, parameter in model.named_parameters():
        if "norm" in name:
            expected = torch.ones_like(parameter) if name.endswith("weight") else torch.zeros_like(parameter)
            torch.testing.assert_close(parameter, expected, msg=name)
        elif name.endswith("bias"):
            assert not parameter.any(), name
        else:
            assert parameter.std() > 0, name


def test_scratch_model_has_two_layers_four_heads_and_is_the_seeded_build():
    text = "Heads show distinct patterns."
    result = attend(text, "scratch")
    assert result.weights.shape[:2] == (2, 4)
    assert result.meta["engine"] == "scratch" and result.meta["positional"] == "sinusoidal"
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)

    backend = load_model("scratch")
    fresh = ScratchTransformer.random(ScratchConfig(vocab_size=backend.tokenizer.vocab_size), seed=0)
    ids = backend.tokenizer(text)["input_ids"]
    with torch.inference_mode():
        _, weights = fresh(torch.tensor([ids]))
    np.testing.assert_array_equal(result.weights, torch.cat(weights).numpy())


def test_scratch_heads_are_not_uniform():
    """The random weights are scaled so heads show patterns: rows are far from 1/n everywhere."""
    result = attend(MEDIUM, "scratch")
    n = result.n_tokens
    assert result.weights.max(axis=-1).mean() > 3.0 / n
    per_head = result.weights.reshape(result.n_layers * result.n_heads, -1)
    assert not np.allclose(per_head[0], per_head[1])


def test_causal_scratch_has_exact_zeros_above_the_diagonal():
    result = attend(SENTENCE, "scratch", causal=True)
    n = result.n_tokens
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    assert (result.weights[..., upper] == 0).all()
    assert (result.weights[..., ~upper] > 0).all()
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(result.weights[..., 0, 0], 1.0, atol=1e-6)   # the first token sees only itself
    assert result.meta["causal"] is True
    assert result.options == {"causal": True}


def test_non_causal_scratch_looks_ahead():
    result = attend(SENTENCE, "scratch", causal=False)
    n = result.n_tokens
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    assert (result.weights[..., upper] > 0).all()
    assert result.meta["causal"] is False
    assert attend(SENTENCE, "scratch").meta["causal"] is False


def test_without_positions_attention_is_permutation_equivariant():
    """No position information: shuffling the tokens shuffles the attention the same way (a bag of words)."""
    model = ScratchTransformer.random(ScratchConfig(vocab_size=200)).double()   # float64: a new order of the sums
    ids = torch.tensor([[5, 17, 42, 99, 3, 150]])                                # moves float32 results by ~1e-6
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.inference_mode():
        _, plain = model(ids, use_positions=False)
        _, shuffled = model(ids[:, order], use_positions=False)
        _, positioned = model(ids[:, order])
    for layer in range(2):
        torch.testing.assert_close(shuffled[layer], plain[layer][:, :, order][:, :, :, order], atol=1e-12, rtol=0)
    assert not torch.allclose(positioned[0], plain[0][:, :, order][:, :, :, order], atol=1e-3)


def test_sinusoidal_positions_follow_the_formula():
    codes = sinusoidal_positions(50, 16)
    assert codes.shape == (50, 16)
    for position in (0, 1, 7, 49):
        for i in range(8):
            angle = position / 10000 ** (2 * i / 16)
            assert codes[position, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert codes[position, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)


def test_sinusoidal_positions_with_odd_model_dimension():
    codes = sinusoidal_positions(10, 7)
    assert codes.shape == (10, 7)
    assert codes[3, 6].item() == pytest.approx(math.sin(3 / 10000 ** (6 / 7)), abs=1e-5)
    assert codes[3, 5].item() == pytest.approx(math.cos(3 / 10000 ** (4 / 7)), abs=1e-5)


# --- BERT weights in our engine: "scratch:<name>" equals transformers ----------------------------------------

@pytest.mark.parametrize("text", [SENTENCE, MEDIUM, LONG], ids=["short", "about-128", "exactly-512"])
def test_scratch_minilm_equals_transformers_every_layer_and_head(text, minilm_hf, minilm_tokenizer):
    result = attend(text, "scratch:minilm")
    ids = minilm_tokenizer(text, truncation=True, max_length=512)["input_ids"]
    assert result.tokens == minilm_tokenizer.convert_ids_to_tokens(ids)
    expected, _ = hf_attentions(minilm_hf, ids)
    assert result.weights.shape == expected.shape == (6, 12, len(ids), len(ids))
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=ATOL)
    if text is LONG:
        assert result.n_tokens == 512
        assert any("truncated" in notice for notice in result.notices)
    elif text is MEDIUM:
        assert 100 <= result.n_tokens <= 160


def test_scratch_minilm_meta_describes_our_engine():
    result = attend(SENTENCE, "scratch:minilm")
    assert result.meta["engine"] == "scratch"
    assert result.meta["positional"] == "learned"
    assert result.meta["d_model"] == 384
    assert result.meta["max_tokens"] == 512
    assert result.model == "scratch:minilm"


@pytest.mark.parametrize("fixture", ["tiny_bert", "bert_gelu_new", "bert_relu"])
def test_scratch_tiny_berts_equal_transformers(fixture, request):
    folder = request.getfixturevalue(fixture)
    result = attend(MEDIUM, f"scratch:{folder}")
    model = hf_eager(folder)
    ids = load_model(f"scratch:{folder}").tokenizer(MEDIUM, truncation=True, max_length=result.meta["max_tokens"])["input_ids"]
    expected, _ = hf_attentions(model, ids)
    assert result.weights.shape == (model.config.num_hidden_layers, model.config.num_attention_heads, len(ids), len(ids))
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=ATOL)
    # the transformers path on the same folder gives the same numbers too
    np.testing.assert_allclose(attend(MEDIUM, folder).weights, expected, rtol=0, atol=1e-6)


def test_scratch_tiny_bert_is_limited_by_its_position_table(tiny_bert):
    """tiny_bert has 128 learned positions: longer text is cut to 128 tokens and still matches transformers."""
    result = attend(LONG, f"scratch:{tiny_bert}")
    assert result.n_tokens == 128
    assert any("128" in notice for notice in result.notices)
    expected, _ = hf_attentions(hf_eager(tiny_bert), load_model(f"scratch:{tiny_bert}").tokenizer(
        LONG, truncation=True, max_length=128)["input_ids"])
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("fixture", ["tiny_bert", "bert_gelu_new", "bert_relu"])
def test_from_bert_hidden_states_equal_transformers(fixture, request):
    folder = request.getfixturevalue(fixture)
    model = hf_eager(folder)
    ours = from_bert(model)
    assert ours.config.activation == model.config.hidden_act
    ids = list(range(1000, 1030))
    expected_weights, expected_hidden = hf_attentions(model, ids)
    with torch.inference_mode():
        hidden, weights = ours(torch.tensor([ids]))
    torch.testing.assert_close(hidden, expected_hidden, rtol=0, atol=5e-5)
    np.testing.assert_allclose(torch.cat(weights).numpy(), expected_weights, rtol=0, atol=ATOL)


def test_from_bert_hidden_states_equal_transformers_for_minilm(minilm_hf, minilm_tokenizer):
    ours = from_bert(minilm_hf)
    ids = minilm_tokenizer(MEDIUM)["input_ids"]
    _, expected_hidden = hf_attentions(minilm_hf, ids)
    with torch.inference_mode():
        hidden, _ = ours(torch.tensor([ids]))
    torch.testing.assert_close(hidden, expected_hidden, rtol=0, atol=5e-5)


def test_from_bert_reads_a_model_with_a_head_and_bert_prefix():
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(3)
    config = BertConfig(vocab_size=300, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                        max_position_embeddings=40)
    with_head = BertForMaskedLM(config).eval()
    assert any(name.startswith("bert.") for name in with_head.state_dict())
    ours = from_bert(with_head)
    ids = torch.tensor([[1, 5, 9, 200, 2]])
    with torch.inference_mode():
        expected = with_head.bert(input_ids=ids).last_hidden_state
        hidden, _ = ours(ids)
    torch.testing.assert_close(hidden, expected, rtol=0, atol=5e-5)


def test_scratch_bert_takes_the_causal_option(tiny_bert):
    """BERT weights in our engine can be run causally: exact zeros above the diagonal, rows still sum to 1."""
    result = attend(SENTENCE, f"scratch:{tiny_bert}", causal=True)
    n = result.n_tokens
    assert (result.weights[..., np.triu(np.ones((n, n), dtype=bool), 1)] == 0).all()
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)
    assert result.meta["causal"] is True


def test_from_bert_rejects_other_families():
    from transformers import GPT2Config, GPT2Model

    gpt2 = GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=50, n_positions=16))
    with pytest.raises(ValueError, match="BERT-family") as error:
        from_bert(gpt2)
    assert "gpt2" in str(error.value) and "scratch:" in str(error.value)


def test_from_bert_rejects_unsupported_activation():
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, hidden_act="silu"))
    with pytest.raises(ValueError, match="Activation 'silu'"):
        from_bert(model)


def test_from_bert_rejects_relative_positions():
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, position_embedding_type="relative_key"))
    with pytest.raises(ValueError, match="absolute position"):
        from_bert(model)
