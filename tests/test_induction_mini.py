"""induction-mini: the data and the tokenizer, the head scores and K-composition on hand-built cases with known answers,
the trained model reaching its targets, and removing its previous-token head breaking its induction heads."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attention import attend, trace
from attention.analyses.generation import head_scores, score_weights as generation_score_weights
from attention.domains import induction_mini as im


# --- data -------------------------------------------------------------------------------------------------------

def test_the_vocabulary_has_64_tokens_one_per_character():
    tok = im.tokenizer()
    assert len(im.vocabulary()) == 64 == tok.vocab_size
    ids = tok("Ab c\n1é")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[BOS]", "a", "b", "▁", "c", "▁", "1", "[UNK]"]
    assert tok.decode(tok("the cat. the cat.")["input_ids"], skip_special_tokens=True) == "the cat. the cat."


def test_rows_repeat_with_their_own_period_and_parts_split_at_it():
    ids, period = im.repeated_rows(200, 63, (8, 31), torch.Generator().manual_seed(3))
    assert ids.shape == (200, 64) and (ids[:, 0] == im.BOS).all() and (ids[:, 1:] >= 2).all() and (ids[:, 1:] < 64).all()
    assert period.min() >= 8 and period.max() <= 31 and len(set(period.tolist())) > 15
    for row, p in zip(ids, period.tolist()):
        assert torch.equal(row[1 + p:], row[1:-p])                    # token t equals token t − p
    first, repeated = im.parts(torch.tensor([8, 31]), 63)
    assert first[0].sum() == 9 and repeated[0].sum() == 54 and first[1].sum() == 32   # targets 1 … p + 1 are the first part
    assert not (first & repeated).any() and (first | repeated).all()


# --- scores on hand-built cases ----------------------------------------------------------------------------------

def _pattern(length: int) -> np.ndarray:
    """[layer 1, head 3, query, key] over [BOS] + two copies: a perfect induction head, a perfect previous-token head and
    a head spreading its weight evenly over every key it may see."""
    n = 2 * length + 1
    weights = np.zeros((1, 3, n, n), dtype=np.float32)
    for query in range(n):
        weights[0, 0, query, query - length + 1 if query > length else 0] = 1.0    # induction; [BOS] before the repeat
        weights[0, 1, query, max(query - 1, 0)] = 1.0
        weights[0, 2, query, : query + 1] = 1.0 / (query + 1)
    return weights


def test_scores_of_a_hand_built_pattern_have_known_values():
    length = 5
    weights = _pattern(length)
    induction = im.score_weights(weights, length, "induction")[0]
    previous = im.score_weights(weights, length, "previous")[0]
    uniform_induction = np.mean([1 / (q + 1) for q in range(length + 1, 2 * length + 1)])
    uniform_previous = np.mean([1 / (q + 1) for q in range(1, 2 * length + 1)])
    # the induction head sends q = 6 … 10 to q − 4, which is also q − 1 nowhere (length 5): previous score 1/10 from q = 1
    np.testing.assert_allclose(induction, [1.0, 0.0, uniform_induction], atol=1e-6)
    np.testing.assert_allclose(previous, [1 / 10, 1.0, uniform_previous], atol=1e-6)
    for kind in im.KINDS:      # the same definition as head_scores (attention.analyses.generation)
        np.testing.assert_allclose(im.score_weights(weights, length, kind), generation_score_weights(weights, length, kind))
    with pytest.raises(ValueError, match="two copies"):
        im.score_weights(weights, length + 1, "induction")


def _composing_network(gain: float = 1.0) -> im.InductionMini:
    """d_model 8, 2 heads of 4: layer-0 head a reads r_a and writes w_a (W_OV = r_a w_aᵀ), layer-1 head b reads the
    query along q_b and the key along k_b (W_QK = q_b k_bᵀ); K-composition is then |cos(w_a, k_b)|."""
    config = im.InductionConfig(d_model=8, n_heads=2, vocab_size=64, context=16)
    network = im.InductionMini(config.scratch())
    e = torch.eye(8)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        first, second = network.layers[0].self_attention, network.layers[1].self_attention
        writes = [e[0] - e[1], e[4] - e[5]]                         # mean 0: LayerNorm's centring leaves them alone
        for head, write in enumerate(writes):
            first.value.weight[4 * head] = e[2 + head]              # W_V^a column 0: what head a reads
            first.output.weight[:, 4 * head] = write                # W_O^a row 0: what it writes
        second.query.weight[0], second.key.weight[0] = e[2] - e[3], e[0] - e[1]         # head 0: keys along w_0
        second.query.weight[4], second.key.weight[4] = e[0] - e[1], e[4] - e[5] + e[6] - e[7]   # head 1: queries along w_0
        network.layers[1].attention_norm.weight.fill_(1.0)
        network.layers[1].attention_norm.weight[6:] = gain
    return network


def test_k_composition_of_hand_built_heads_has_known_values():
    """Head (1, 0)'s keys read exactly what (0, 0) writes: 1. Head (1, 1)'s keys read half of what (0, 1) writes
    (cosine 1/√2) and its queries, not its keys, read what (0, 0) writes: 0 (K-, not Q-composition)."""
    np.testing.assert_allclose(im.composition(_composing_network()), [[1.0, 0.0], [0.0, 1 / math.sqrt(2)]], atol=1e-6)


def test_k_composition_folds_in_the_gain_of_the_layer_norm_the_keys_read():
    """A gain of 3 on dimensions 6 and 7 makes (1, 1)'s key direction e4 − e5 + 3e6 − 3e7: cosine 2 / √(2·20)."""
    np.testing.assert_allclose(im.composition(_composing_network(gain=3.0))[1, 1], 2 / math.sqrt(40), atol=1e-6)


