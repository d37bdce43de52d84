"""trace(): one instrumented pass of the project's engine; its fields are a contract (names, axes, equalities)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import attend, trace
from attention.analyses.multihead import trace_ablation
from attention.run.models import _bundled_path, load_model
from attention.run.api import prepare
from attention.run.trace import forward, gate_tensors, rerun_layer

TEXT = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def run():
    return trace(TEXT, "scratch:minilm")


def test_fields_have_the_contract_names_axes_and_dtype(run):
    n, layers, heads, d_model, d_head = len(run.tokens), 6, 12, 384, 32
    shapes = {
        "weights": (layers, heads, n, n), "query": (layers, heads, n, d_head), "key": (layers, heads, n, d_head),
        "value": (layers, heads, n, d_head), "head_outputs": (layers, heads, n, d_head),
        "head_writes": (layers, heads, n, d_model), "attention_output": (layers, n, d_model),
        "residual": (layers + 1, n, d_model),
    }
    for name, shape in shapes.items():
        array = getattr(run, name)
        assert array.shape == shape and array.dtype == np.float32, name
        assert not array.flags.writeable, f"{name} is shared through the cache and must be read-only"
    assert run.tokens == run.result.tokens and run.tokens[0] == "[CLS]"


def test_weights_equal_attend_and_the_result_is_attends(run):
    result = attend(TEXT, "scratch:minilm")
    np.testing.assert_array_equal(run.weights, result.weights)
    np.testing.assert_array_equal(run.result.weights, result.weights)
    assert run.result.notices == result.notices and run.result.meta == result.meta


def test_head_outputs_are_weights_times_values(run):
    np.testing.assert_allclose(run.head_outputs, run.weights @ run.value, atol=1e-5)


def test_head_writes_sum_with_the_bias_to_the_attention_output(run):
    total = run.head_writes.sum(1) + run.output_bias[:, None, :]
    np.testing.assert_allclose(total, run.attention_output, atol=1e-4)


def test_residual_starts_at_the_embeddings_and_ends_at_transformers_last_hidden_state(run):
    from transformers import AutoModel

    network = AutoModel.from_pretrained(_bundled_path(), local_files_only=True).eval()
    with torch.inference_mode():
        out = network(input_ids=torch.tensor([run.ids]), output_hidden_states=True)
    np.testing.assert_allclose(run.residual[-1], out.last_hidden_state[0].numpy(), atol=1e-4)
    for layer, hidden in enumerate(out.hidden_states):           # transformers' hidden states: embeddings, then each layer
        np.testing.assert_allclose(run.residual[layer], hidden[0].numpy(), atol=1e-4)


def test_post_norm_layers_add_the_attention_output_to_the_residual(run):
    """BERT: after_attention = LayerNorm(residual + attention_output); checked with the layer's own norm."""
    block = load_model("scratch:minilm").network.layers[2]
    with torch.inference_mode():
        after = block.attention_norm(torch.from_numpy(run.residual[2] + run.attention_output[2]))
        expected = block.output_norm(after + block.feed_forward(after))
    np.testing.assert_allclose(expected.numpy(), run.residual[3], atol=1e-4)
    np.testing.assert_array_equal(run.attention_input, run.residual[:-1])   # post-norm: attention reads the stream itself


def test_value_writes_weighted_by_attention_give_each_heads_write(run):
    layer = 3
    writes = run.value_writes(layer)                                          # [head, key, d_model]
    np.testing.assert_allclose(np.einsum("hqk,hkm->hqm", run.weights[layer], writes), run.head_writes[layer], atol=1e-4)


def test_a_gate_of_zero_equals_zeroing_that_heads_output():
    """Removing head 5 of layer 1 by the gate equals taking its part out of the attention output by hand."""
    plain, cut = trace(TEXT, "scratch:minilm"), trace(TEXT, "scratch:minilm", gate={(1, 5): 0.0})
    np.testing.assert_array_equal(cut.weights[:2], plain.weights[:2])        # layers up to 1 attend as before
    np.testing.assert_allclose(cut.attention_output[1], plain.attention_output[1] - plain.head_writes[1, 5], atol=1e-4)
    assert np.abs(cut.head_outputs[1, 5]).max() == 0 and np.abs(cut.weights[2:] - plain.weights[2:]).max() > 1e-4
    assert cut.gates == {(1, 5): 0.0} and cut.result.meta["gates"] == {"1,5": 0.0}
    # a gate of one changes nothing; half a head is half its write
    half = trace(TEXT, "scratch:minilm", gate={(1, 5): 0.5})
    np.testing.assert_allclose(half.attention_output[1], plain.attention_output[1] - 0.5 * plain.head_writes[1, 5], atol=1e-4)


