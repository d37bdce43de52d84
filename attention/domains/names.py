"""The trained demos' model names and how to build each, registered with the table of names (attention/run/names.py).

The table sits below the domains and never imports them; each builder here imports its demo only when its name is
first asked for (a demo trains on first use, then is read from the disk cache).
"""
from __future__ import annotations

from typing import Any

from attention.run.names import GPT_MINI_NAMES, INDUCTION_MINI, LONG_MINI, TRANSLATE_MINI_NAMES, register

# Builders import their demo (and torch) only when called: registering names costs nothing at import.


def _translate_mini(name: str) -> Any:
    from attention.domains import translate_mini   # dates in words -> ISO dates, trained here

    return translate_mini.backend(name)


def _gpt_mini(name: str) -> Any:
    from attention.domains.gpt_mini import network as gpt_mini_network
    from attention.engine.backends import _scratch_backend
    from attention.engine.patterns import ATTEND_OPTIONS

    tokenizer, network = gpt_mini_network(name)   # trained on first use (minutes), then read from the disk cache
    return _scratch_backend(name, tokenizer, network, "decoder", network.config.max_positions, {"causal", *ATTEND_OPTIONS})


def _induction_mini(name: str) -> Any:
    from attention.domains import induction_mini   # trained on first use (about half a minute), then read from disk

    return induction_mini.backend(name)


def _long_mini(name: str) -> Any:
    from dataclasses import replace

    from attention.domains import long_mini   # a Llama trained here (about a minute), read from its folder as any other
    from attention.run import models

    return replace(models._transformers(long_mini.folder()), name=name)


register(TRANSLATE_MINI_NAMES, _translate_mini)
register(GPT_MINI_NAMES, _gpt_mini)
register((INDUCTION_MINI,), _induction_mini)
register((LONG_MINI,), _long_mini)
