"""Bounded bundles on the local runner (transforms/internals.py, applied by pipelines/local_shuffle.py):
what bench/plan_scale.py relies on for flat worker memory. Beam's FnApiRunner gives each worker its
whole share of a stage in one bundle (a grouped share as one byte string); with the patch a bundle
holds about ``max_bytes`` of input, and the results are the same."""

from __future__ import annotations

import os
import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipelines import local_shuffle
from transforms import internals

GROUPS = 400
VALUE = "x" * 200  # ~1 KB a group: 4 values
SEEN: list[int] = []
LOCK = threading.Lock()


class CountPerBundle(beam.DoFn):
    """Records how many groups each bundle brought (threads of this process: a shared list)."""

    def start_bundle(self) -> None:
        self.count = 0

    def process(self, kv):
        self.count += 1
        yield kv[0], sorted(kv[1])

    def finish_bundle(self) -> None:
        if self.count:
            with LOCK:
                SEEN.append(self.count)


def _run() -> list[int]:
    SEEN.clear()
    options = PipelineOptions(["--direct_running_mode=multi_threading", "--direct_num_workers=2"])
    with beam.Pipeline("DirectRunner", options=options) as p:
        grouped = (
            p
            | beam.Create([(f"k{i % GROUPS:04d}", f"{VALUE}{i}") for i in range(GROUPS * 4)])
            | beam.GroupByKey()
            | beam.ParDo(CountPerBundle())
        )
        expected = [(f"k{g:04d}", sorted(f"{VALUE}{g + GROUPS * j}" for j in range(4))) for g in range(GROUPS)]
        assert_that(grouped, equal_to(expected))
    return list(SEEN)


@pytest.fixture
def bounded():
    assert internals.bound_local_bundles(16 << 10)
    yield
    internals.restore_local_bundles()


def test_beam_alone_gives_a_worker_its_whole_share_in_one_bundle():
    internals.restore_local_bundles()
    seen = _run()
    assert sum(seen) == GROUPS and max(seen) >= GROUPS // 2  # one bundle per worker: the memory grew with the input


def test_bounded_bundles_hold_about_max_bytes_and_give_the_same_groups(bounded):
    seen = _run()  # the same groups and values (assert_that inside)
    assert sum(seen) == GROUPS
    assert len(seen) > 10
    assert max(seen) <= 20  # ~16 KB of ~1 KB groups a bundle (a piece closes once it passes the bound)


def test_sub_bundles_keep_the_order_and_name_every_input():
    part = {"a": [b"1" * 10, b"2" * 10, b"3" * 30], "b": [b"4" * 5]}
    bundles = internals.sub_bundles(part, 20)
    assert [b"".join(c for name in ("a", "b") for c in bundle[name]) for bundle in bundles] == [
        b"1" * 10 + b"2" * 10,
        b"3" * 30,
        b"4" * 5,
    ]
    assert all(set(bundle) == {"a", "b"} for bundle in bundles)
    assert internals.sub_bundles({"a": []}, 20) == [{"a": []}]


def test_local_worker_processes_get_bounded_bundles_and_the_allocator_settings(monkeypatch):
    from pipelines.runner import runner_args

    for name in local_shuffle.ALLOCATOR:  # set then removed: monkeypatch puts the original state back after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    internals.restore_local_bundles()
    threads = PipelineOptions(runner_args("direct", 2, []))
    try:
        # threads: no bounded bundles, no allocator settings, only element-aligned flushes
        assert local_shuffle.prepare_local_workers(threads)
        assert not any(name in os.environ for name in local_shuffle.ALLOCATOR)
        assert not internals.local_bundles_bound()
        # processes, in a process whose threaded runs came first: bounded bundles all the same
        processes = PipelineOptions(runner_args("direct", 8, []))
        assert local_shuffle.prepare_local_workers(processes)
        assert all(os.environ[name] == value for name, value in local_shuffle.ALLOCATOR.items())
        assert internals.local_bundles_bound()
    finally:
        internals.restore_local_bundles()
        internals.restore_element_flushes()
