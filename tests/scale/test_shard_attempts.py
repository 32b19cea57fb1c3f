"""Duplicated work, as a cluster runs it: two attempts at one shard at once (a retried bundle, a
zombie worker), in threads and in processes, one of them killed at a seeded random point; and a
reader polling the folder while shards are written. The shard that results is committed by a
marker naming its bytes, and those bytes are a lone attempt's."""

from __future__ import annotations

import io
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines import commit
from transforms import storage

ROOT = Path(__file__).resolve().parents[2]
CLIPS = 24


def _write_clips(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(CLIPS):
        t = np.arange(int(16000 * 0.4)) / 16000
        buffer = io.BytesIO()
        sf.write(buffer, (0.3 * np.sin(2 * np.pi * (150 + 11 * i) * t)).astype(np.float32), 16000, format="WAV")
        (folder / f"clip{i:04d}.wav").write_bytes(buffer.getvalue())


def shard_attempt(folder: str, out: str, pieces: int, run_id: str | None = None) -> None:
    """One attempt at shard train/000000 of the clips: its pieces built, joined when more than one,
    committed (what BuildShards does for the shard, outside Beam); its temporaries carry ``run_id``."""
    import apache_beam as beam

    if run_id:
        storage.set_run_id(run_id)

    from pipelines.options import config_from, output_shaping
    from pipelines.plan import ShardRef, shard_fingerprint
    from pipelines.shard_step import BuildShardFn, JoinPiecesFn, Piece, even_runs
    from pipelines.sources.base import SourceSettings, make_source

    items = sorted(make_source("folder", SourceSettings(input=folder)).items(), key=lambda it: it.key)
    config = config_from({"split_fractions": (1.0, 0.0, 0.0), "workers": 1})
    fingerprint = shard_fingerprint(items, output_shaping(config))
    key = ("train", 0, 1)
    build = BuildShardFn(out, config)
    build.setup()
    built = []
    for index, (start, stop) in enumerate(even_runs(len(items), pieces)):
        piece = Piece(index, pieces, tuple(items[start:stop]), len(items), fingerprint)
        for output in build.process((key, piece)):
            built.append(output.value[1] if isinstance(output, beam.pvalue.TaggedOutput) else output)
    if pieces > 1:
        join = JoinPiecesFn(out)
        join.setup()
        list(join.process((key, built)))
    build.teardown()
    assert ShardRef("train", 0, 1).name == "000000"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips") / "in"
    _write_clips(folder)
    return folder


@pytest.fixture(scope="module")
def reference(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The tar of a lone attempt."""
    out = tmp_path_factory.mktemp("reference")
    shard_attempt(str(clips), str(out), 1)
    return (out / "train" / "000000.tar").read_bytes()


def _assert_one_valid_shard(out: Path | str, reference: bytes) -> None:
    from pipelines.validate import Report, validate_tar

    tar = storage.join(str(out), "train", "000000.tar")
    assert storage.read_bytes(tar) == reference
    stats = commit.verified(tar)
    assert stats is not None and stats.samples == CLIPS
    report = Report()
    assert validate_tar(str(tar), "train", report) == CLIPS and report.problems == []


def _race_in_threads(clips: Path, out: Path | str, pieces: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two attempts in threads; the doomed one dies at a seeded random storage call of its own."""
    real = storage._call
    doomed = threading.local()
    calls = [0]
    crash_at = random.Random(seed).randrange(1, 12 * pieces)

    def crashing(what, path, fn):
        if getattr(doomed, "yes", False):
            calls[0] += 1
            if calls[0] == crash_at:
                raise KeyboardInterrupt(f"attempt killed at storage call {crash_at} ({what})")
        return real(what, path, fn)

    monkeypatch.setattr(storage, "_call", crashing)
    errors: list[BaseException] = []

    def attempt(dies: bool) -> None:
        doomed.yes = dies
        try:
            shard_attempt(str(clips), str(out), pieces)
        except BaseException as exc:  # the doomed attempt's death
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(dies,)) for dies in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(storage, "_call", real)
    assert all(isinstance(e, KeyboardInterrupt) for e in errors), errors


@pytest.mark.parametrize("pieces", [1, 3])
def test_two_attempts_in_threads_one_crashing_at_a_random_call_leave_one_valid_shard(
    clips: Path, reference: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces: int
) -> None:
    for seed in range(3):
        out = tmp_path / f"{pieces}-{seed}"
        _race_in_threads(clips, out, pieces, seed, monkeypatch)
        _assert_one_valid_shard(out, reference)


def test_two_attempts_in_threads_on_s3_leave_one_valid_shard(clips: Path, reference: bytes, s3, monkeypatch) -> None:
    client, flags = s3
    storage.configure(flags)
    for pieces, seed in ((1, 0), (3, 1)):
        out = f"s3://corpus/attempts-{pieces}"
        _race_in_threads(clips, out, pieces, seed, monkeypatch)
        _assert_one_valid_shard(out, reference)
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="corpus", Prefix=f"attempts-{pieces}/")["Contents"]]
        assert f"attempts-{pieces}/train/000000.tar" in keys


