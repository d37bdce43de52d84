"""attention/cache.py: a thread-safe least-recently-used cache bounded by bytes."""
from __future__ import annotations

import os
import threading

from attention.run.cache import ByteLRU
from conftest import ROOT


def sized(max_bytes: int) -> ByteLRU:
    """A cache whose values are byte strings sized by their length."""
    return ByteLRU(max_bytes, len)


def stored_bytes(cache: ByteLRU) -> int:
    return sum(len(value) for value in (cache.get(key) for key in list(cache._items)) if value is not None)


def test_get_returns_what_was_put_and_none_when_missing():
    cache = sized(100)
    cache.put("a", b"x" * 10)
    assert cache.get("a") == b"x" * 10
    assert cache.get("missing") is None
    assert len(cache) == 1
    assert cache.nbytes == 10


def test_evicts_least_recently_used_when_over_budget():
    cache = sized(30)
    cache.put("a", b"a" * 10)
    cache.put("b", b"b" * 10)
    cache.put("c", b"c" * 10)
    assert cache.nbytes == 30 and len(cache) == 3   # exactly at the budget is allowed
    cache.put("d", b"d" * 10)
    assert cache.get("a") is None                     # the oldest went
    assert [cache.get(key) is not None for key in "bcd"] == [True, True, True]
    assert cache.nbytes == 30


def test_evicts_as_many_as_needed_for_a_large_item():
    cache = sized(30)
    for key in "abc":
        cache.put(key, key.encode() * 10)
    cache.put("big", b"z" * 25)
    assert cache.get("big") == b"z" * 25
    assert all(cache.get(key) is None for key in "abc")
    assert cache.nbytes == 25 and len(cache) == 1


def test_get_refreshes_recency():
    cache = sized(30)
    for key in "abc":
        cache.put(key, key.encode() * 10)
    assert cache.get("a") is not None   # "a" is now the most recent; "b" is the oldest
    cache.put("d", b"d" * 10)
    assert cache.get("b") is None
    assert cache.get("a") == b"a" * 10
    assert cache.get("c") == b"c" * 10


def test_put_again_replaces_value_size_and_recency():
    cache = sized(30)
    cache.put("a", b"a" * 10)
    cache.put("b", b"b" * 10)
    cache.put("a", b"A" * 15)            # replaces, and "a" becomes the most recent
    assert cache.get("a") == b"A" * 15
    assert cache.nbytes == 25 and len(cache) == 2
    cache.put("c", b"c" * 10)            # 35 > 30: the oldest ("b") goes
    assert cache.get("b") is None
    assert cache.get("a") == b"A" * 15


def test_refuses_items_bigger_than_the_budget():
    cache = sized(20)
    cache.put("small", b"s" * 5)
    cache.put("huge", b"h" * 21)
    assert cache.get("huge") is None
    assert cache.get("small") == b"s" * 5   # refusing did not evict anything
    assert cache.nbytes == 5 and len(cache) == 1


def test_clear_empties_the_cache():
    cache = sized(100)
    cache.put("a", b"a")
    cache.put("b", b"bb")
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0
    assert cache.get("a") is None


def test_size_function_is_used():
    cache = ByteLRU(100, lambda value: value["bytes"])
    cache.put(1, {"bytes": 60})
    cache.put(2, {"bytes": 60})
    assert cache.get(1) is None and cache.get(2) == {"bytes": 60}
    assert cache.nbytes == 60


def test_concurrent_puts_and_gets_keep_the_byte_count_consistent():
    n_threads = 8
    cache = sized(5_000)
    errors = []
    start = threading.Barrier(n_threads)

    def work(thread: int) -> None:
        try:
            start.wait()
            for step in range(2_000):
                key = (thread, step % 50)
                cache.put(key, bytes(1 + (thread * 7 + step) % 97))
                cache.get((thread - 1, step % 50))
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert 0 < cache.nbytes <= cache.max_bytes
    assert cache.nbytes == stored_bytes(cache)           # the running total matches what is stored
    assert len(cache) == len(cache._items)


