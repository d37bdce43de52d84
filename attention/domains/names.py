"""The trained demos' model names and how to build each, registered with the table of names (attention/run/models.py).

The table sits below the domains and never imports them; each builder here imports its demo only when its name is
first asked for (a demo trains on first use, then is read from the disk cache).
"""
from __future__ import annotations

from dataclasses import replace

from attention.engine.backends import Backend, _scratch_backend
from attention.engine.patterns import ATTEND_OPTIONS
from attention.run import models
from attention.run.models import GPT_MINI_NAMES, INDUCTION_MINI, TRANSLATE_MINI_NAMES

LONG_MINI = "long-mini"


def _translate_mini(name: str) -> Backend:
    from attention.domains import translate_mini   # dates in words -> ISO dates, trained here

    return translate_mini.backend(name)


def _gpt_mini(name: str) -> Backend:
    from attention.domains.gpt_mini import network as gpt_mini_network

    tokenizer, network = gpt_mini_network(name)   # trained on first use (minutes), then read from the disk cache
    return _scratch_backend(name, tokenizer, network, "decoder", network.config.max_positions, {"causal", *ATTEND_OPTIONS})


def _induction_mini(name: str) -> Backend:
    from attention.domains import induction_mini   # trained on first use (about half a minute), then read from disk

    return induction_mini.backend(name)


def _long_mini(name: str) -> Backend:
    from attention.domains import long_mini   # a Llama trained here (about a minute), read from its folder as any other

    return replace(models._transformers(long_mini.folder()), name=name)


models.register(TRANSLATE_MINI_NAMES, _translate_mini)
models.register(GPT_MINI_NAMES, _gpt_mini)
models.register((INDUCTION_MINI,), _induction_mini)
models.register((LONG_MINI,), _long_mini)
