"""Models once per worker process, shared by every thread and DoFn instance in it.

A Dataflow or Flink SDK harness runs several threads per process, each with its own DoFn
instances; loading Whisper or CoCa in each instance's ``setup`` would hold one copy per thread.
Beam's ``Shared`` (what ``RunInference`` uses) keeps one object per process and tag, built by
the first caller while the others wait; it lives as long as some instance holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from apache_beam.utils.shared import Shared

T = TypeVar("T")

_PROCESS_MODELS = Shared()


class _Held(Generic[T]):
    """A weak-referenceable box: ``Shared`` keeps weak references, and not every model is one."""

    def __init__(self, model: T) -> None:
        self.model = model


def load_shared(tag: str, load: Callable[[], T]) -> T:
    """The model for ``tag`` in this process, loading it with ``load()`` on first use only."""
    held = _PROCESS_MODELS.acquire(lambda: _Held(load()), tag=tag)
    return held.model
