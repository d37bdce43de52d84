"""ALTI against the authors' definition (Ferrando et al., 2022; github.com/mt-upc/transformer-contributions:
ModelWrapper.get_contributions → normalize_contributions(..., 'min_sum', resultant_norm=‖y‖₁) → compute_joint_attention),
recomputed here independently from transformers' own BertModel on the bundled MiniLM weights (hooks on each layer's
value projection and first layer norm), and ours from the project's trace, within 1e-6 for every layer and the
rollout. The bias-free variant is a named option and differs where the biases are a large part of y."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import trace
from attention.analyses import contributions as C
from attention.run.models import _bundled_path, load_model

SENTENCES = ["The animal didn't cross the street because it was too tired.",
             "A man is playing a guitar on the stage tonight."]


def _reference(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The authors' ALTI on transformers' BertModel (float64): (per-layer normalised contributions [layer, query, key], their
    rollout [layer, query, key], ‖bias part of y‖₁ ÷ ‖y‖₁ per layer [layer]), in float64."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_bundled_path(), local_files_only=True)
    model = AutoModel.from_pretrained(_bundled_path(), local_files_only=True, attn_implementation="eager").double().eval()
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    for index, layer in enumerate(model.encoder.layer):
        hooks.append(layer.attention.self.value.register_forward_hook(
            lambda m, i, o, index=index: seen.__setitem__(f"value{index}", o.detach())))
        hooks.append(layer.attention.output.LayerNorm.register_forward_hook(
            lambda m, i, o, index=index: seen.update({f"ln_in{index}": i[0].detach(), f"ln_out{index}": o.detach()})))
    with torch.no_grad():
        out = model(**tokenizer(text, return_tensors="pt"), output_hidden_states=True, output_attentions=True)
    for hook in hooks:
        hook.remove()
    return _contributions(model, out, seen)


@torch.no_grad()
def _contributions(model, out, seen: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    config = model.config
    heads, size = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    normalised, bias_share = [], []
    for index, layer in enumerate(model.encoder.layer):
        x = out.hidden_states[index][0]                                         # [token, d] the layer's input
        alpha = out.attentions[index][0]                                        # [head, query, key]
        value = seen[f"value{index}"][0].view(-1, heads, size).transpose(0, 1)  # [head, key, d_head] (value bias in)
        dense = layer.attention.output.dense
        norm = layer.attention.output.LayerNorm
        w_o = dense.weight.view(config.hidden_size, heads, size)                # [d, head, d_head]
        through = torch.einsum("hkv,dhv->hkd", value, w_o)                      # each key's value through W_O
        mixed = torch.einsum("hqk,hkd->qkd", alpha, through)                    # Σ_head α·f(x_key)
        mixed = mixed + torch.einsum("qk,qd->qkd", torch.eye(x.shape[0], dtype=x.dtype), x)   # + the residual
        d = config.hidden_size
        linear = (torch.eye(d, dtype=x.dtype) - torch.full((d, d), 1 / d, dtype=x.dtype)) @ torch.diag(norm.weight)
        coefficient = 1 / seen[f"ln_in{index}"][0].std(-1, unbiased=False)     # [query] the norm's 1/σ at this input
        parts = (mixed @ linear) * coefficient[:, None, None]                   # T_query(x_key) [query, key, d]
        bias = (dense.bias @ linear) * coefficient[:, None] + norm.bias         # the biases' part of y [query, d]
        y = (mixed @ linear).sum(1) * coefficient[:, None] + bias
        torch.testing.assert_close(y, seen[f"ln_out{index}"][0], atol=1e-8, rtol=0)   # y is the block's real output
        importance = -(parts - y[:, None]).abs().sum(-1)                         # −‖y − T(x_key)‖₁
        scores = (importance + y.abs().sum(-1, keepdim=True)).clamp(min=0)     # min_sum with resultant_norm = ‖y‖₁
        normalised.append(scores / scores.sum(-1, keepdim=True))
        bias_share.append(float((bias.abs().sum(-1) / y.abs().sum(-1)).mean()))
    per_layer = torch.stack(normalised)
    joint = [per_layer[0]]
    for layer in range(1, len(per_layer)):
        joint.append(per_layer[layer] @ joint[-1])                              # compute_joint_attention
    return per_layer.numpy(), torch.stack(joint).numpy(), np.asarray(bias_share)


@pytest.mark.parametrize("text", SENTENCES)
def test_alti_equals_the_authors_definition_on_minilm_for_every_layer_and_the_rollout(text):
    per_layer, joint, _ = _reference(text)
    run = trace(text, "scratch:minilm")
    network = load_model("scratch:minilm").network
    ours_layers, ours_joint = C.alti_layers(run, network), C.alti(run, network)
    assert ours_layers.shape == per_layer.shape
    assert np.abs(ours_layers - per_layer).max() < 1e-6
    assert np.abs(ours_joint - joint).max() < 1e-6


def test_the_bias_free_variant_is_a_named_option_and_differs_where_biases_are_a_large_part_of_y():
    per_layer, _, bias_share = _reference(SENTENCES[0])
    run = trace(SENTENCES[0], "scratch:minilm")
    network = load_model("scratch:minilm").network
    free = C.alti_layers(run, network, biases=False)
    assert not np.allclose(free, per_layer, atol=1e-3)                          # leaving the biases out changes ALTI
    assert np.abs(free - per_layer).max() > 0.05
    assert bias_share[0] > bias_share[1:].mean()                                # the biases weigh most in layer 0
    np.testing.assert_allclose(free.sum(-1), 1.0, atol=1e-5)
