"""generate() and head_scores(): the key/value cache gives the same tokens and weights as recomputing the prefix, and
both equal one causal pass over the finished text; on the project's engine (GPT-2 weights) and on transformers
decoders of four families (GPT-2, Llama with grouped-query attention and rotary positions, Qwen2, Mistral).

Tiny random checkpoints are saved with MiniLM's tokenizer; weights are drawn wide (std 0.3) so that heads differ and
next-token distributions are not flat, which would prove little."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import save_with_tokenizer
import torch

from attention import generate, load_model
from attention.analyses.generation import kv_groups, model_kv_groups, score_weights

PROMPT = "The little robot read every book in the library"


def tiny(kind: str):
    import transformers as tf

    torch.manual_seed(0)
    common = dict(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=128, initializer_range=0.3)
    if kind == "gpt2":
        return tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=30522, n_layer=2, n_head=4, n_embd=32, n_positions=128,
                                                initializer_range=0.3)).eval()
    if kind == "llama":   # grouped-query attention: 4 query heads share 2 key/value heads; rotary positions
        return tf.LlamaForCausalLM(tf.LlamaConfig(num_key_value_heads=2, **common)).eval()
    if kind == "qwen2":
        return tf.Qwen2ForCausalLM(tf.Qwen2Config(num_key_value_heads=1, **common)).eval()
    return tf.MistralForCausalLM(tf.MistralConfig(num_key_value_heads=2, sliding_window=None, **common)).eval()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    return {kind: save_with_tokenizer(tiny(kind), tmp_path_factory.mktemp(kind)) for kind in ("gpt2", "llama", "qwen2", "mistral")}


def names(folders) -> list[str]:
    return [f"scratch:{folders['gpt2']}", folders["gpt2"], folders["llama"], folders["qwen2"], folders["mistral"]]


def full_pass(model: str, ids: list[int]) -> np.ndarray:
    """One causal pass over the finished text, the model's ordinary way: [layer, head, query, key]."""
    backend = load_model(model)
    if backend.kind == "scratch":
        return backend.run(ids, {})["weights"]
    from transformers import AutoModelForCausalLM

    network = AutoModelForCausalLM.from_pretrained(model, attn_implementation="eager", dtype=torch.float32).eval()
    with torch.inference_mode():
        return torch.cat(network(input_ids=torch.tensor([ids]), output_attentions=True, use_cache=False).attentions).numpy()


@pytest.mark.parametrize("which", range(5))
def test_cache_equals_recomputing_and_one_causal_pass(folders, which):
    model = names(folders)[which]
    cached = generate(PROMPT, model, steps=12, seed=3, temperature=1.0)
    fresh = generate(PROMPT, model, steps=12, seed=3, temperature=1.0, cache=False)
    assert cached.ids == fresh.ids and cached.n_generated == 12
    np.testing.assert_allclose(cached.weights, fresh.weights, atol=1e-5)
    np.testing.assert_allclose(cached.weights, full_pass(model, cached.ids), atol=1e-5)
    n = len(cached.ids)
    assert not np.triu(cached.weights, 1).any()                                  # causal: no token sees a later one
    np.testing.assert_allclose(cached.weights.sum(-1), np.ones(cached.weights.shape[:3]), atol=1e-5)


def test_prompt_has_no_end_marker_and_generated_from_counts_it(folders):
    run = generate(PROMPT, folders["llama"], steps=5)
    tokenizer = load_model(folders["llama"]).tokenizer
    prompt_ids = tokenizer(PROMPT)["input_ids"][:-1]                             # [CLS] … without [SEP]
    assert run.ids[: run.generated_from] == prompt_ids
    assert len(run.tokens) == len(run.ids) == run.weights.shape[-1] == run.generated_from + 5


def test_greedy_takes_the_top_candidate_and_top_k_1_is_greedy(folders):
    model = folders["qwen2"]
    greedy = generate(PROMPT, model, steps=8)
    for step, candidates in enumerate(greedy.candidates):
        assert greedy.tokens[greedy.generated_from + step] == candidates[0][0]
        probabilities = [p for _, p in candidates]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
        assert greedy.chosen[step] == pytest.approx(probabilities[0])
    assert generate(PROMPT, model, steps=8, temperature=1.3, top_k=1, seed=9).ids == greedy.ids


