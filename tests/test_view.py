"""view(): your own model's outputs (transformers' tuples, numpy or torch, any float dtype) as the result attend() gives,
on tiny random GPT-2, Llama, BART and BERT configs; its checks; attend(text, text_b=...) for sentence pairs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import Attention, attend, view
from conftest import save_with_tokenizer

TEXT, TEXT_B = "The cat sat on the mat.", "It was warm there."


def tokenize(folder: str, text: str, text_b: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoding = tokenizer(text, text_b, return_tensors="pt") if text_b else tokenizer(text, return_tensors="pt")
    return encoding, tokenizer.convert_ids_to_tokens(encoding["input_ids"][0])


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory) -> str:
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(1)
    config = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4, n_positions=128, attn_implementation="eager")
    return save_with_tokenizer(GPT2Model(config), tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(2)
    config = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, attn_implementation="eager")
    return save_with_tokenizer(LlamaModel(config), tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory) -> str:
    from transformers import BartConfig, BartModel

    torch.manual_seed(3)
    config = BartConfig(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                        attn_implementation="eager")
    return save_with_tokenizer(BartModel(config), tmp_path_factory.mktemp("tiny-bart"))


def outputs(folder: str, text: str, **kwargs):
    from transformers import AutoModel

    network = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    encoding, tokens = tokenize(folder, text)
    with torch.no_grad():
        return network(input_ids=encoding["input_ids"], output_attentions=True, **kwargs), tokens, encoding   # (GPT-2 would add
        # MiniLM's segment ids as token embeddings)


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_llama"])
def test_a_decoders_outputs_attentions_equal_attend(request, fixture):
    folder = request.getfixturevalue(fixture)
    out, tokens, _ = outputs(folder, TEXT)
    shown = view(out.attentions, tokens, model=folder)       # BertViz's one-liner: the tuple transformers returns
    assert isinstance(shown, Attention) and shown.tokens == tokens and shown.weights.shape == (2, 4, len(tokens), len(tokens))
    ran = attend(TEXT, folder)
    assert ran.tokens == shown.tokens
    np.testing.assert_allclose(shown.weights, ran.weights, atol=1e-5)
    assert shown.meta["causal"] and "<div" in shown._repr_html_()
    assert len(repr(shown)) < 300 and "2 layers × 4 heads" in repr(shown)


def test_an_encoder_decoder_by_keywords_equals_attend(tiny_bart):
    encoding, tokens = tokenize(tiny_bart, TEXT)
    out, _, _ = outputs(tiny_bart, TEXT, decoder_input_ids=encoding["input_ids"])
    shown = view(encoder=out.encoder_attentions, decoder=out.decoder_attentions, cross=out.cross_attentions,
                 encoder_tokens=tokens, decoder_tokens=tokens)
    ran = attend(TEXT, tiny_bart)
    np.testing.assert_allclose(shown.weights, ran.weights, atol=1e-5)
    np.testing.assert_allclose(shown.target_weights, ran.target_weights, atol=1e-5)
    np.testing.assert_allclose(shown.cross, ran.cross, atol=1e-5)
    assert shown.target_tokens == ran.target_tokens and shown.meta["family"] == "encoder-decoder"
    assert "cross-attention" in repr(shown)


def test_a_sentence_pair_through_attend_and_view_is_the_same(tiny_bert):
    encoding, tokens = tokenize(tiny_bert, TEXT, TEXT_B)
    from transformers import AutoModel

    network = AutoModel.from_pretrained(tiny_bert, attn_implementation="eager").eval()
    with torch.no_grad():
        out = network(**encoding, output_attentions=True)
    start = encoding["token_type_ids"][0].tolist().index(1)
    shown = view(out.attentions, tokens, sentence_b_start=start)
    ran = attend(TEXT, tiny_bert, text_b=TEXT_B)
    assert ran.tokens == tokens and ran.meta["sentence_b_start"] == start == shown.meta["sentence_b_start"]
    assert tokens[start - 1] == "[SEP]" and tokens[start] == "it"
    np.testing.assert_allclose(shown.weights, ran.weights, atol=1e-5)
    alone = attend(TEXT, tiny_bert)                      # the segment ids matter: B's rows differ from a single text's
    assert alone.n_tokens == start
    with pytest.raises(ValueError, match="Sentence pairs run on encoders"):
        attend(TEXT, "scratch", text_b=TEXT_B)
    with pytest.raises(ValueError, match="text_b must be text"):
        attend(TEXT, tiny_bert, text_b=3)


def test_numpy_torch_and_every_float_dtype_give_the_same_result():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 2, 4, 5, 5))                                  # [layer, batch, head, query, key]
    weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    tokens = list("abcde")
    second = view(weights, tokens, batch=1)
    np.testing.assert_allclose(second.weights, weights[:, 1], atol=1e-7)
    as_tuple = tuple(torch.tensor(weights[layer]) for layer in range(3))     # transformers' form, batch 2
    np.testing.assert_allclose(view(as_tuple, tokens, batch=1).weights, second.weights, atol=1e-7)
    half = tuple(t.to(torch.bfloat16) for t in as_tuple)
    np.testing.assert_allclose(view(half, tokens, batch=1, tolerance=2e-2).weights, second.weights, atol=1e-2)
    np.testing.assert_allclose(view(weights[:, 0].astype(np.float16), tokens).weights, weights[:, 0], atol=1e-3)
    kept = view(weights, tokens, include_layers=[2, 0], include_heads=[3])
    assert kept.weights.shape == (2, 1, 5, 5) and kept.meta["layers"] == [0, 2] and kept.meta["heads"] == [3]
    np.testing.assert_allclose(kept.weights[1, 0], weights[2, 0, 3], atol=1e-7)


def uniform(layers=2, heads=2, n=3) -> np.ndarray:
    return np.full((layers, heads, n, n), 1 / n)


@pytest.mark.parametrize("call, message", [
    (lambda: view((uniform()[0][None],), ["a", "b"]), "3 query × 3 key positions, but there are 2 tokens"),
    (lambda: view(np.where(np.eye(3, dtype=bool), np.nan, 0.5)[None, None], list("abc")), "NaN or infinite"),
    (lambda: view(uniform(n=1) * 2, ["a"]), r"outside \[0, 1\] \(from 2 to 2"),
    (lambda: view(uniform() - 0.5, list("abc")), r"outside \[0, 1\].*not scores or logits"),
    (lambda: view(uniform() * 0.9, list("abc")), "rows must each sum to 1.*sums to 0.9"),
    (lambda: view(uniform()[:, None], list("abc"), batch=3), "batch=3 is outside"),
    (lambda: view((uniform()[0], uniform(heads=3)[0]), list("abc")), "differ in shape"),
    (lambda: view(uniform(), "abc"), "list of strings"),
    (lambda: view(uniform(), list("abc"), include_layers=[5]), r"include_layers \[5\] are outside 0–1"),
    (lambda: view(uniform(), list("abc"), sentence_b_start=3), "sentence_b_start must be a position"),
    (lambda: view(encoder=uniform(), decoder=uniform(), encoder_tokens=list("abc"), decoder_tokens=list("abc")), "cross="),
    (lambda: view(encoder=uniform(), decoder=uniform(n=2), cross=uniform(), encoder_tokens=list("abc"),
                  decoder_tokens=list("ab")), "cross has 3 query × 3 key positions, but there are 2 decoder_tokens and 3"),
    (lambda: view(np.array([["a"]]), ["a"]), "must be numbers"),
    (lambda: view(None, ["a"]), "Give attentions"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_docs_page_runs_as_shown_and_its_numbers_are_the_codes(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    from views import standalone

    page = (Path(__file__).resolve().parent.parent / "docs" / "own-model.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    assert "**`view(outputs.attentions, tokens)`**" in page and "view(outputs.attentions, tokens" in blocks[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:                           # the one-liner is prose; the whole example spells it out
        exec(compile(block, "own-model.md", "exec"), namespace)
    assert (tmp_path / "my_model.html").stat().st_size > 10_000
    assert namespace["shown"].cross is not None and namespace["start"] == 9
    assert f"{standalone.TEXT_CAP:,} characters" in page and "2.2%" in standalone.precision(8) and "2.2%" in page
    assert "max/23,000" in page and "max/23,000" in standalone.precision(8) and "`tolerance` (1e-3)" in page
    from attention.run.view import TOLERANCE
    assert TOLERANCE == 1e-3
