"""Activation patching (attention/analyses/patching.py): a hand-built decoder whose answer one head carries (patching
it restores 1, the other head 0, and every residual, attention and feed-forward entry has a value worked out by
hand), the defining properties on real networks (the changed embedding and the last output row restore 1, positions
before a change in a causal model restore nothing), the engine's Swap against a clean pass, refusals, the
encoder–decoder, and on induction-mini: the heads patching finds are the induction and previous-token heads."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from attention import Patching, patch
from attention.engine.backends import _scratch_backend
from attention.engine.config import ScratchConfig
from attention.engine.maths import Swap
from attention.engine.transformer import ScratchTransformer
from attention.run import models
from attention.run.models import _bundled_path
from attention.run.trace import trace

CLEAN, CORRUPTED = "the cat sat", "the dog sat"      # [CLS] the cat|dog sat [SEP]: position 2 differs


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_bundled_path(), local_files_only=True)


def _toy_decoder() -> ScratchTransformer:
    """Two layers, two heads (d_head 4), no layer norms, zero positions; 'cat' embeds as e0, 'dog' as e1, the other
    tokens as noise in dimensions 2–7. Layer 0: head 0 looks at the noun (weight ≈ 0.98 from the last position) and
    copies dimensions 0–1; head 1 looks evenly and copies dimensions 0–1 into 4–5, which the read-out ignores. Layer 1:
    attention zero, a ReLU feed-forward that adds max(x, 0) on dimensions 0–1. Read-out: the tied embeddings, so
    logit(cat) − logit(dog) = x0 − x1 at the last position."""
    tokenizer = _tokenizer()
    config = ScratchConfig(vocab_size=tokenizer.vocab_size, d_model=8, n_heads=2, n_layers=2, d_ff=2, max_positions=32,
                           type_vocab_size=0, positional="learned", embedding_norm=False, causal=True, activation="relu")
    network = ScratchTransformer(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.token_embedding.weight[:, 2:] = torch.randn(tokenizer.vocab_size, 6, generator=generator) * 0.05
        for word, axis in (("cat", 0), ("dog", 1)):
            row = network.token_embedding.weight[tokenizer.convert_tokens_to_ids(word)]
            row.zero_()
            row[axis] = 1.0
        first = network.layers[0].self_attention
        first.query.bias[0] = 2.0                          # head 0 asks for dimension 0 of its keys …
        first.key.weight[0, 0] = first.key.weight[0, 1] = 5.0   # … which is 5 for a noun: score 5 (÷ √4), ~0 elsewhere
        for out, source in ((0, 0), (1, 1), (4, 0), (5, 1)):
            first.value.weight[out, source] = 1.0          # head 0 reads x0, x1 into its dims 0, 1; head 1 into its 0, 1
        for out, source in ((0, 0), (1, 1), (4, 4), (5, 5)):
            first.output.weight[out, source] = 1.0         # head 0 writes dims 0, 1; head 1 writes dims 4, 5
        ff = network.layers[1].feed_forward
        ff.up.weight[0, 0] = ff.up.weight[1, 1] = 1.0
        ff.down.weight[0, 0] = ff.down.weight[1, 1] = 1.0
    for layer in network.layers:
        layer.attention_norm, layer.output_norm = nn.Identity(), nn.Identity()   # x + attention(x), then + ff(x)
    return network.eval()


@pytest.fixture
def toy() -> str:
    name = "scratch:toy-patching"
    if name not in models._LOADED:
        models._LOADED[name] = _scratch_backend(name, _tokenizer(), _toy_decoder(), "decoder", 32, {"causal"})
    return name


@pytest.fixture(scope="module")
def gpt2_model(tmp_path_factory) -> str:
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    torch.manual_seed(0)
    network = GPT2Model(GPT2Config(n_layer=2, n_head=4, n_embd=32, vocab_size=30522, n_positions=64,
                                   initializer_range=0.3)).eval()
    folder = tmp_path_factory.mktemp("gpt2-patching")
    network.save_pretrained(folder)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(folder)
    return f"scratch:{folder}"


def test_the_head_that_carries_the_answer_restores_it_and_the_others_nothing(toy):
    found = patch(CLEAN, CORRUPTED, toy, answer="cat", wrong="dog")
    assert isinstance(found, Patching) and found.heads.dtype == np.float32 and found.heads.shape == (2, 2)
    assert found.clean_value > 1.5 and found.corrupted_value < -1.5           # ≈ ±2 × 0.98: layer 1 doubles x0 − x1
    assert found.heads[0, 0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose([found.heads[0, 1], *found.heads[1]], 0.0, atol=1e-5)
    assert found.top_heads(1)[0][:2] == (0, 0)
    assert found.metric == "logit of ‘cat’ − logit of ‘dog’ after the last token (‘sat’)"   # [SEP] is no part of the text
    assert found.tokens[2] == "cat" and found.corrupted_tokens[2] == "dog" and found.changed == [2]


def test_attention_and_feed_forward_per_layer_as_worked_out_by_hand(toy):
    """Layer 0's attention carries the answer (1); layer 1's attention writes nothing (0); layer 1's feed-forward,
    patched alone, adds the clean max(x, 0) to the corrupted stream: x0 − x1 goes from −2a to a − a = 0, half way (0.5)."""
    found = patch(CLEAN, CORRUPTED, toy, answer="cat", wrong="dog")
    assert found.attention.shape == found.feed_forward.shape == (2,) and found.attention.dtype == np.float32
    np.testing.assert_allclose(found.attention, [1.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(found.feed_forward, [0.0, 0.5], atol=1e-5)


def test_residual_rows_as_worked_out_by_hand(toy):
    found = patch(CLEAN, CORRUPTED, toy, answer="cat", wrong="dog")
    assert found.residual.shape == (3, 5) and found.residual.dtype == np.float32     # [layer + 1, position]
    expected = np.zeros((3, 5))
    expected[0, 2] = 1.0                  # the embeddings: only the noun differs, so patching it is patching all
    expected[1:, 3] = 1.0                 # after layer 0 the answer sits at 'sat', the only position read ([SEP] is not)
    np.testing.assert_allclose(found.residual, expected, atol=1e-5)


def test_answer_alone_reads_its_logit_and_no_answer_takes_the_top_tokens(toy):
    alone = patch(CLEAN, CORRUPTED, toy, answer="cat")
    assert alone.metric.startswith("logit of ‘cat’ after") and alone.clean_value > alone.corrupted_value
    assert alone.heads[0, 0] == pytest.approx(1.0, abs=1e-5)
    chosen = patch(CLEAN, CORRUPTED, toy)
    assert chosen.metric.startswith("logit of ‘cat’ − logit of ‘dog’") and any("No answer" in n for n in chosen.notices)


def test_defining_properties_on_a_random_gpt2(gpt2_model):
    """Patching the changed embedding is patching the whole input (1), the last output row at the last position is the
    read-out itself (1), and in a causal model nothing before the change differs (0). The metric reads the last token
    of the text, 'mat': the tokenizer's [SEP] after it is no part of what a decoder continues."""
    clean, corrupted = "the cat sat on the mat", "the dog sat on the mat"
    found = patch(clean, corrupted, gpt2_model, answer="the", wrong="a")
    changed = found.changed
    assert len(changed) == 1
    assert found.residual[0, changed[0]] == pytest.approx(1.0, abs=1e-4)
    assert found.tokens[-1] == "[SEP]" and found.metric.endswith("(‘mat’)")
    assert found.residual[-1, -2] == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(found.residual[0, [p for p in range(len(found.tokens)) if p not in changed]], 0, atol=1e-4)
    np.testing.assert_allclose(found.residual[:, :changed[0]], 0, atol=1e-4)
    np.testing.assert_allclose(np.delete(found.residual[-1], -2), 0, atol=1e-4)   # other outputs are not read
    # only patches that change something run: every head and block, the changed embedding, rows 1–2 from the change on
    assert np.isfinite(found.heads).all() and found.passes == 2 * 4 + 2 * 2 + 1 + 2 * (len(found.tokens) - changed[0])