def test_sampling_is_deterministic_for_a_seed(folders):
    model = folders["mistral"]
    first = generate(PROMPT, model, steps=15, temperature=1.5, seed=1)
    assert generate(PROMPT, model, steps=15, temperature=1.5, seed=1).ids == first.ids
    assert generate(PROMPT, model, steps=15, temperature=1.5, seed=2).ids != first.ids


def test_top_k_keeps_draws_among_the_k_likeliest(folders):
    run = generate(PROMPT, folders["gpt2"], steps=15, temperature=5.0, top_k=3, seed=4)
    for step, candidates in enumerate(run.candidates):
        assert run.tokens[run.generated_from + step] in [token for token, _ in candidates[:3]]


def test_grouped_query_heads(folders):
    assert kv_groups(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert kv_groups(4, 4) == [[0], [1], [2], [3]]
    assert model_kv_groups(folders["llama"]) == [[0, 1], [2, 3]]
    assert model_kv_groups(folders["qwen2"]) == [[0, 1, 2, 3]]
    assert generate(PROMPT, folders["llama"], steps=2).kv_groups == [[0, 1], [2, 3]]
    assert generate(PROMPT, f"scratch:{folders['gpt2']}", steps=2).kv_groups == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="evenly"):
        kv_groups(6, 4)


def test_latest_reads_the_newest_row(folders):
    run = generate(PROMPT, folders["gpt2"], steps=4)
    np.testing.assert_array_equal(run.latest(1), run.weights[1, :, -1])
    np.testing.assert_array_equal(run.latest(0, step=0), run.weights[0, :, run.generated_from - 1])


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"temperature": -1.0}, "temperature"),
    ({"temperature": float("nan")}, "temperature"), ({"top_k": 0}, "top_k"), ({"seed": -3}, "seed"),
])
def test_bad_settings_are_explained(folders, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(PROMPT, folders["gpt2"], **kwargs)


def test_encoders_and_empty_prompts_are_refused(folders, tiny_bert):
    with pytest.raises(ValueError, match="decoder"):
        generate(PROMPT, tiny_bert)
    with pytest.raises(ValueError, match="decoder"):
        generate(PROMPT, f"scratch:{tiny_bert}")
    with pytest.raises(ValueError, match="empty"):
        generate("   ", folders["gpt2"])


def test_room_is_left_for_the_steps(folders):
    run = generate("word " * 200, folders["gpt2"], steps=10)                    # 128 positions at most
    assert len(run.ids) == 128 and run.n_generated >= 1 and run.notices


def test_score_weights_on_hand_built_patterns():
    length = 5
    n = 2 * length + 1
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0                                                         # the start token sees itself
    induction = np.zeros((n, n))
    for query in range(n):
        induction[query, query - length + 1 if query > length else 0] = 1.0
    sink = np.zeros((n, n))
    sink[:, 0] = 1.0
    weights = np.stack([previous, induction, sink])[None]                        # [layer 1, head 3, query, key]
    assert score_weights(weights, length, "previous").tolist() == [[1.0, pytest.approx(0.1), pytest.approx(0.1)]]
    assert score_weights(weights, length, "induction").tolist() == [[0.0, 1.0, 0.0]]
    assert score_weights(weights, length, "sink").tolist() == [[pytest.approx(0.1), pytest.approx(0.5), 1.0]]
    with pytest.raises(ValueError, match="kind"):
        score_weights(weights, length, "copying")


def test_shown_step_newest_and_steps_table_follow_the_run(folders):
    run = generate(PROMPT, folders["gpt2"], steps=4)
    assert run.shown_step(None) == (4, None) and run.shown_step(2) == (2, None)
    step, notice = run.shown_step(9)
    assert step == 4 and "step 9" in notice and "wrote 4 tokens" in notice
    assert run.shown_step(0)[1] is not None
    assert run.newest(0) == run.generated_from - 1 and run.newest(1) == run.generated_from   # the prompt's last, the first written
    np.testing.assert_array_equal(run.latest(0, 2), run.weights[0, :, run.newest(2)])
    table = run.steps_table(3)
    assert table["step"] == [1, 2, 3] and table["token"] == run.tokens[run.generated_from:run.generated_from + 3]
    assert table["probability"] == [round(p, 4) for p in run.chosen[:3]]
    top = run.candidates[0]
    assert table["runners-up"][0] == ", ".join(f"{t} {p:.0%}" for t, p in top[1:4])
