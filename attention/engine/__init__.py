"""The engine: how attention is computed, and the models it runs.

    maths.py        attention step by step: the one function that computes weights, multi-head attention
    layers.py       a transformer layer and the one loop over a stack of them
    config.py       ScratchConfig: sizes and choices of a stack
    transformer.py  ScratchTransformer: embeddings + layers (+ a decoder stack)
    loaders.py      BERT-family, GPT-2 and BART checkpoints copied into the engine
    patterns.py     sparse attention patterns (sliding, dilated, Longformer, BigBird, ProbSparse)
    backends.py     model names -> loaded models behind one interface (the project's engine, or transformers)
"""
from attention.engine.config import ScratchConfig  # noqa: E402
from attention.engine.layers import FeedForward, TransformerLayer, run_layers, sinusoidal_positions  # noqa: E402
from attention.engine.loaders import from_bart, from_bert, from_gpt2, from_transformers  # noqa: E402
from attention.engine.maths import MultiHeadAttention, attention_weights, causal_mask, padding_mask  # noqa: E402
from attention.engine.transformer import Pass, ScratchTransformer  # noqa: E402

__all__ = ["ScratchConfig", "FeedForward", "TransformerLayer", "run_layers", "sinusoidal_positions", "from_bart", "from_bert",
           "from_gpt2", "from_transformers", "MultiHeadAttention", "attention_weights", "causal_mask", "padding_mask", "Pass",
           "ScratchTransformer"]