def test_similarity_and_token_targets_on_minilm():
    found = patch("The cat sat on the mat.", "The dog sat on the mat.", "minilm", target="similarity")
    assert found.model == "scratch:minilm" and found.clean_value == pytest.approx(1.0, abs=1e-6)
    assert found.heads.shape == (6, 12) and found.residual.shape == (7, len(found.tokens))
    assert found.residual[0, found.changed[0]] == pytest.approx(1.0, abs=1e-4)
    norm = patch("The cat sat on the mat.", "The dog sat on the mat.", "minilm", target="token", token=2)
    assert norm.residual[-1, 2] == pytest.approx(1.0, abs=1e-4)               # token 2's output is what is read


def test_swap_of_every_head_output_at_every_layer_is_the_clean_pass(toy):
    """The engine's intervention: the corrupted pass with all of one layer's inputs swapped equals the clean pass."""
    clean, corrupted = trace(CLEAN, toy), trace(CORRUPTED, toy)
    network = models.load_model(toy).network
    ids = torch.tensor([corrupted.ids] * 2)
    swap = Swap(torch.from_numpy(np.array(clean.residual[0]))[None], torch.tensor([[True] * 5, [False] * 5]))
    with torch.inference_mode():
        hidden = network.run(ids, swaps={0: {"input": swap}}).hidden
    np.testing.assert_allclose(hidden[0].numpy(), clean.output, atol=1e-6)
    np.testing.assert_allclose(hidden[1].numpy(), corrupted.output, atol=1e-6)


