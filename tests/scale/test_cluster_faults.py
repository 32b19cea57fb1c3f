"""A build under a real cluster's semantics: storage calls that fail transiently, on a local disk
and on S3 (moto). A seeded 2 % of every storage call (exists, size, list, open, read, create,
write, rename, delete) fails; the build retries them, exits 0, lands every item, and its tars are
byte-identical to a fault-free build's. A fault that outlasts the retry budget makes a
``storage_error`` failure, and a listing that keeps failing stops the run instead of building an
empty corpus."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines import commit
from pipelines.cli import main
from pipelines.validate import main as validate
from tests.scale.faults import FaultyStorage
from transforms import storage

ITEMS = 200
FAST = ["--storage-retry-base-s", "0.001", "--storage-retry-max-s", "0.01", "--workers", "2", "--shard-size", "20"]


def _clip(i: int) -> bytes:
    t = np.arange(int(16000 * 0.3)) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * (200 + 7 * i) * t)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for i in range(ITEMS):
        (folder / f"clip{i:04d}.wav").write_bytes(_clip(i))
    return folder


@pytest.fixture(scope="module")
def clean(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The tars of a fault-free build of the clips (the same bytes on every store)."""
    out = str(tmp_path_factory.mktemp("clean"))
    assert _build(str(clips), out, "clean") == 0
    tars = _tars(storage.join(out, "clean"))
    assert len(tars) >= 8
    return tars


def _build(input_: str, output: str, name: str, *more: str) -> int:
    return main(["shards", "--source", "folder", "--input", input_, "--output", output, "--name", name, *FAST, *more])


def _card(path: str) -> dict:
    return json.loads(storage.read_bytes(storage.join(path, "dataset_card.json")))


def _tars(root: str) -> dict[str, bytes]:
    return {
        path[len(root) :]: storage.read_bytes(path) for split in ("train", "valid", "test")
        for path in storage.list_files(storage.join(root, split, "*.tar"))
    }  # fmt: skip


def _assert_faulty_build_matches_clean(
    input_: str,
    out: str,
    clean: dict,
    monkeypatch: pytest.MonkeyPatch,
    faults: FaultyStorage,
    flags=(),
) -> None:
    faults.install(monkeypatch)
    assert _build(input_, out, "faulty", *flags) == 0
    monkeypatch.setattr(storage, "_call", faults._real)
    assert _tars(storage.join(out, "faulty")) == clean  # byte-identical shards
    totals = _card(storage.join(out, "faulty"))["totals"]
    assert totals["items_in"] == ITEMS == totals["items_ok"] + totals["items_failed"] and totals["reconciled"]
    assert totals["items_ok"] == ITEMS  # every fault was retried away: no item lost to one
    for what, calls in faults.calls.items():  # every kind of call made often enough met faults
        hit = faults.ops is None or what in faults.ops
        assert calls < 300 or not hit or faults.injected[what] > 0, (what, dict(faults.injected), dict(faults.calls))
    assert sum(faults.injected.values()) >= 5
    assert validate([storage.join(out, "faulty"), "--no-audio", *flags]) == 0
    faulty_root = storage.join(out, "faulty")
    assert not [p for pattern in commit.TEMP_PATTERNS for p in storage.list_files(storage.join(faulty_root, pattern))]
    print(f"faults injected {dict(faults.injected)} of calls {dict(faults.calls)}")


