"""A storage fault injector for the reliability tests: a seeded share of storage calls fails.

Every call to the store goes through ``transforms.storage._call`` (one attempt of one operation:
exists, size, list, open, read, create, write, rename, delete); :class:`FaultyStorage` replaces it
with one that raises a transient ``OSError`` for a seeded fraction of the attempts. Whether an
attempt fails depends only on the seed, the operation, the path (temporary names' unique parts
taken out) and how many times that operation on that path was attempted before: the same faults
in every run, whichever thread makes the call.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from typing import Any

from transforms import storage

_UNIQUE = re.compile(r"\.tmp-[0-9a-zA-Z-]+")


class InjectedFault(OSError):
    """A transient storage fault the test injected (retried like a dropped connection)."""


class FaultyStorage:
    """Fail ``rate`` of the attempts of the operations in ``ops`` (all when None)."""

    def __init__(self, rate: float, seed: int = 0, ops: tuple[str, ...] | None = None) -> None:
        self.rate, self.seed, self.ops = rate, seed, ops
        self.calls: Counter = Counter()
        self.injected: Counter = Counter()
        self._seen: Counter = Counter()
        self._lock = threading.Lock()
        self._real = storage._call

    def __call__(self, what: str, path: str, fn: Any) -> Any:
        name = _UNIQUE.sub(".tmp-*", path)
        with self._lock:
            self.calls[what] += 1
            nth = self._seen[(what, name)]
            self._seen[(what, name)] += 1
        if self.ops is None or what in self.ops:
            digest = hashlib.sha256(f"{self.seed}|{what}|{name}|{nth}".encode()).digest()
            if int.from_bytes(digest[:8], "big") / 2**64 < self.rate:
                with self._lock:
                    self.injected[what] += 1
                raise InjectedFault(f"injected {what} fault on {name}")
        return self._real(what, path, fn)

    def install(self, monkeypatch: Any, base_s: float = 0.0) -> FaultyStorage:
        """Patch ``storage._call`` (and a fast retry policy) for the test's duration."""
        monkeypatch.setattr(storage, "_call", self)
        monkeypatch.setattr(storage, "_policy", storage.StorageSettings(retries=6, retry_base_s=base_s))
        return self