def test_the_multi_head_ablation_reads_gated_traces():
    plain = trace(TEXT, "scratch:minilm")
    found = trace_ablation(plain, 1, [5])
    cut = trace(TEXT, "scratch:minilm", gate={(1, 5): 0.0})
    expected = np.linalg.norm(cut.residual[-1] - plain.residual[-1]) / np.linalg.norm(plain.residual[-1])
    assert found.final_change == pytest.approx(expected, rel=1e-6) and found.final_change > 0
    np.testing.assert_allclose(rerun_layer(plain, 1, {5: 0.0}), cut.residual[2], atol=1e-4)
    assert found.single_head[5] == pytest.approx(found.layer_change, rel=1e-4)


@pytest.mark.parametrize("gate", [{(6, 0): 0.0}, {(0, 12): 0.0}, {(0,): 0.0}, {(0, 1): float("nan")}, [(0, 1)]])
def test_bad_gates_are_refused_with_a_message(gate):
    with pytest.raises(ValueError, match="gate"):
        trace(TEXT, "scratch:minilm", gate=gate)


def test_same_errors_and_notices_as_attend():
    with pytest.raises(ValueError, match="empty"):
        trace("   ", "scratch")
    with pytest.raises(ValueError, match="Unknown option"):
        trace(TEXT, "scratch", colour="red")
    long = " ".join(["word"] * 700)
    assert trace(long, "scratch:minilm").notices == attend(long, "scratch:minilm").notices
    assert any("truncated" in notice for notice in trace(long, "scratch:minilm").notices)


def test_minilm_is_traced_on_the_engine_with_its_weights():
    run = trace(TEXT, "minilm")
    assert run.model == "scratch:minilm" and any("scratch:minilm" in notice for notice in run.notices)
    np.testing.assert_allclose(run.weights, attend(TEXT, "minilm").weights, atol=1e-5)


def test_causal_and_patterned_runs_are_traced_like_attend():
    for options in ({"causal": True}, {"pattern": "sliding", "window": 2}):
        run = trace(TEXT, "scratch", **options)
        np.testing.assert_array_equal(run.weights, attend(TEXT, "scratch", **options).weights)
        np.testing.assert_allclose(run.head_outputs, run.weights @ run.value, atol=1e-5)


def test_encoder_decoder_sides_are_traced_under_their_own_names():
    run = trace("The cat sat.", "scratch", target="Le chat")
    result = attend("The cat sat.", "scratch", target="Le chat")
    np.testing.assert_array_equal(run.decoder.weights, result.target_weights)
    np.testing.assert_array_equal(run.cross.weights, result.cross)
    n_source, n_target = len(run.tokens), len(run.target_tokens)
    assert run.cross.query.shape[2] == n_target and run.cross.key.shape[2] == n_source
    assert run.decoder.residual.shape[0] == run.decoder.n_layers + 1 and run.cross.residual is None
    np.testing.assert_allclose(run.cross.head_writes.sum(1) + run.cross.output_bias[:, None], run.cross.attention_output, atol=1e-4)


def test_gradients_flow_through_the_traced_pass_and_equal_finite_differences():
    """forward() runs under the caller's grad mode: d(output)/d(gate) by autograd equals a finite difference."""
    prepared = prepare("a small test", "scratch")
    network = prepared.backend.network.double()
    try:
        gate = torch.ones(network.config.n_heads, dtype=torch.float64, requires_grad=True)

        def target(factors: torch.Tensor) -> torch.Tensor:
            encoded, _ = forward(prepared, {1: factors}, record=True)
            return encoded.hidden.pow(2).sum()

        value = target(gate)
        value.backward()
        step = 1e-6
        for head in range(network.config.n_heads):
            bumped = gate.detach().clone()
            bumped[head] += step
            with torch.no_grad():
                numeric = (target(bumped) - target(gate.detach())) / step
            assert float(gate.grad[head]) == pytest.approx(float(numeric), rel=1e-3, abs=1e-6)
        assert gate_tensors({(0, 1): 0.0}, 4)[0].tolist() == [1.0, 0.0, 1.0, 1.0]
    finally:
        network.float()


def test_lazy_fields_are_stacked_on_first_read_equal_and_survive_a_pickle():
    """query, key, value, head_outputs, attention_input/output and residual are stacked from the pass's per-layer tensors
    when first read (trace() copies nothing else): equal to an eager run, kept once read, and whole in a pickle."""
    import pickle

    import torch

    from attention.run.models import load_model

    text = "Lazy fields arrive when read."
    run = trace(text, "scratch:minilm")
    assert "value" not in run.__dict__                                    # nothing stacked yet
    backend = load_model("scratch:minilm")
    with torch.inference_mode():
        passed = backend.network.run(torch.tensor([run.ids]), record=True)
    eager_value = torch.cat([entry["self"]["value"] for entry in passed.records]).numpy()
    np.testing.assert_array_equal(run.value, eager_value)
    assert run.value is run.value                                          # stacked once, then a plain attribute
    copy = pickle.loads(pickle.dumps(run))
    for name in ("query", "key", "value", "head_outputs", "attention_input", "attention_output", "residual"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(run, name))
    assert run.nbytes == copy.nbytes > run.weights.nbytes
