"""logit_lens(): the last row is the model's own next-token distribution (checked against transformers' GPT-2 head and
against generate()), a hand-built decoder whose one layer writes a known token, encoders refused, the newest column."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import save_with_tokenizer

from attention import generate, logit_lens
from attention.analyses.lens import LENS_NOTE, generation_lens

TEXT = "the cat sat on the mat because it was warm"
ANSWER = "river"          # the token layer 1 of the hand-built decoder writes


def tiny_gpt2(write_answer: bool):
    """A GPT-2 (2 layers, d 64) whose attention and feed-forward outputs are zero, so the stream stays each token's own
    embedding; with `write_answer`, layer 1's feed-forward output bias writes 10 × the embedding of ANSWER."""
    import transformers as tf

    from attention.run.models import _bundled_path

    torch.manual_seed(0)
    network = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=30522, n_layer=2, n_head=4, n_embd=64, n_positions=64,
                                               initializer_range=1.0)).eval()
    answer = tf.AutoTokenizer.from_pretrained(_bundled_path()).convert_tokens_to_ids(ANSWER)
    with torch.no_grad():
        network.transformer.wpe.weight.zero_()
        for block in network.transformer.h:
            for projection in (block.attn.c_proj, block.mlp.c_proj):
                projection.weight.zero_()
                projection.bias.zero_()
        if write_answer:
            network.transformer.h[1].mlp.c_proj.bias.copy_(10 * network.transformer.wte.weight[answer])
    return network, answer


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, tuple[str, int, object]]:
    made = {}
    for writes in (False, True):
        network, answer = tiny_gpt2(writes)
        made[writes] = (save_with_tokenizer(network, tmp_path_factory.mktemp(f"lens{int(writes)}")), answer, network)
    return made


def test_hand_built_decoder_reads_its_own_tokens_then_the_written_answer(folders):
    folder, answer, _ = folders[True]
    lens = logit_lens(TEXT, f"scratch:{folder}", top=3)
    assert lens.rows == ["embeddings", "after layer 0", "after layer 1"]
    assert lens.top_ids.shape == lens.probabilities.shape == (3, len(lens.tokens), 3)
    own = np.array(lens.top_ids[0, :, 0])
    from attention.run.models import load_model

    ids = load_model(f"scratch:{folder}").tokenizer(TEXT)["input_ids"][:-1]     # the end marker is dropped
    assert own.tolist() == ids                                                  # embeddings: each token reads as itself
    np.testing.assert_array_equal(lens.top_ids[1], lens.top_ids[0])            # layer 0 writes nothing
    assert (lens.top_ids[2, :, 0] == answer).all()                             # layer 1 writes the answer everywhere
    assert lens.top_tokens[2][0][0] == ANSWER
    assert (lens.probabilities[:, :, 0] >= lens.probabilities[:, :, -1]).all()


def test_last_row_is_the_models_own_next_token_distribution(folders):
    folder, _, network = folders[False]
    lens = logit_lens(TEXT, f"scratch:{folder}", top=5)
    from attention.run.models import load_model

    ids = load_model(f"scratch:{folder}").tokenizer(TEXT)["input_ids"][:-1]
    with torch.inference_mode():
        own = torch.softmax(network(input_ids=torch.tensor([ids])).logits[0], dim=-1)   # transformers' own LM head
    best = torch.topk(own, 5, dim=-1)
    np.testing.assert_array_equal(lens.top_ids[-1], best.indices.numpy())
    np.testing.assert_allclose(lens.probabilities[-1], best.values.numpy(), atol=1e-5)
    tokens, probabilities = lens.column()
    assert lens.newest == len(ids) - 1 and len(tokens) == 3
    np.testing.assert_array_equal(probabilities, lens.probabilities[:, -1])
    assert tokens[-1] == lens.top_tokens[-1][-1]


def test_generation_lens_matches_the_candidates(trained_gpt_mini):
    run = generate("the for statement is used to", "gpt-mini", steps=6, temperature=0.8, seed=1)
    for step in (2, 5):
        lens = generation_lens(run, step, top=5)
        assert lens.tokens == run.tokens[: run.newest(step) + 1]
        tokens, probabilities = lens.column()
        assert tokens[-1] == [name for name, _ in run.candidates[step][:5]]
        np.testing.assert_allclose(probabilities[-1], [p for _, p in run.candidates[step][:5]], atol=1e-5)
        assert len(tokens) == 3                                                 # embeddings + 2 layers
    assert "not trained to be read this way" in LENS_NOTE


def test_encoders_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="decoder"):
        logit_lens(TEXT, "minilm")
    with pytest.raises(ValueError, match="decoder"):
        logit_lens(TEXT, "scratch")
    with pytest.raises(ValueError, match="top"):
        logit_lens(TEXT, "scratch", top=0)


def test_column_refuses_a_missing_position(folders):
    lens = logit_lens(TEXT, f"scratch:{folders[False][0]}")
    with pytest.raises(ValueError, match="position"):
        lens.column(len(lens.tokens))
