"""Models load once per worker process, however many threads and DoFn instances it runs."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.runner import runner_args, worker_pool
from transforms.shared_models import load_shared


class _Model:
    def __init__(self, log: str) -> None:
        with open(log, "a") as f:
            f.write(f"load {os.getpid()}\n")
        time.sleep(0.2)  # a slow load: concurrent first callers must wait, not load again


class ProbeFn(beam.DoFn):
    """Stands for a stage with a model: loads it through ``load_shared`` in ``setup``."""

    def __init__(self, log: str) -> None:
        self.log = log

    def setup(self) -> None:
        with open(self.log, "a") as f:
            f.write(f"instance {os.getpid()} {threading.get_ident()}\n")
        self.model = load_shared(f"probe:{self.log}", lambda: _Model(self.log))

    def process(self, element: int):
        time.sleep(0.02)
        yield os.getpid(), id(self.model)


def test_threads_and_instances_in_one_process_share_one_load(tmp_path):
    log = str(tmp_path / "log")
    models = []

    def worker() -> None:
        fn = ProbeFn(log)
        fn.setup()
        models.append(fn.model)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = Path(log).read_text().splitlines()
    assert sum(line.startswith("load") for line in lines) == 1
    assert sum(line.startswith("instance") for line in lines) == 6
    assert len({id(m) for m in models}) == 1


def test_segment_stages_in_one_process_hold_one_whisper():
    from transforms.segment import SegmentStage

    a = SegmentStage(whisper_model="bundled:tiny.en", transcribe_missing=True)
    b = SegmentStage(whisper_model="bundled:tiny.en", transcribe_missing=True)
    a.setup()
    b.setup()
    assert a.model is b.model


@pytest.mark.slow
def test_portable_runner_workers_load_once_per_process(tmp_path):
    log = str(tmp_path / "log")
    with worker_pool() as env_config:
        options = PipelineOptions(runner_args("portable", 2, [], env_config))
        with beam.Pipeline(options=options) as p:
            _ = (
                p
                | beam.Create(list(range(64)))
                | beam.Reshuffle()
                | "StageA" >> beam.ParDo(ProbeFn(log))  # two stages with a model: two DoFn instances
                | beam.MapTuple(lambda pid, _: pid)
                | "StageB" >> beam.ParDo(ProbeFn(log))
            )
    lines = Path(log).read_text().splitlines()
    loads = Counter(line.split()[1] for line in lines if line.startswith("load"))
    instances = Counter(line.split()[1] for line in lines if line.startswith("instance"))
    assert loads and set(loads.values()) == {1}, loads  # one load per worker process
    assert set(instances) == set(loads) and max(instances.values()) >= 2  # instances shared a load
