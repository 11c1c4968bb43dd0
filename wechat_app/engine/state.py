"""Follow-up conversation state: a small store interface, so the engine stays free of Django.

The engine keeps, per account and user, which rule is waiting for the user's next message
(webot's ``info.wait`` / ``replies``), how many re-asks are left and the question to re-ask.
The Django layer stores it in the cache (``services.rules.CacheStateStore``); tests and scripts
use ``MemoryStateStore``.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Protocol


class StateStore(Protocol):
    """Key/value storage with expiry. Values are small JSON-compatible dicts."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any], ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryStateStore:
    """An in-process ``StateStore`` with a replaceable clock (for tests and the benchmark)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._data: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, key):
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if self.clock() >= expires:
            del self._data[key]
            return None
        return dict(value)

    def set(self, key, value, ttl):
        self._data[key] = (self.clock() + ttl, dict(value))

    def delete(self, key):
        self._data.pop(key, None)

    def __len__(self):
        return len(self._data)