def test_phase_change_is_where_the_repeated_loss_passes_its_midpoint():
    history = {"step": np.arange(0, 100, 10), "loss_repeated": np.array([4, 4, 3.9, 3.5, 1.5, 0.4, 0.2, 0.1, 0.1, 0.0])}
    assert im.phase_change(history) == 40


def test_training_reports_progress_and_records_every_k_steps_from_a_seed():
    """A short recipe (30 steps): progress climbs to 1 with a message at every record and `watch` sees the history
    grow to the one returned; the same seed gives the same history and weights, on one thread, which is given back."""
    config = im.InductionConfig(steps=30, record_every=10)
    heard: list[tuple[float, str]] = []
    seen: list[dict] = []
    threads = torch.get_num_threads()
    network, history = im.train(config, lambda fraction, message: heard.append((fraction, message)), seen.append)
    assert torch.get_num_threads() == threads
    assert [len(grown["step"]) for grown in seen] == [1, 2, 3, 4]
    assert all(np.array_equal(seen[-1][name], history[name].numpy()) for name in history)
    np.testing.assert_array_equal(seen[1]["induction"], history["induction"][:2].numpy())
    assert [fraction for fraction, _ in heard] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert heard[-1][1].startswith("Training induction-mini: step 30 of 30")
    assert history["step"].tolist() == [0, 10, 20, 30] and history["induction"].shape == (4, 2, 4)
    again, history_again = im.train(config)
    assert all(torch.equal(history[name], history_again[name]) for name in history)
    assert all(torch.equal(a, b) for a, b in zip(network.state_dict().values(), again.state_dict().values()))


# --- the trained model --------------------------------------------------------------------------------------------

def test_training_reaches_the_targets(trained_induction_mini):
    trained = trained_induction_mini
    history, config = trained.history, trained.config
    records = config.steps // config.record_every + 1
    assert history["step"].tolist() == list(range(0, config.steps + 1, config.record_every))
    assert history["induction"].shape == history["previous"].shape == (records, 2, 4)
    induction, previous = history["induction"][-1], history["previous"][-1]
    assert induction[1].max() >= 0.6 and previous[0].max() >= 0.6            # the targets of issue 25
    assert history["induction"][0].max() < 0.1                                # untrained: no induction head
    assert history["loss_repeated"][-1] < 0.2 < 3.5 < history["loss_first"][-1]   # the first part stays unpredictable
    assert 0 < im.phase_change(history) < config.steps
    assert 0 < trained.cpu_seconds <= trained.seconds * 1.05 and trained.cpu_seconds < 60   # one thread, under a minute


def test_head_scores_of_the_named_model_are_the_last_recorded_ones(trained_induction_mini):
    """head_scores("induction-mini", kind) draws the same probe as the training's record: the same numbers."""
    for kind in im.KINDS:
        np.testing.assert_allclose(head_scores("induction-mini", kind), trained_induction_mini.history[kind][-1], atol=1e-5)


def _probe_text(row: np.ndarray) -> str:
    """A probe row as text: the tokenizer gives its ids back ([BOS] first)."""
    return "".join(im.vocabulary()[i] for i in row[1:]).replace(im.SPACE, " ")