def test_feed_forward_output_is_traced(toy):
    run = trace(CLEAN, toy)
    assert run.feed_forward_output.shape == (2, 5, 8)
    np.testing.assert_allclose(run.feed_forward_output[1], np.maximum(run.residual[1], 0) * (np.arange(8) < 2), atol=1e-6)
    np.testing.assert_allclose(run.residual[2], run.residual[1] + run.attention_output[1] + run.feed_forward_output[1],
                               atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(clean="the cat sat", corrupted="the elephant sat down"), "same number of tokens"),
    (dict(clean="the cat sat", corrupted="the cat sat"), "same tokens"),
    (dict(answer="cat", wrong="cat"), "the same token"),
    (dict(answer="cat", target="similarity"), "Leave them out"),
    (dict(target="meaning"), "target must be one of"),
    (dict(target="token"), "needs a token index"),
    (dict(target="token", token=9), "indices in 0–4"),
    (dict(answer="chrysanthemums"), "tokens for this model's tokenizer"),
    (dict(clean="", corrupted="x"), "empty"),
    (dict(answer="sat", wrong="on", clean="the cat sat", corrupted="the cat sat."), "same number of tokens"),
])
def test_refusals_are_messages(toy, kwargs, message):
    arguments = dict(clean=CLEAN, corrupted=CORRUPTED, model=toy) | kwargs
    with pytest.raises(ValueError, match=message):
        patch(**arguments)


def test_nothing_to_restore_is_refused(toy):
    with pytest.raises(ValueError, match="nothing to restore"):
        patch("the cat sat", "the cat ran", toy, answer="cat", wrong="dog")   # neither is changed: 'ran' adds no noun


def test_an_encoder_has_no_next_token():
    with pytest.raises(ValueError, match="encoder"):
        patch("The cat sat.", "The dog sat.", "minilm", answer="sat")


def test_translate_mini_day_digit(trained_translate_mini):
    """The encoder–decoder: the source's day word decides the last digit; patching its embedding restores it all."""
    found = patch("the third of march, twenty twenty-one", "the fifth of march, twenty twenty-one", "translate-mini",
                  answer="3", wrong="5", prefix="2021-03-0")
    assert found.clean_value > 0 > found.corrupted_value
    assert found.layer_names[:2] == ["encoder 0", "encoder 1"] and "cross 0" in found.layer_names
    assert found.residual[0, found.changed].sum() == pytest.approx(1.0, abs=1e-3)   # one changed word, maybe pieces
    cross = found.layer_names.index("cross 0")
    assert found.attention[cross] > 0.9 and abs(found.attention[found.layer_names.index("decoder 0")]) < 1e-4   # through cross-attention
    with pytest.raises(ValueError, match="encoder–decoder"):
        patch("the third of march", "the fifth of march", "translate-mini", target="similarity")