@pytest.mark.slow
def test_a_local_build_with_two_percent_of_storage_calls_failing(
    clips: Path, clean: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = FaultyStorage(0.02, seed=7)
    _assert_faulty_build_matches_clean(str(clips), str(tmp_path / "out"), clean, monkeypatch, faults)


def test_a_local_build_whose_writes_renames_and_deletes_fail_one_time_in_five(
    clips: Path, clean: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = FaultyStorage(0.2, seed=3, ops=("create", "write", "rename", "delete"))
    _assert_faulty_build_matches_clean(str(clips), str(tmp_path / "out"), clean, monkeypatch, faults)
    assert min(faults.injected[op] for op in ("create", "write", "rename")) > 0


@pytest.mark.slow
def test_an_s3_build_with_two_percent_of_storage_calls_failing(clips: Path, clean: dict, s3, monkeypatch) -> None:
    client, flags = s3
    for path in sorted(clips.iterdir()):
        client.put_object(Bucket="corpus", Key=f"in/{path.name}", Body=path.read_bytes())
    storage.configure(flags)
    faults = FaultyStorage(0.02, seed=7)
    _assert_faulty_build_matches_clean("s3://corpus/in", "s3://corpus/out", clean, monkeypatch, faults, flags)
    assert faults.injected["list"] + faults.injected["read"] > 0


def test_a_read_that_outlasts_the_budget_is_a_storage_error_failure_not_a_missing_file(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"clip{i:04d}.wav").write_bytes((clips / f"clip{i:04d}.wav").read_bytes())
    real = storage._call

    def down_for_one(what, path, fn):
        if what == "read" and path.endswith("clip0002.wav"):
            raise ConnectionResetError("connection reset by peer")
        return real(what, path, fn)

    monkeypatch.setattr(storage, "_call", down_for_one)
    assert _build(str(folder), str(tmp_path / "out"), "c", "--storage-retries", "2") == 0
    failures = [
        json.loads(line) for p in (tmp_path / "out" / "c" / "failures").glob("*.jsonl") for line in p.read_text().splitlines()
    ]  # fmt: skip
    assert [(f["key"], f["reason"]) for f in failures] == [("folder-clip0002", "storage_error")]
    assert "still failing after 2 retries" in failures[0]["detail"]
    assert _card(str(tmp_path / "out" / "c"))["totals"]["items_ok"] == 3


def test_a_listing_that_keeps_failing_stops_the_run_with_a_clear_message(s3, monkeypatch, capsys) -> None:
    client, flags = s3
    client.put_object(Bucket="corpus", Key="in/clip0000.wav", Body=_clip(0))
    storage.configure(flags)
    FaultyStorage(1.0, seed=1, ops=("list",)).install(monkeypatch)
    assert _build("s3://corpus/in", "s3://corpus/out", "c", *flags) != 0
    err = capsys.readouterr().err
    assert "clara shards: error: list s3://corpus/in/**: " in err and "still failing after 6 retries" in err
    assert "Contents" not in client.list_objects_v2(Bucket="corpus", Prefix="out/c/train/")  # no empty corpus


@pytest.fixture
def three(clips: Path, tmp_path: Path, s3) -> tuple[dict, list[str]]:
    """Three clips in the bucket (in/) and the tars of a fault-free local build of them."""
    client, flags = s3
    folder = tmp_path / "three"
    folder.mkdir()
    for i in range(3):
        data = (clips / f"clip{i:04d}.wav").read_bytes()
        (folder / f"clip{i:04d}.wav").write_bytes(data)
        client.put_object(Bucket="corpus", Key=f"in/clip{i:04d}.wav", Body=data)
    assert _build(str(folder), str(tmp_path / "clean"), "c") == 0
    storage.configure(flags)
    return _tars(str(tmp_path / "clean" / "c")), flags


def test_an_upload_that_breaks_midway_is_written_again_with_the_same_bytes(three, monkeypatch) -> None:
    from pipelines.tar_writer import TarShardWriter

    clean, flags = three
    real, broken = TarShardWriter.add, []

    def add(self, key, flac, meta):  # the store drops the upload once, mid-stream
        if not broken and key.startswith("folder-clip0001"):
            broken.append(key)
            raise ConnectionResetError("upload connection reset")
        return real(self, key, flac, meta)

    monkeypatch.setattr(TarShardWriter, "add", add)
    assert _build("s3://corpus/in", "s3://corpus/out", "c", *flags) == 0
    assert broken and _tars("s3://corpus/out/c") == clean


def test_an_upload_that_keeps_breaking_makes_storage_error_failures(three, monkeypatch) -> None:
    from pipelines.tar_writer import TarShardWriter

    _, flags = three

    def add(self, key, flac, meta):
        raise ConnectionResetError("upload connection reset")

    monkeypatch.setattr(TarShardWriter, "add", add)
    assert _build("s3://corpus/in", "s3://corpus/out", "c", *flags) == 0  # every item accounted for
    lines = storage.read_text("s3://corpus/out/c/failures/pipeline.jsonl").splitlines()
    failures = [json.loads(line) for line in lines]
    assert sorted((f["key"], f["reason"]) for f in failures) == [
        (f"folder-clip000{i}", "storage_error") for i in range(3)
    ]
    assert "built twice" in failures[0]["detail"]
