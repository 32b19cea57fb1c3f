"""The Beam shard build end to end: bad inputs, determinism, resume, dead letters."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.build_shards import build_pipeline
from pipelines.options import config_from
from pipelines.sources.base import SourceSettings
from pipelines.sources.demo import DemoSource
from pipelines.stages import STAGES
from pipelines.validate import Report, validate_dataset
from tests.conftest import FilesSource

SETTINGS = {"split_fractions": (1.0, 0.0, 0.0), "shard_size": 512, "batch_items": 4, "source": "test"}


def run(source, out: Path, **overrides):
    config = config_from({**SETTINGS, **overrides})
    pipeline = TestPipeline(options=beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner"]))
    stats, failures = build_pipeline(pipeline, source.expand(pipeline), str(out), "t", config)
    result = pipeline.run()
    result.wait_until_finish()
    return pipeline, stats, failures, result


def counter(result, name: str) -> int:
    found = result.metrics().query(beam.metrics.MetricsFilter().with_name(name))["counters"]
    return sum(c.committed for c in found)


def failure_records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "failures").glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_bad_inputs_go_to_failures_with_reasons_and_good_ones_land(tmp_path, bad_and_good_files):
    out = tmp_path / "out"
    source = FilesSource(sorted(bad_and_good_files.values()))
    pipeline = TestPipeline()
    stats, other = build_pipeline(pipeline, source.expand(pipeline), str(out), "t", config_from(SETTINGS))
    assert_that(
        stats | beam.Map(lambda s: (s.items_in, s.items_ok, s.items_failed, s.samples)), equal_to([(7, 3, 4, 3)])
    )
    assert_that(other, equal_to([]), label="no failures outside shards")
    pipeline.run().wait_until_finish()

    reasons = {r["key"].split("-", 1)[1]: r["reason"] for r in failure_records(out)}
    assert reasons == {
        "empty": "empty_file",
        "truncated": "not_audio",
        "not_audio": "not_audio",
        "missing": "missing_file",
    }
    card = json.loads((out / "dataset_card.json").read_text())
    assert card["totals"]["reconciled"] and card["totals"]["items_in"] == 7 and card["totals"]["samples"] == 3
    report = Report()
    validate_dataset(str(out), report)
    assert report.problems == [] and report.samples == 3


def test_same_input_and_seed_give_byte_identical_shards(tmp_path):
    source = DemoSource(SourceSettings(language="en", seed=3, options={"items": "6"}))
    run(source, tmp_path / "a")
    run(source, tmp_path / "b")
    tars_a = sorted((tmp_path / "a").rglob("*.tar"))
    assert tars_a, "no shard written"
    for tar in tars_a:
        assert tar.read_bytes() == (tmp_path / "b" / tar.relative_to(tmp_path / "a")).read_bytes()
    assert (tmp_path / "a" / "dataset_card.json").read_text() == (tmp_path / "b" / "dataset_card.json").read_text()


def test_rerun_skips_committed_shards_and_overwrite_rebuilds(tmp_path, bad_and_good_files):
    out = tmp_path / "out"
    source = FilesSource([bad_and_good_files["good_a"], bad_and_good_files["good_b"]])
    _, _, _, first = run(source, out, shard_size=1)
    assert counter(first, "shards_written") == 2
    tar = out / "train" / "000000.tar"
    stamp = tar.stat().st_mtime_ns
    _, _, _, second = run(source, out, shard_size=1)
    assert counter(second, "shards_skipped") == 2 and counter(second, "shards_written") == 0
    assert tar.stat().st_mtime_ns == stamp
    # a shard without its marker is incomplete: it is rebuilt, the other is skipped
    (out / "train" / "000001.stats.json").unlink()
    _, _, _, third = run(source, out, shard_size=1)
    assert counter(third, "shards_skipped") == 1 and counter(third, "shards_written") == 1
    _, _, _, fourth = run(source, out, shard_size=1, overwrite=True)
    assert counter(fourth, "shards_written") == 2
    assert json.loads((out / "train" / "sizes.json").read_text()) == {"000000.tar": 1, "000001.tar": 1}


def test_a_shard_that_cannot_be_written_becomes_dead_letters_not_a_crash(tmp_path, bad_and_good_files):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train").write_text("a file where the split folder should be")
    source = FilesSource([bad_and_good_files["good_a"]])
    pipeline = TestPipeline()
    stats, other = build_pipeline(pipeline, source.expand(pipeline), str(out), "t", config_from(SETTINGS))
    assert_that(other | beam.Map(lambda f: (f.stage, f.reason)), equal_to([("write", "shard_error")]))
    pipeline.run().wait_until_finish()
    records = failure_records(out)
    assert [(r["key"], r["reason"]) for r in records] == [("files-good_a", "shard_error")]
    assert json.loads((out / "dataset_card.json").read_text())["totals"]["items_failed"] == 1


def test_duplicate_keys_are_failures_and_the_first_is_kept(tmp_path, bad_and_good_files):
    class Twice(FilesSource):
        def items(self):
            for item in super().items():
                yield item
                yield item.__class__(**{**item.__dict__, "uri": item.uri + ".copy"})

    out = tmp_path / "out"
    run(Twice([bad_and_good_files["good_a"]]), out)
    assert [(r["reason"], r["stage"]) for r in failure_records(out)] == [("duplicate_key", "plan")]
    assert json.loads((out / "train" / "sizes.json").read_text()) == {"000000.tar": 1}


@pytest.mark.parametrize("lang", ["fr", "de"])
def test_demo_corpus_in_other_languages_validates(tmp_path, lang):
    out = tmp_path / lang
    run(DemoSource(SourceSettings(language=lang, options={"items": "4"})), out)
    report = Report()
    validate_dataset(str(out), report)
    assert report.problems == [] and report.samples > 4  # the fourth item is a paragraph, segmented
    card = json.loads((out / "dataset_card.json").read_text())
    assert list(card["hours_by_language"]) == [lang]
    declared = {key for spec in STAGES for key in spec.writes}  # each stage's spec says what it records
    written = set()
    for path in out.rglob("*.tar"):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    written |= set(json.loads(tar.extractfile(member).read())["original_data"])
    assert "segmentation" in written and written <= declared


def test_webdataset_reads_every_sample_as_laion_loaders_expect(tmp_path):
    import io

    import soundfile as sf
    import webdataset as wds

    out = tmp_path / "out"
    run(DemoSource(SourceSettings(language="en", options={"items": "8"})), out)
    urls = sorted(str(p) for p in out.rglob("*.tar"))
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert len(samples) == sum(json.loads((out / "train" / "sizes.json").read_text()).values()) >= 8
    for sample in samples:
        meta = json.loads(sample["json"])
        audio, rate = sf.read(io.BytesIO(sample["flac"]))
        assert rate == 48_000 and audio.ndim == 1 and len(audio) / rate == pytest.approx(meta["duration_s"], abs=1e-3)
        assert sample["__key__"] == meta["key"]
        assert isinstance(meta["text"], list) and meta["text"] and isinstance(meta["tag"], list)
        assert meta["original_data"]["language"] == "en"
        assert any(c["origin"] == "transcript" for c in meta["captions"])
        assert "saying '" in meta["text"][0]


def test_a_committed_shard_whose_inputs_changed_is_rebuilt_not_reused(tmp_path, bad_and_good_files):
    out = tmp_path / "out"
    _, _, _, first = run(FilesSource([bad_and_good_files["good_a"]]), out)
    assert counter(first, "shards_written") == 1
    _, _, _, second = run(FilesSource([bad_and_good_files["good_a"], bad_and_good_files["good_b"]]), out)
    assert counter(second, "shards_skipped") == 0 and counter(second, "shards_rebuilt_stale") == 1
    assert json.loads((out / "train" / "sizes.json").read_text()) == {"000000.tar": 2}
    both = [bad_and_good_files["good_a"], bad_and_good_files["good_b"]]
    _, _, _, third = run(FilesSource(both), out, batch_items=2, workers=3)
    assert counter(third, "shards_skipped") == 1  # run-only settings changed: the shard stands
    _, _, _, fourth = run(FilesSource(both), out, max_duration_s=600.0)
    assert counter(fourth, "shards_rebuilt_stale") == 1  # a setting that shapes the bytes changed