def _repeats(count: int, period: int = 10, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """Clean: a random run of distinct letters, then its first half again (the next token is the one that followed the
    last token's earlier copy). Corrupted: that earlier copy's token swapped with the run's last token, so the earlier
    copy is now followed by the run's first letter. (clean, corrupted, answer, wrong)."""
    generator = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        run = "".join(generator.choice(list("abcdefghijklmnopqrstuvwxyz"), period, replace=False))
        half = period // 2
        swapped = list(run)
        swapped[half - 1], swapped[-1] = swapped[-1], swapped[half - 1]
        found.append((run + run[:half], "".join(swapped) + run[:half], run[half], run[0]))
    return found


def test_induction_mini_heads_found_by_patching_are_those_found_by_the_scores(trained_induction_mini):
    """Averaged over a few repeated runs, the heads that restore most are exactly the heads whose induction or
    previous-token score is ≥ 0.5 (the domain's probe scores), and in layer 0 the best is the best previous-token head."""
    from attention.domains.induction_mini import probe_scores

    scores = probe_scores(trained_induction_mini.network)
    scored = {tuple(map(int, where)) for kind in ("induction", "previous") for where in np.argwhere(scores[kind] >= 0.5)}
    assert scored, "induction-mini has no head with a score of 0.5"
    restored = np.mean([patch(clean, corrupted, "induction-mini", answer=answer, wrong=wrong).heads
                        for clean, corrupted, answer, wrong in _repeats(4)], axis=0)
    order = np.argsort(-restored, axis=None)[:len(scored)]
    assert {tuple(map(int, where)) for where in zip(*np.unravel_index(order, restored.shape))} == scored
    assert int(restored[0].argmax()) == int(scores["previous"][0].argmax())


def test_patches_left_out_as_unchanged_restore_nothing_when_run(gpt2_model):
    """patch() does not run a patch whose clean activation equals the corrupted run's own: running every one of them
    anyway gives the same arrays."""
    from attention.analyses import patching as P

    clean, corrupted = "the cat sat on the mat", "the dog sat on the mat"
    found = patch(clean, corrupted, gpt2_model, answer="the", wrong="a")
    runs = [trace(text, found.model) for text in (clean, corrupted)]
    sides = [P._Side.of("encoder", runs[0])]
    patches = P._patches(sides, runs[0].n_tokens)
    every = P._run_patches(runs[1], found.model, patches, {"encoder": sides[0]}, lambda hidden: (
        models.load_model(found.model).network.next_token_logits(hidden[:, -2:-1])[:, 0]), None)   # 'mat', before [SEP]
    ids = [models.load_model(found.model).tokenizer.convert_tokens_to_ids(t) for t in ("the", "a")]
    restored = ((every[:, ids[0]] - every[:, ids[1]]) - found.corrupted_value) / (found.clean_value - found.corrupted_value)
    all_run = P._assemble(runs, sides, patches, restored, found.clean_value, found.corrupted_value, [], "", "", 0)
    assert found.passes < len(patches)
    for name in ("heads", "residual", "attention", "feed_forward"):
        np.testing.assert_allclose(getattr(found, name), getattr(all_run, name), atol=1e-4)   # batched passes: float noise


def test_gpt_mini_defining_properties(trained_gpt_mini):
    found = patch("the function returns a list of the", "the function returns a string of the", "gpt-mini")
    assert found.heads.shape == (trained_gpt_mini.network.config.n_layers, trained_gpt_mini.network.config.n_heads)
    assert found.clean_value != found.corrupted_value and found.changed == [5]
    assert found.residual[0, 5] == pytest.approx(1.0, abs=1e-3)
    assert found.residual[-1, -2] == pytest.approx(1.0, abs=1e-3)              # 'the', the text's last token
    np.testing.assert_array_equal(found.residual[:, :5], 0)                    # causal: nothing before the change moves
