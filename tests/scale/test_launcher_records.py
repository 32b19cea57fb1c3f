"""Records enumerated in the launcher travel in the job once, compressed, and arrive unchanged."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.sources.base import enumerated
from schemas import Failure, SourceItem


def _records(n: int) -> list[SourceItem | Failure]:
    items: list[SourceItem | Failure] = [
        SourceItem(key=f"folder-clip_{i:05d}", uri=f"/data/in/clip_{i:05d}.wav", dataset="folder",
                   source_id=f"clip_{i:05d}.wav", labels=("clip",), extra={"path": f"clip_{i:05d}.wav"})
        for i in range(n)
    ]  # fmt: skip
    return [*items, Failure(key="folder-bad", source="folder", stage="source", reason="unsafe_path")]


def test_launcher_records_arrive_unchanged() -> None:
    records = _records(300)
    with TestPipeline() as pipeline:
        assert_that(enumerated(pipeline, "Enumerate test", records), equal_to(records))


def test_the_job_holds_the_records_once_and_compressed() -> None:
    records = _records(2_000)
    pipeline = beam.Pipeline()
    enumerated(pipeline, "Enumerate test", records)
    size = len(pipeline.to_runner_api().SerializeToString())
    plain = len(beam.Pipeline().to_runner_api().SerializeToString())
    created = beam.Pipeline()
    _ = created | beam.Create(records, reshuffle=False)
    assert size - plain < 20_000  # 2,000 records: ~10 KB of zlib, once (beam.Create: 43 KB)
    assert size < len(created.to_runner_api().SerializeToString())  # beam.Create kept three copies