@pytest.mark.slow
@pytest.mark.parametrize("pieces", [1, 3])
def test_two_attempts_in_processes_one_killed_at_a_random_moment_leave_one_valid_shard(
    clips: Path, reference: bytes, tmp_path: Path, pieces: int
) -> None:
    code = "import sys; from tests.scale.test_shard_attempts import shard_attempt as a; a(*sys.argv[1:3], int(sys.argv[3]), sys.argv[4])"
    killed = []
    for seed in range(2):
        out = tmp_path / f"{pieces}-{seed}"
        doomed, survivor = (
            subprocess.Popen([sys.executable, "-c", code, str(clips), str(out), str(pieces), name], cwd=ROOT, stderr=subprocess.PIPE)
            for name in ("doomed", "survivor")
        )  # fmt: skip
        deadline = time.monotonic() + 120  # the doomed attempt has begun writing: kill it while it writes or commits
        while not list(out.glob("train/.*.tmp-doomed-*")) and doomed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(random.Random(seed).uniform(0.0, 0.4))
        doomed.send_signal(signal.SIGKILL)
        killed.append(doomed.wait() == -signal.SIGKILL)
        _, err = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, err.decode()[-2000:]
        _assert_one_valid_shard(out, reference)
        left = commit.remove_stale_temps(str(out), now=time.time() + 7 * 3600)  # the dead attempt's, once old
        assert all(".tmp-" in p for p in left)
        assert sorted(p.name for p in (out / "train").iterdir()) == ["000000.stats.json", "000000.tar"]
    assert any(killed)  # at least one attempt died mid-way rather than finishing first


def test_a_reader_polling_during_builds_never_trusts_a_tar_its_marker_does_not_name(
    clips: Path, tmp_path: Path
) -> None:
    """The reader reads a marker, then its tar's digest, then the marker again: a tar that differs
    from an unchanged marker would be a torn or foreign shard it could have trusted."""
    from pipelines.cli import main

    out = tmp_path / "out"
    stop = threading.Event()
    seen = {"committed": 0, "violations": []}

    def poll() -> None:
        while not stop.is_set():
            for marker in sorted((out / "c").glob("*/*.stats.json")):
                try:
                    before = marker.read_bytes()
                    stats = commit.read_marker(str(marker))
                    problem = stats and commit.mismatch(stats, str(marker)[: -len(commit.MARKER_SUFFIX)] + ".tar")
                    after = marker.read_bytes()
                except (OSError, ValueError):
                    continue  # withdrawn or replaced while read: the reader looks again
                if problem and before == after:
                    seen["violations"].append((marker.name, problem))
                elif stats:
                    seen["committed"] += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        common = ["shards", "--source", "folder", "--input", str(clips), "--output", str(out), "--name", "c"]
        common += ["--shard-size", "4", "--workers", "2"]
        assert main(common) == 0
        # a rebuild that changes every shard's bytes: the old markers are withdrawn first
        assert main([*common, "--overwrite", "--seed", "1", "--augment", "gain"]) == 0
    finally:
        stop.set()
        reader.join()
    assert seen["violations"] == [] and seen["committed"] > 0
