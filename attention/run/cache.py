"""The core's one in-memory cache mechanism: named, thread-safe, least-recently-used caches bounded by bytes.

Every computed thing the core keeps in memory lives in one of these, listed in CACHES by name (results, traces,
explanations, corpus tables, loaded models); each budget can be set by an environment variable. Files that outlive
the process (trained demo models) are kept on disk by attention/domains/store.py, the only other level.

    name           holds                               budget (environment variable, default)
    results        attend()'s Attention                ATTENTION_LENS_CACHE_MB (512)
    traces         trace()'s Trace                     ATTENTION_LENS_TRACE_CACHE_MB (256)
    explanations   explain()'s Explanation             ATTENTION_LENS_EXPLAIN_CACHE_MB (64)
    corpus         corpus statistics tables            ATTENTION_LENS_CORPUS_CACHE_MB (64)
    models         loaded models (by parameter bytes)  ATTENTION_LENS_MODELS_MB (4096), at most ATTENTION_LENS_MAX_MODELS (3)

Pages keep their own derived views the same way, through the `memoized` decorator (a named cache per view), rather
than through Streamlit's caches: one mechanism, one place to see and clear them (`usage()`, `clear_all()`).
"""
from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterator


class ByteLRU:
    """Keeps values until their summed `size(value)` passes `max_bytes` (or their number passes `max_items`), then
    drops the least recently used."""

    def __init__(self, max_bytes: int, size: Callable[[Any], int], max_items: int | None = None):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._size = size
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __iter__(self) -> Iterator[Hashable]:
        """The keys, least recently used first."""
        with self._lock:
            return iter(list(self._items))

    def put(self, key: Hashable, value: Any) -> None:
        nbytes = self._size(value)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            if nbytes > self.max_bytes:
                return  # too big to keep at all
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes or (self.max_items is not None and len(self._items) > self.max_items):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    __setitem__ = put

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value under `key`, computed (outside the lock) and kept when missing."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


CACHES: dict[str, ByteLRU] = {}


def _budget(env: str, default_mb: int) -> int:
    raw = os.environ.get(env, "").strip()
    try:
        megabytes = int(raw) if raw else default_mb
    except ValueError:
        megabytes = default_mb
    return max(0, megabytes) * 2**20


def memory_cache(name: str, size: Callable[[Any], int], env: str, default_mb: int,
                 max_items: int | None = None) -> ByteLRU:
    """The named cache (made once, listed in CACHES) with a budget of $env megabytes, else `default_mb`."""
    if name not in CACHES:
        CACHES[name] = ByteLRU(_budget(env, default_mb), size, max_items)
    return CACHES[name]


def usage() -> dict[str, tuple[int, int]]:
    """name -> (entries, bytes) of every cache."""
    return {name: (len(cache), cache.nbytes) for name, cache in CACHES.items()}


def clear_all() -> None:
    """Empty every in-memory cache (models included: the next call loads them again)."""
    for cache in CACHES.values():
        cache.clear()


def _hashable(value: Any) -> Hashable:
    """A key for arguments: dicts and lists become sorted tuples (so options dicts can key a cache)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def memoized(name: str, max_items: int, default_mb: int = 256) -> Callable[[Callable], Callable]:
    """A decorator: the function's answers kept in the named cache, keyed by its arguments (which must be values:
    text, names, numbers, options dicts, Limits), at most `max_items` of them and $ATTENTION_LENS_<NAME>_CACHE_MB
    megabytes (counted by their `nbytes` where they have one). The answer is shared, not copied: callers only read it."""
    def wrap(function: Callable) -> Callable:
        cache = memory_cache(name, lambda value: int(getattr(value, "nbytes", 0) or 0),
                             f"ATTENTION_LENS_{name.upper().replace('-', '_')}_CACHE_MB", default_mb, max_items)

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            return cache.memo((_hashable(args), _hashable(kwargs)), lambda: function(*args, **kwargs))

        call.cache = cache
        return call
    return wrap
