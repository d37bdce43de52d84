"""attention/run/models.py and attention/engine/backends.py: model names -> loaded models, offline first, never running remote code.

Tiny random GPT-2, BART and T5 models (saved with MiniLM's tokenizer) go through the same path as
real checkpoints: `attend(text, "<folder>")`.
"""
from __future__ import annotations

import json
import shutil
import threading
import time
from attention.run.cache import ByteLRU
from pathlib import Path

import numpy as np
import pytest
import torch

from attention import attend

from attention.engine import backends
from attention.run import models
from attention.engine.backends import _family, _from_pretrained, _limit
from attention.run.models import _bundled_path, load_model, model_source

TEXT = "The little robot read every book in the library."
TARGET = "Le petit robot a lu tous les livres."


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_bundled_path())


def _save(model, folder: Path) -> str:
    model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    return str(folder)


def _eager(folder: str):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory) -> str:
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=30522, n_positions=64, bos_token_id=101, eos_token_id=102)
    return _save(GPT2Model(config), tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory) -> str:
    """Encoder 2 layers × 4 heads, decoder 3 layers × 2 heads: cross attention has the decoder's shape."""
    from transformers import BartConfig, BartModel

    torch.manual_seed(0)
    config = BartConfig(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
    return _save(BartModel(config), tmp_path_factory.mktemp("tiny-bart"))


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory) -> str:
    from transformers import T5Config, T5Model

    torch.manual_seed(0)
    config = T5Config(vocab_size=30522, d_model=32, d_kv=8, num_heads=4, num_layers=2, num_decoder_layers=2, d_ff=64)
    return _save(T5Model(config), tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty model registry holding at most 2 models, restored afterwards."""
    monkeypatch.setattr(models, "_LOADED", ByteLRU(2**40, lambda backend: backend.nbytes, max_items=2))
    return models._LOADED


# --- names --------------------------------------------------------------------------------------------------

def test_bundled_name_resolves_to_the_installed_folder():
    folder = Path(model_source("minilm"))
    assert folder == Path(_bundled_path())
    assert (folder / "config.json").is_file()


def test_folder_name_resolves_to_an_absolute_folder(tiny_bert, monkeypatch):
    assert model_source(tiny_bert) == str(Path(tiny_bert).resolve())
    monkeypatch.chdir(Path(tiny_bert).parent)
    assert model_source("./" + Path(tiny_bert).name) == str(Path(tiny_bert).resolve())


@pytest.mark.parametrize("name", ["bert-base-uncased", "org/model", "google-bert/bert-base-uncased", "a.b_c-d"])
def test_hub_ids_pass_through_unchanged(name):
    assert model_source(name) == name


@pytest.mark.parametrize(
    "name", ["a b c", "<script>", "model;rm -rf", "org/../etc", "a--b", "x" * 150, "org/model/extra", "$(id)", "na\u00efve",
             "-leading-dash", "foo:bar", "C:\\windows"],
)
def test_odd_names_are_refused_with_a_message(name):
    with pytest.raises(ValueError, match="not a valid model name|not a model folder"):
        model_source(name)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc", "~", "/definitely/not/here", "./nope"])
def test_paths_that_are_not_model_folders_are_refused(name):
    with pytest.raises(ValueError, match="config.json"):
        model_source(name)


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="not a model folder"):
        load_model(str(tmp_path))


# --- loading ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [None, 3, "", "   ", ["minilm"]])
def test_load_model_needs_a_name(name):
    with pytest.raises(ValueError, match="Pick a model"):
        load_model(name)


def test_load_model_refuses_very_long_names():
    with pytest.raises(ValueError, match="too long"):
        load_model("a" * 201)


def test_unknown_model_fails_quickly_offline():
    start = time.monotonic()
    with pytest.raises(ValueError, match="Could not load the model 'no-such-model-xyz'"):
        load_model("no-such-model-xyz")
    assert time.monotonic() - start < 5


def test_scratch_with_nothing_after_the_colon_is_refused():
    for name in ("scratch:", "scratch:   "):
        with pytest.raises(ValueError, match="after 'scratch:'"):
            load_model(name)


def test_load_model_loads_once_and_strips_the_name():
    backend = load_model("scratch")
    assert load_model("  scratch\n") is backend
    assert backend.kind == "scratch" and backend.family == "encoder"
    assert backend.options == {"causal", "target", "pattern", "window", "dilation", "global_tokens", "block", "random_blocks", "seed", "u"}


def test_registry_drops_the_least_recently_used_model(fresh_registry, tiny_bert, tiny_gpt2):
    scratch = load_model("scratch")
    bert = load_model(tiny_bert)
    assert load_model("scratch") is scratch        # refreshes "scratch": tiny_bert is now the oldest
    load_model(tiny_gpt2)
    assert list(fresh_registry) == ["scratch", tiny_gpt2]
    assert load_model(tiny_bert) is not bert       # it was dropped, so it is loaded again


def test_concurrent_loads_of_one_name_give_one_model(fresh_registry, tiny_bert):
    found = []
    threads = [threading.Thread(target=lambda: found.append(load_model(tiny_bert))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 6 and all(backend is found[0] for backend in found)


class RecordingLoader:
    """Stands in for AutoConfig/AutoModel: records every call and fails the first `failures` times."""

    def __init__(self, failures: int, error: Exception = OSError("not in the local cache")):
        self.calls: list[dict] = []
        self.failures = failures
        self.error = error

    def from_pretrained(self, source, **kwargs):
        self.calls.append({"source": source, **kwargs})
        if len(self.calls) <= self.failures:
            raise self.error
        return "loaded"


def test_loading_is_local_first_and_never_trusts_remote_code():
    loader = RecordingLoader(failures=0)
    assert _from_pretrained(loader, "org/model", "org/model", trust_remote_code=True) == "loaded"
    assert loader.calls == [{"source": "org/model", "local_files_only": True, "trust_remote_code": False}]


def test_offline_loading_never_tries_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loader = RecordingLoader(failures=5)
    with pytest.raises(ValueError, match="Could not load the model 'org/model'.*not in the local cache"):
        _from_pretrained(loader, "org/model", "org/model")
    assert len(loader.calls) == 1


def test_online_loading_falls_back_to_the_hub_without_remote_code(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("ATTENTION_LENS_OFFLINE", raising=False)
    loader = RecordingLoader(failures=1)
    assert _from_pretrained(loader, "org/model", "org/model") == "loaded"
    assert loader.calls[1] == {"source": "org/model", "trust_remote_code": False}
    failing = RecordingLoader(failures=2, error=OSError("HTTP 404"))
    with pytest.raises(ValueError, match="HTTP 404"):
        _from_pretrained(failing, "org/model", "org/model")


def test_folder_needing_custom_code_is_refused_and_its_code_never_runs(tiny_bert, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_bert, folder)
    marker = tmp_path / "code-ran"
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    for module in ("configuration_evil.py", "modeling_evil.py"):
        (folder / module).write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(ValueError, match="custom code"):
        load_model(str(folder))
    assert not marker.exists()


# --- families -----------------------------------------------------------------------------------------------

def test_family_and_limit_from_configs():
    from transformers import BartConfig, BertConfig, GPT2Config

    assert _family(BertConfig()) == "encoder"
    assert _family(BertConfig(is_decoder=True)) == "decoder"
    assert _family(GPT2Config()) == "decoder"
    assert _family(BartConfig()) == "encoder-decoder"
    tokenizer = _tokenizer()
    assert _limit(tokenizer, BertConfig(max_position_embeddings=64)) == 64
    assert _limit(tokenizer, BertConfig(max_position_embeddings=4096)) == 512   # the tokenizer's limit is lower

    class Unbounded:
        model_max_length = int(1e30)  # transformers' "no limit" placeholder

    assert _limit(Unbounded(), GPT2Config(n_positions=1024)) == 1024
    assert _limit(Unbounded(), object()) == backends.DEFAULT_LIMIT


def test_bert_folder_through_transformers(tiny_bert):
    backend = load_model(tiny_bert)
    assert (backend.kind, backend.family, backend.max_tokens) == ("transformers", "encoder", 128)
    result = attend(TEXT, tiny_bert)
    assert result.meta["family"] == "encoder" and result.meta["model_type"] == "bert"
    assert result.weights.shape[:2] == (2, 4)
    assert result.meta["causal"] is False


def test_tiny_gpt2_is_a_causal_decoder(tiny_gpt2):
    result = attend(TEXT, tiny_gpt2)
    tokenizer = _tokenizer()
    ids = tokenizer(TEXT)["input_ids"]
    assert result.tokens == tokenizer.convert_ids_to_tokens(ids)
    assert result.meta["family"] == "decoder" and result.meta["model_type"] == "gpt2"
    assert result.meta["causal"] is True
    n = result.n_tokens
    assert result.weights.shape == (2, 2, n, n)
    assert (result.weights[..., np.triu(np.ones((n, n), dtype=bool), 1)] == 0).all()
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)
    with torch.inference_mode():
        out = _eager(tiny_gpt2)(input_ids=torch.tensor([ids]), output_attentions=True, use_cache=False)
    np.testing.assert_allclose(result.weights, torch.cat(out.attentions).numpy(), rtol=0, atol=1e-6)


def test_tiny_gpt2_reads_at_most_its_positions(tiny_gpt2):
    result = attend(" ".join([TEXT] * 20), tiny_gpt2)
    assert result.n_tokens == 64 and result.meta["max_tokens"] == 64
    assert any("truncated" in notice and "64" in notice for notice in result.notices)


def test_decoder_does_not_take_options_it_cannot_use(tiny_gpt2):
    with pytest.raises(ValueError, match="does not take the option 'causal'"):
        attend(TEXT, tiny_gpt2, causal=True)
    with pytest.raises(ValueError, match="does not take the option 'target'"):
        attend(TEXT, tiny_gpt2, target=TARGET)


def test_scratch_prefix_on_unsupported_weights_is_refused(tiny_t5):
    with pytest.raises(ValueError, match="BERT-family, GPT-2 or BART.*'t5'"):
        attend(TEXT, f"scratch:{tiny_t5}")


@pytest.mark.parametrize("fixture", ["tiny_bart", "tiny_t5"])
def test_encoder_decoder_gives_cross_attention(fixture, request):
    folder = request.getfixturevalue(fixture)
    result = attend(TEXT, folder, target=TARGET)
    tokenizer = _tokenizer()
    source_ids, target_ids = tokenizer(TEXT)["input_ids"], tokenizer(TARGET)["input_ids"]
    assert result.tokens == tokenizer.convert_ids_to_tokens(source_ids)
    assert result.target_tokens == tokenizer.convert_ids_to_tokens(target_ids)
    assert result.meta["family"] == "encoder-decoder"

    model = _eager(folder)
    decoder_layers = model.config.decoder_layers if fixture == "tiny_bart" else model.config.num_decoder_layers
    decoder_heads = model.config.decoder_attention_heads if fixture == "tiny_bart" else model.config.num_heads
    source, target = len(source_ids), len(target_ids)
    assert result.cross.shape == (decoder_layers, decoder_heads, target, source)      # [layer, head, target, source]
    assert result.target_weights.shape == (decoder_layers, decoder_heads, target, target)
    np.testing.assert_allclose(result.cross.sum(-1), 1.0, atol=1e-5)
    assert (result.target_weights[..., np.triu(np.ones((target, target), dtype=bool), 1)] == 0).all()
    assert not result.cross.flags.writeable

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([source_ids]), decoder_input_ids=torch.tensor([target_ids]),
                    output_attentions=True, use_cache=False)
    np.testing.assert_allclose(result.weights, torch.cat(out.encoder_attentions).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.cross, torch.cat(out.cross_attentions).numpy(), rtol=0, atol=1e-6)


def test_encoder_decoder_without_target_uses_the_text(tiny_bart):
    result = attend(TEXT, tiny_bart)
    assert result.target_tokens == result.tokens
    assert result.cross.shape[2:] == (result.n_tokens, result.n_tokens)


def test_encoder_decoder_target_must_be_text(tiny_bart):
    with pytest.raises(ValueError, match="target must be text"):
        attend(TEXT, tiny_bart, target=42)


def test_encoder_only_model_does_not_take_a_target():
    with pytest.raises(ValueError, match="does not take the option 'target'"):
        attend(TEXT, "minilm", target=TARGET)


def test_backend_run_returns_float32_arrays(tiny_bart):
    backend = load_model(tiny_bart)
    ids = backend.tokenizer(TEXT)["input_ids"]
    arrays = backend.run(ids, {"target_ids": ids[:4]})
    assert set(arrays) == {"weights", "target_weights", "cross"}
    assert all(array.dtype == np.float32 for array in arrays.values())
    assert arrays["cross"].shape[2:] == (4, len(ids))
