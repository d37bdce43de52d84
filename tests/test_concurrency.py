"""Many sessions in one process: concurrent attend() calls get their own results, models load once,
and forward passes take turns (one at a time) instead of oversubscribing the cores."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from attention import attend
from attention.run import models as backends
from attention.run.api import RESULTS


def test_concurrent_calls_each_get_their_own_text():
    words = ["apple", "river", "garden", "window", "music", "silver", "ocean", "forest", "castle", "bridge"] * 2
    jobs = [(f"The {word} number {index} is here.", ["minilm", "scratch", "scratch:minilm"][index % 3])
            for index, word in enumerate(words)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: attend(*job), jobs))
    for (text, model), result in zip(jobs, results):
        assert result.model == model
        assert text.split()[1] in result.tokens and str(jobs.index((text, model))) in result.tokens


def test_models_load_once_under_concurrency():
    with ThreadPoolExecutor(max_workers=6) as pool:
        loaded = list(pool.map(lambda _: backends.load_model("scratch"), range(12)))
    assert all(backend is loaded[0] for backend in loaded)


def test_forward_passes_take_turns(monkeypatch):
    backend = backends.load_model("scratch")
    inside, most = 0, 0
    guard = threading.Lock()
    original = backend.network.forward

    def counting(*args, **kwargs):
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(backend.network, "forward", counting)  # the model itself: inside whatever lock guards it
    RESULTS.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: attend(f"turn taking {i} " * 20, "scratch"), range(16)))
    assert most == 1
    assert inside == 0
