"""--retry-failures: only the failed items are built again, into new shards; both runs reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from pipelines.validate import Report, validate_dataset
from tests.conftest import FilesSource
from tests.core.test_pipeline import failure_records, run
from tests.quality_dedup.conftest import recording


def card_of(out: Path) -> dict:
    return json.loads((out / "dataset_card.json").read_text())


def three_files_one_missing(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip{i}.wav" for i in range(3)]
    for i, path in enumerate(paths[:2]):
        sf.write(path, recording(50 + i), 44_100)
    return paths  # clip2.wav appears later: a transient storage failure


def test_an_item_that_failed_lands_on_retry_in_a_new_shard_and_the_corpus_reconciles(tmp_path):
    paths = three_files_one_missing(tmp_path / "in")
    out = tmp_path / "out"
    run(FilesSource(paths), out)
    assert [r["reason"] for r in failure_records(out)] == ["missing_file"]
    assert card_of(out)["totals"]["samples"] == 2

    sf.write(paths[2], recording(52), 44_100)
    run(FilesSource(paths), out, retry_failures=True)

    sizes = json.loads((out / "train" / "sizes.json").read_text())
    assert sizes == {"000000.tar": 2, "000001.tar": 1}
    totals = card_of(out)["totals"]
    assert (totals["items_in"], totals["items_ok"], totals["items_failed"], totals["reconciled"]) == (3, 3, 0, True)
    assert card_of(out)["retries"] == [
        {"run": 1, "shards": ["train/000001"], "retried": 1, "recovered": 1, "failed_again": 0}
    ]
    assert failure_records(out) == []
    resolved = (out / "failures" / "resolved" / "train-000000.jsonl").read_text()
    assert json.loads(resolved)["key"] == "files-clip2"
    report = Report()
    validate_dataset(str(out), report)
    assert report.problems == []


def test_an_item_that_fails_again_stays_recorded_and_a_second_retry_takes_it_up(tmp_path):
    paths = three_files_one_missing(tmp_path / "in")
    out = tmp_path / "out"
    run(FilesSource(paths), out)
    run(FilesSource(paths), out, retry_failures=True)

    assert [(r["key"], r["reason"]) for r in failure_records(out)] == [("files-clip2", "missing_file")]
    assert sorted(p.name for p in (out / "failures").glob("*.jsonl")) == ["train-000001.jsonl"]
    card = card_of(out)
    assert card["retries"][0]["failed_again"] == 1
    assert (card["totals"]["items_in"], card["totals"]["items_failed"], card["totals"]["reconciled"]) == (3, 1, True)

    sf.write(paths[2], recording(52), 44_100)
    run(FilesSource(paths), out, retry_failures=True)
    card = card_of(out)
    assert json.loads((out / "train" / "sizes.json").read_text()) == {"000000.tar": 2, "000001.tar": 0, "000002.tar": 1}
    assert [r["recovered"] for r in card["retries"]] == [0, 1]
    assert (card["totals"]["items_in"], card["totals"]["items_ok"], card["totals"]["reconciled"]) == (3, 3, True)


def test_errors_are_retried_but_decisions_and_items_with_samples_are_not():
    from pipelines.retry import retryable

    item = {"key": "a", "source_key": "a"}
    assert retryable({**item, "stage": "decode", "reason": "missing_file"})
    assert retryable({**item, "stage": "write", "reason": "shard_error"})
    assert retryable({**item, "stage": "quality", "reason": "stage_error"})
    assert not retryable({**item, "stage": "dedupe", "reason": "duplicate_audio"})
    assert not retryable({**item, "stage": "quality", "reason": "too_quiet"})
    assert not retryable({**item, "stage": "attributes", "reason": "too_reverberant"})  # a threshold: decided
    assert retryable({**item, "stage": "attributes", "reason": "error"})  # its code raised: an error
    assert not retryable({**item, "stage": "plan", "reason": "duplicate_key"})
    segment = {"key": "a_001_0", "source_key": "a", "stage": "augment", "reason": "stage_error"}
    assert retryable({**segment, "item_written": False})
    assert not retryable({**segment, "item_written": True})
    assert not retryable(segment)  # a build that did not say whether the item has samples


def test_the_stages_whose_drops_are_decisions_are_the_plan_the_screen_and_the_specs_that_say_so():
    from pipelines import dedupe, plan
    from pipelines.retry import DECISION_STAGES
    from pipelines.stages import STAGES

    deciding = [spec.name for spec in STAGES if spec.decides]
    assert deciding == ["quality", "attributes"]  # the two screens whose thresholds are data (filters)
    assert set(DECISION_STAGES) == {plan.STAGE, dedupe.STAGE, *deciding}  # every name is a real stage


def test_a_shards_failures_say_whether_a_failed_segments_item_has_samples(tmp_path):
    from pipelines.sink import write_failures
    from schemas import Failure

    path = tmp_path / "train-000000.jsonl"
    failures = [
        Failure(key="a_001_0", source="t", stage="augment", reason="stage_error", source_key="a"),
        Failure(key="b_000_0", source="t", stage="augment", reason="stage_error", source_key="b"),
        Failure(key="c", source="t", stage="decode", reason="missing_file"),
    ]
    write_failures(str(path), failures, written_items={"a"})
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("item_written") for r in records] == [True, False, None]
