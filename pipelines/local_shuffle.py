"""Bounded bundles on the local runner, as a cluster's runner gives them.

Beam's FnApiRunner (behind ``DirectRunner`` and the embedded job service of ``PortableRunner``)
runs each stage as **one bundle per worker**, holding that worker's whole share of the stage's
input, and sends that input over before the bundle starts (``fn_runner.BundleManager``: inputs
first, then the ``process_bundle`` request). A grouped input is even one byte string per worker
(``execution.GroupingBuffer.partition``). A worker therefore holds its whole share of every stage
at once, however small each element or group is: on ``bench/plan_scale.py`` (2 worker processes)
a worker's peak RSS followed the input, ~0.45 GB at 200 k items, ~1 GB at 1 M, 2.4 GB at 5 M,
although no step holds more than one shard's ~512 records. The launcher holds every shuffle too;
that part is the local runner's shuffle service (Dataflow's and Flink's live outside the workers).

Dataflow and Flink give workers bounded bundles and read a group's values in bounded chunks.
:func:`transforms.internals.bound_local_bundles` makes this process's FnApiRunner do the same
(it patches Beam's internals, so it lives with the other private-API uses, checked against the
installed Beam): a worker's share of a stage goes in bundles of about ``max_bytes`` of encoded
input, one after another on that worker, and grouped data is cut at group boundaries into pieces
of at most ``max_bytes``. The elements, groups, their order and which worker gets them are
unchanged; only how many go in one bundle. :func:`prepare_local_workers` applies it, with glibc
settings, to ``clara shards`` on the DirectRunner with worker processes (more than 4 workers);
threads share the launcher's memory.
"""

from __future__ import annotations

import os
from typing import Any

from transforms import internals

ALLOCATOR = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "262144", "MALLOC_TRIM_THRESHOLD_": "262144"}
"""glibc settings for local worker processes (inherited from the launcher's environment): freed
data-plane buffers go back to the system instead of staying in per-thread arenas (a worker held
~1 GB at 1 M planned items without them, bounded bundles or not)."""


def prepare_local_workers(options: Any) -> bool:
    """For a DirectRunner with worker processes: bounded bundles, and :data:`ALLOCATOR` in the
    environment the workers inherit (a value already set wins). With worker threads: their output
    flushed between elements only (:func:`transforms.internals.element_aligned_flushes`; Beam's
    timer flush splits elements and corrupts grouped data). Other runners: nothing.
    Returns whether it applied."""
    values = options.get_all_options()
    if values.get("runner") == "DirectRunner" and values.get("direct_running_mode") == "multi_threading":
        return internals.element_aligned_flushes()
    if values.get("runner") != "DirectRunner" or values.get("direct_running_mode") != "multi_processing":
        return False
    for name, value in ALLOCATOR.items():
        os.environ.setdefault(name, value)
    return internals.bound_local_bundles()