def test_is_cached_tells_whether_attend_would_compute(monkeypatch):
    """The home view mounts its placeholders only when attend() will compute: is_cached must match the cache."""
    import uuid

    from attention.run import api

    text = f"Not seen before {uuid.uuid4().hex}."
    assert not api.is_cached(text, "scratch")
    api.attend(text, "scratch")
    assert api.is_cached(text, "scratch") and api.is_cached(text, " scratch ")   # the name is read as attend reads it
    assert not api.is_cached(text, "scratch", causal=True)                      # options are part of the key
    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")                            # so are the limits in force
    assert not api.is_cached(text, "scratch")
    assert not api.is_cached(None, "scratch") and not api.is_cached(text, None)


def test_the_core_makes_torch_threads_wait_passively():
    """Spinning OpenMP threads made forwards 10-20x slower beside a busy browser; importing the core sets the
    policy before torch loads, unless the environment already chose one."""
    import subprocess
    import sys

    code = "import os, attention, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip() == "ACTIVE"


def test_is_loaded_tells_whether_a_model_is_in_memory():
    from attention.run import models as backends

    backends.load_model("scratch")
    assert backends.is_loaded("scratch") and backends.is_loaded(" scratch ")
    assert not backends.is_loaded("never-loaded-model") and not backends.is_loaded(None)


def test_a_count_bound_drops_the_least_recently_used_too():
    cache = ByteLRU(10**6, len, max_items=2)
    cache.put("a", b"a")
    cache.put("b", b"b")
    cache.get("a")                                   # "b" is now the oldest
    cache["c"] = b"c"
    assert list(cache) == ["a", "c"] and cache.nbytes == 2


def test_memo_computes_once_per_key():
    cache, calls = sized(100), []
    compute = lambda: calls.append(1) or b"value"
    assert cache.memo("k", compute) == b"value" and cache.memo("k", compute) == b"value"
    assert len(calls) == 1


def test_every_core_cache_is_named_in_one_registry_and_cleared_at_once(monkeypatch):
    from attention import attend, trace
    from attention.analyses import contributions, corpus  # noqa: F401  (their caches register on import)
    from attention.run import cache

    attend("One registry.", "scratch")
    trace("One registry.", "scratch")
    assert {"results", "traces", "explanations", "corpus", "models"} <= set(cache.CACHES)
    entries = cache.usage()
    assert entries["results"][0] >= 1 and entries["traces"][0] >= 1 and entries["models"][0] >= 1
    assert entries["traces"][1] > 0                          # counted in bytes
    # clear_all() empties every registered cache: checked on stand-ins, so the session's loaded models and results stay
    stand_ins = {"a": sized(100), "b": ByteLRU(10**6, len, max_items=3)}
    for one in stand_ins.values():
        one.put("k", b"value")
    monkeypatch.setattr(cache, "CACHES", stand_ins)
    cache.clear_all()
    assert cache.usage() == {"a": (0, 0), "b": (0, 0)}


def test_memoized_keys_on_values_including_options_dicts():
    from attention.run.cache import CACHES, memoized

    calls = []

    @memoized("test-memoized", max_items=2)
    def double(x, options):
        calls.append(x)
        return [x * 2, dict(options)]

    assert double(2, {"b": 1, "a": [1, 2]}) == [4, {"b": 1, "a": [1, 2]}]
    assert double(2, {"a": [1, 2], "b": 1}) == [4, {"b": 1, "a": [1, 2]}]    # the same options in another order
    assert calls == [2]
    double(3, {}), double(4, {})                                             # at most 2 kept: x=2 dropped
    double(2, {"b": 1, "a": [1, 2]})
    assert calls == [2, 3, 4, 2] and CACHES["test-memoized"] is double.cache
    CACHES.pop("test-memoized")
