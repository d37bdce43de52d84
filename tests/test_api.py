"""attention/api.py: attend(text, model, **options) -> Attention, its input checks, odd text and the result cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import Attention, attend, clean_text
from attention.run.models import _bundled_path

SENTENCE = "The cat sat on the mat."
LONG_100K = ("The quick brown fox jumps over the lazy dog while the cat watches from the warm mat. " * 1200)[:100_000]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_bundled_path())


@pytest.fixture(scope="module")
def bare_minilm():
    """MiniLM straight from transformers, eager attention: the reference numbers."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(_bundled_path(), attn_implementation="eager").eval()


def expected_tokens(tokenizer, text: str, limit: int = 512) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer(text, truncation=True, max_length=limit)["input_ids"])


def assert_rows_sum_to_one(result: Attention) -> None:
    assert result.weights.dtype == np.float32
    assert result.weights.ndim == 4
    assert np.isfinite(result.weights).all()
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)


# --- the contract -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [SENTENCE, "Attention is all you need.", "unbelievably tokenised wordpieces, e.g. GPT-2's"])
def test_minilm_result_contract(text, tokenizer):
    result = attend(text, "minilm")
    encoding = tokenizer(text)
    assert isinstance(result, Attention)
    assert result.tokens == tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    assert result.weights.shape == (6, 12, len(result.tokens), len(result.tokens))   # [layer, head, query, key]
    assert_rows_sum_to_one(result)
    assert result.model == "minilm"
    assert result.word_ids == encoding.word_ids()
    assert result.meta["family"] == "encoder" and result.meta["engine"] == "transformers"
    assert result.meta["causal"] is False and result.meta["max_tokens"] == 512
    assert result.notices == []


def test_default_model_is_minilm():
    assert attend(SENTENCE).model == "minilm"
    assert attend(SENTENCE) is attend(SENTENCE, "minilm")


@pytest.mark.parametrize("text", [SENTENCE, " ".join(["word"] * 200) + "."])
def test_minilm_equals_a_bare_transformers_forward(text, tokenizer, bare_minilm):
    result = attend(text, "minilm")
    ids = tokenizer(text)["input_ids"]
    with torch.inference_mode():
        out = bare_minilm(input_ids=torch.tensor([ids]), output_attentions=True)
    expected = torch.cat(out.attentions).numpy()
    assert result.weights.shape == expected.shape
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=1e-7)


# --- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "   \n\t  ", "\u3000\xa0", "\x00\x01\x02"])
def test_empty_text_is_refused(text):
    with pytest.raises(ValueError, match="text is empty"):
        attend(text, "minilm")


@pytest.mark.parametrize("text", [None, 42, 3.5, b"bytes", ["a list"], {"text": "x"}])
def test_non_text_is_refused(text):
    with pytest.raises(ValueError, match="must be text"):
        attend(text, "minilm")


@pytest.mark.parametrize("model", [None, 3, ["minilm"]])
def test_model_must_be_a_string(model):
    with pytest.raises(ValueError, match="string"):
        attend(SENTENCE, model)


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("no-such-model-xyz", "Could not load the model"),
        ("../../etc/passwd", "not a model folder"),
        ("/etc", "not a model folder"),
        ("a b c", "not a valid model name"),
        ("<script>", "not a valid model name"),
        ("model;rm -rf", "not a valid model name"),
        ("x" * 10_000, "too long"),
        ("m" * 150, "not a valid model name"),
        ("scratch:", "after 'scratch:'"),
        ("", "Pick a model"),
        ("scratch:no-such-model-xyz", "Could not load the model"),
    ],
)
def test_bad_model_names_are_refused_with_a_message(model, words):
    with pytest.raises(ValueError, match=words) as error:
        attend(SENTENCE, model)
    assert len(str(error.value)) < 500   # a sentence for a person, not a dump


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="config.json"):
        attend(SENTENCE, str(tmp_path))


@pytest.mark.parametrize(
    ("model", "options", "words"),
    [
        ("minilm", {"colour": "red"}, "Unknown option"),
        ("scratch", {"causal": True, "layers": 3}, "Unknown option"),
        ("scratch", {"causal": "yes"}, "causal must be True or False"),
        ("scratch", {"causal": 1}, "causal must be True or False"),
        ("scratch", {"causal": None}, "causal must be True or False"),
        ("minilm", {"max_tokens": 0}, "max_tokens must be a whole number"),
        ("minilm", {"max_tokens": 1}, "max_tokens must be a whole number"),
        ("minilm", {"max_tokens": -5}, "max_tokens must be a whole number"),
        ("minilm", {"max_tokens": 10.0}, "max_tokens must be a whole number"),
        ("minilm", {"max_tokens": "10"}, "max_tokens must be a whole number"),
        ("minilm", {"max_tokens": True}, "max_tokens must be a whole number"),
        ("minilm", {"causal": True}, "does not take the option 'causal'"),
        ("minilm", {"causal": False}, "does not take the option 'causal'"),
        ("minilm", {"target": "hello"}, "does not take the option 'target'"),
    ],
)
def test_bad_options_are_refused_with_a_message(model, options, words):
    with pytest.raises(ValueError, match=words):
        attend(SENTENCE, model, **options)


# --- odd text that must work --------------------------------------------------------------------------------

ODD_TEXTS = {
    "emoji": "I love 🍕🍕 and 👩‍👩‍👧 and 🇯🇵!",
    "cjk": "東京は日本の首都です。中文文本。안녕하세요",
    "rtl": "مرحبا بالعالم and שלום עולם mixed",
    "bidi-override": "abc \u202eevil\u202c def",
    "zero-width": "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeff",
    "combining": "cafe\u0301 nai\u0308ve Z\u0351\u0352\u0353\u0354a\u0300\u0301l\u0302go",
    "html": "<script>alert(1)</script> <b>bold</b> &amp; \"quotes\" 'single'",
    "whitespace-kinds": "line one\nline two\ttabbed\r\nwindows",
    "symbols": "∑ ∫ √ ≠ ≤ → ℕ ﬁ ½ ®",
    "one-char": "a",
}


