"""A storage fault injector for the reliability tests: a seeded share of storage calls fails.

Every call to the store goes through ``transforms.storage._call`` (one attempt of one operation:
exists, size, list, open, read, create, write, rename, delete); :class:`FaultyStorage` replaces it
with one that raises a transient ``OSError`` for a seeded fraction of the attempts. Whether an
attempt fails depends only on the seed, the operation, the path (temporary names' unique parts,
run ids and pytest's numbered folder taken out: :func:`stable_name`) and how many times that
operation on that path was attempted before: the same faults in every run, whichever thread makes
the call. (Before the folder was taken out, each pytest session drew other faults: a test asking
for a create fault failed about one session in fifteen.) Deletes of temporaries left by injected
faults are the exception: how many there are depends on timing.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from typing import Any

from transforms import storage

_UNIQUE = re.compile(r"\.tmp-[0-9a-zA-Z-]+")
_RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}")
_TEST_ROOT = re.compile(r"^.*?/pytest-\d+/[^/]+/")  # pytest's numbered base folder differs per session


def stable_name(path: str) -> str:
    """``path`` without what differs between two runs of the same test: temporaries' unique
    parts, run ids and pytest's numbered temporary folder."""
    return _TEST_ROOT.sub("", _RUN_ID.sub("RUN", _UNIQUE.sub(".tmp-*", path)))


class InjectedFault(OSError):
    """A transient storage fault the test injected (retried like a dropped connection)."""


class FaultyStorage:
    """Fail ``rate`` of the attempts of the operations in ``ops`` (all when None); with ``first``,
    also the first attempt of each of them (a call made only a few times then meets a fault too)."""

    def __init__(self, rate: float, seed: int = 0, ops: tuple[str, ...] | None = None, first: bool = False) -> None:
        self.rate, self.seed, self.ops, self.first = rate, seed, ops, first
        self.calls: Counter = Counter()
        self.injected: Counter = Counter()
        self._seen: Counter = Counter()
        self._lock = threading.Lock()
        self._real = storage._call

    def __call__(self, what: str, path: str, fn: Any) -> Any:
        name = stable_name(path)
        with self._lock:
            self.calls[what] += 1
            nth = self._seen[(what, name)]
            self._seen[(what, name)] += 1
        if self.ops is None or what in self.ops:
            digest = hashlib.sha256(f"{self.seed}|{what}|{name}|{nth}".encode()).digest()
            if (self.first and nth == 0) or int.from_bytes(digest[:8], "big") / 2**64 < self.rate:
                with self._lock:
                    self.injected[what] += 1
                raise InjectedFault(f"injected {what} fault on {name}")
        return self._real(what, path, fn)

    def install(self, monkeypatch: Any, base_s: float = 0.0) -> FaultyStorage:
        """Patch ``storage._call`` (and a fast retry policy) for the test's duration."""
        monkeypatch.setattr(storage, "_call", self)
        monkeypatch.setattr(storage, "_policy", storage.StorageSettings(retries=6, retry_base_s=base_s))
        return self