def test_removing_the_previous_token_head_breaks_the_induction_heads(trained_induction_mini):
    """Gate the best previous-token head of layer 0 (trace(gate=), the engine's head gate): the best induction head's
    score falls below a third of itself and the loss on the repeated part rises by over 2 nats; the first part barely
    changes. removal() measures what trace(gate=) measures."""
    trained = trained_induction_mini
    previous = im.best_head(trained.history["previous"][-1], range(0, 1))
    induction = im.best_head(trained.history["induction"][-1], range(1, 2))
    removed = im.removal(trained.network, trained.config, {previous: 0.0})
    assert removed.induction_after[induction] < removed.induction_before[induction] / 3
    assert removed.loss_repeated_after > removed.loss_repeated_before + 2.0
    assert abs(removed.loss_first_after - removed.loss_first_before) < 0.5
    row = im.probe()[0]
    text = _probe_text(row)
    assert attend(text, "induction-mini").tokens == im.tokenizer().convert_ids_to_tokens(row.tolist())
    length = (len(row) - 1) // 2
    kept = im.score_weights(trace(text, "induction-mini").weights, length, "induction")
    gated = im.score_weights(trace(text, "induction-mini", gate={previous: 0.0}).weights, length, "induction")
    assert gated[induction] < kept[induction] / 3
    factors = torch.ones(4)
    factors[previous[1]] = 0.0
    alone = im.probe_scores(trained.network, im.probe()[:1], gates={previous[0]: factors})   # the batched engine, one row
    np.testing.assert_allclose(alone["induction"], gated, atol=1e-5)


def test_the_previous_token_head_composes_with_the_induction_heads(trained_induction_mini):
    """K-composition: the previous-token head's row is the strongest of layer 0 for every layer-1 head, and above the
    untrained network's."""
    trained = trained_induction_mini
    scores = im.composition(trained.network)
    previous = im.best_head(trained.history["previous"][-1], range(0, 1))[1]
    assert scores.shape == (4, 4) and ((0 <= scores) & (scores <= 1)).all()
    assert (scores.argmax(axis=0) == previous).all()
    untrained = im.composition(im.InductionMini.initial(trained.config))
    assert scores[previous].min() > untrained.max()


def test_the_model_copies_a_repeated_text(trained_induction_mini):
    """Greedy generation after a text and the start of its repeat continues the repeat."""
    from attention.analyses.generation import generate

    written = generate("qzx7 mwp3;k qzx7 m", "induction-mini", steps=6).text
    assert written == "wp3;k "


def test_findings_remove_each_layer_0_head_and_name_the_strongest(trained_induction_mini):
    trained = trained_induction_mini
    found = im.findings(trained.network, trained.config, trained.history)
    assert found.previous_head == im.best_head(trained.history["previous"][-1], range(0, 1))
    assert found.removal_of(None) is found.removals[found.previous_head[1]]
    assert found.removal_of(None).gates == {found.previous_head: 0.0}
    table = found.removal_table()
    worst = int(np.argmax(table["loss on the repeated part (nats)"]))
    assert worst == found.previous_head[1]               # no other layer-0 head matters as much
    with pytest.raises(ValueError, match="heads 0–3"):
        found.removal_of(4)


def test_the_docs_page_states_the_recipe_and_seed_0_as_the_code_has_them(trained_induction_mini):
    """docs/induction-heads.md: the recipe's numbers are InductionConfig's, and its seed-0 row is this model's."""
    from conftest import ROOT

    page = (ROOT / "docs" / "induction-heads.md").read_text()
    trained = trained_induction_mini
    config, found = trained.config, im.findings(trained.network, trained.config, trained.history)
    for stated in (f"{config.n_layers} layers × {config.n_heads} heads", f"d_model {config.d_model}",
                   f"context {config.context}", f"{config.steps:,} steps", f"learning rate {config.learning_rate:.0e}",
                   f"batches of {config.batch_size} rows", f"period** of {config.min_period}–{config.max_period}",
                   f"every {config.record_every} steps", f"L = {im.PROBE_LENGTH}", f"ln {len(im.SYMBOLS)} nats",
                   f"a vocabulary of {len(im.vocabulary())} tokens", str(trained.history["induction"].shape)):
        assert stated.replace("e-03", "e-3") in page, stated
    removed = found.removal_of(None)
    best, previous = found.induction_head, found.previous_head
    row = (f"| 0 | {{}} | {{}} | step {found.phase_step} | {found.best_induction:.2f} (L{best[0]} H{best[1]}) | "
           f"{found.best_previous:.2f} (L{previous[0]} H{previous[1]}) | {removed.induction_after[best]:.2f} | "
           f"{removed.loss_repeated_before:.2f} → {removed.loss_repeated_after:.2f} nats |")
    start, end = row.split("{}")[0], row.split("{}")[-1]
    assert any(line.startswith(start) and line.endswith(end) for line in page.splitlines()), row


def test_the_step_by_step_view_opens_induction_mini_up(trained_induction_mini):
    """Like gpt-mini, induction-mini runs on the engine, so the views that open it up take its name: the weights they
    rebuild step by step are attend()'s."""
    from attention.analyses.steps import sentence_steps

    steps = sentence_steps("abc abc", "induction-mini", 1, 2, causal=True)
    np.testing.assert_allclose(steps.weights, attend("abc abc", "induction-mini").head(1, 2), atol=1e-6)