@pytest.mark.parametrize("text", ODD_TEXTS.values(), ids=ODD_TEXTS.keys())
@pytest.mark.parametrize("model", ["minilm", "scratch"])
def test_odd_text_works(text, model, tokenizer):
    result = attend(text, model)
    assert result.tokens == expected_tokens(tokenizer, text)
    assert all(type(token) is str for token in result.tokens)
    assert result.weights.shape[2:] == (result.n_tokens, result.n_tokens)
    assert_rows_sum_to_one(result)
    assert not any("control character" in notice for notice in result.notices)


def test_html_looking_text_stays_plain_tokens():
    result = attend("<script>alert(1)</script>", "minilm")
    assert "<" in result.tokens and "script" in result.tokens and "alert" in result.tokens
    assert "&lt;" not in result.tokens   # the core keeps data as data; escaping is the figures' job


def test_100k_characters_are_truncated_to_512_tokens_with_a_notice(tokenizer):
    result = attend(LONG_100K, "minilm")
    assert result.n_tokens == 512
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    assert result.tokens == expected_tokens(tokenizer, LONG_100K)
    assert_rows_sum_to_one(result)
    assert any("truncated" in notice and "512" in notice for notice in result.notices)
    assert any("100,000 characters" in notice for notice in result.notices)


def test_max_tokens_caps_below_the_model_limit(tokenizer):
    result = attend(SENTENCE, "minilm", max_tokens=5)
    assert result.tokens == expected_tokens(tokenizer, SENTENCE, limit=5)
    assert result.n_tokens == 5 and result.tokens[-1] == "[SEP]"
    assert any("truncated" in notice and "5" in notice for notice in result.notices)
    assert_rows_sum_to_one(result)
    assert result.options == {"max_tokens": 5}
    # a cap above the model's own limit is not an error and changes nothing
    assert attend(SENTENCE, "minilm", max_tokens=100_000).tokens == attend(SENTENCE, "minilm").tokens


def test_control_characters_are_removed_with_a_notice(tokenizer):
    text = "bell\x07 null\x00 esc\x1b[31m del\x7f next-line\x85 end\tkept\nkept"
    result = attend(text, "minilm")
    assert any("Removed 5 control character" in notice for notice in result.notices)
    cleaned = "bell null esc[31m del next-line end\tkept\nkept"
    assert result.tokens == expected_tokens(tokenizer, cleaned)
    assert_rows_sum_to_one(result)


def test_clean_text_keeps_tabs_and_newlines_and_counts_removals():
    assert clean_text("a\tb\nc\r\n") == ("a\tb\nc\r\n", [])
    text, notices = clean_text("a\x00b\x01")
    assert text == "ab"
    assert notices == ["Removed 2 control character(s) from the text."]


def test_only_zero_width_characters_leave_only_special_tokens():
    result = attend("\u200b\u200c\u200d\u2060\ufeff", "minilm")
    assert result.tokens == ["[CLS]", "[SEP]"]
    assert_rows_sum_to_one(result)
    assert any("special tokens" in notice for notice in result.notices)


def test_lone_surrogates_are_handled():
    try:
        result = attend("abc \ud800 def", "minilm")
    except ValueError as error:
        assert "text" in str(error).lower() and "TextEncodeInput" not in str(error)
    else:
        assert_rows_sum_to_one(result)
        assert all("\ud800" not in token for token in result.tokens)


def test_truncation_to_special_tokens_does_not_claim_the_text_is_unreadable():
    result = attend("hello world", "minilm", max_tokens=2)
    assert result.tokens == ["[CLS]", "[SEP]"]
    assert any("truncated" in notice for notice in result.notices)
    assert not any("holds no characters" in notice for notice in result.notices)


# --- the result cache ---------------------------------------------------------------------------------------

def test_same_arguments_return_the_same_cached_object():
    first = attend("Caching keeps results.", "minilm")
    assert attend("Caching keeps results.", "minilm") is first
    assert attend("Caching keeps results.", "  minilm ") is first     # the same model, named with spaces
    assert attend("Caching keeps results.", "scratch") is not first


def test_different_options_give_different_results():
    plain = attend("Options change the result.", "scratch")
    causal = attend("Options change the result.", "scratch", causal=True)
    assert causal is not plain
    assert not np.array_equal(causal.weights, plain.weights)
    assert attend("Options change the result.", "scratch", causal=True) is causal
    capped = attend("Options change the result.", "scratch", max_tokens=4)
    assert capped.n_tokens == 4 and plain.n_tokens > 4


def test_result_arrays_are_read_only():
    result = attend("Shared between sessions.", "minilm")
    assert result.weights.flags.writeable is False
    with pytest.raises(ValueError):
        result.weights[0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError):
        result.weights.setflags(write=True)   # the array does not own its data: it cannot be made writeable again


def test_failed_calls_are_not_cached():
    with pytest.raises(ValueError):
        attend("Not cached.", "scratch", causal="yes")
    with pytest.raises(ValueError):
        attend("Not cached.", "scratch", causal="yes")
    assert attend("Not cached.", "scratch").options == {}


def test_cached_results_keep_their_own_notices():
    with_control = attend("notice probe a\x00b", "scratch")
    assert any("control character" in notice for notice in with_control.notices)
    clean = attend("notice probe ab", "scratch")
    assert clean.notices == []
