"""The commit protocol's reader and lease guarantees on S3 (moto), as tests/scale/test_commit_protocol.py
and test_shard_attempts.py check them on a local disk: a reader polling the bucket during a build
(and an --overwrite rebuild that changes every tar) never trusts a tar its marker does not name;
of builds that take the lease at once exactly one gets it (conditional puts: If-None-Match for a
new lease, If-Match on the ETag of an expired one), also when a put's answer is lost and retried;
a second ``clara shards`` into an output whose first build runs is refused before any work."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines import commit
from tests.scale.test_shard_attempts import _write_clips
from transforms import storage

pytest.importorskip("moto.server")

ROOT = Path(__file__).resolve().parents[2]
ROUNDS, RACERS = 12, 4


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips") / "in"
    _write_clips(folder)
    return folder


def _race(path: str, expired: dict | None, client) -> list[str]:
    """RACERS threads take the lease at ``path`` at once (over an expired lease when given): the winners."""
    bucket, key = path[len("s3://") :].split("/", 1)
    if expired is not None:
        client.put_object(Bucket=bucket, Key=key, Body=json.dumps(expired).encode())
    start, won, lock = threading.Barrier(RACERS), [], threading.Lock()

    def racer(run_id: str) -> None:
        lease = commit._S3Lease(path)
        start.wait()
        try:
            lease.take(run_id, lease_s=120)
        except commit.LeaseHeld:
            return
        with lock:
            won.append(run_id)

    threads = [threading.Thread(target=racer, args=(f"racer-{i}",)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_of_builds_taking_an_s3_lease_at_once_exactly_one_gets_it(s3, monkeypatch: pytest.MonkeyPatch) -> None:
    client, flags = s3
    storage.configure(flags)
    lost = {"answers": 0}
    real = storage._call

    def lose_first_answer(what, path, fn):  # the put lands, its answer does not: the retry finds it there
        result = real(what, path, fn)
        if what == "write" and path.endswith("/lost/" + commit.LEASE_NAME) and not lost["answers"]:
            lost["answers"] += 1
            raise ConnectionError("injected: the answer to a lease put was lost")
        return result

    monkeypatch.setattr(storage, "_call", lose_first_answer)
    monkeypatch.setattr(storage, "_policy", storage.StorageSettings(retry_base_s=0.001))
    dead = {"run_id": "dead", "host": "gone", "pid": 1, "heartbeat": time.time() - 3600}
    for round_ in range(ROUNDS):
        for expired in (None, dead):
            path = f"s3://corpus/r{round_}-{'over' if expired else 'new'}/{commit.LEASE_NAME}"
            won = _race(path, expired, client)
            assert len(won) == 1, (round_, expired is not None, won)
            assert commit.read_lease(path.rsplit("/", 1)[0])["run_id"] == won[0]
    # one put whose answer was lost: the retry is refused (412) and finds its own record there
    lease = commit._S3Lease(f"s3://corpus/lost/{commit.LEASE_NAME}")
    assert lease.take("lost-answer", lease_s=120) is None and lost["answers"] == 1
    assert commit.read_lease("s3://corpus/lost")["run_id"] == "lost-answer"
    with pytest.raises(commit.LeaseHeld):
        commit._S3Lease(f"s3://corpus/lost/{commit.LEASE_NAME}").take("second", lease_s=120)
    # a heartbeat after another build took the lease over is refused, and says so
    client.put_object(Bucket="corpus", Key=f"lost/{commit.LEASE_NAME}", Body=b'{"run_id": "thief"}')
    assert lease.refresh("lost-answer") is False


def test_a_reader_polling_an_s3_build_never_trusts_a_tar_its_marker_does_not_name(clips: Path, s3) -> None:
    """As the local test: read a marker, its tar's size and digest, the marker again; a tar that
    differs from an unchanged marker would be a torn or foreign shard the reader could have trusted."""
    from pipelines.cli import main

    client, flags = s3
    storage.configure(flags)
    out = "s3://corpus/out"
    stop = threading.Event()
    seen = {"committed": 0, "checks": 0, "violations": []}

    def poll() -> None:
        while not stop.is_set():
            for marker in storage.list_files(f"{out}/c/*/*.stats.json"):
                try:
                    before = storage.read_bytes(marker)
                    stats = commit.read_marker(marker)
                    problem = stats and commit.mismatch(stats, marker[: -len(commit.MARKER_SUFFIX)] + ".tar")
                    after = storage.read_bytes(marker)
                except (OSError, ValueError):
                    continue  # withdrawn or replaced while read: the reader looks again
                seen["checks"] += 1
                if problem and before == after:
                    seen["violations"].append((marker, problem))
                elif stats and not problem:
                    seen["committed"] += 1

    died: list[BaseException] = []

    def guarded() -> None:
        try:
            poll()
        except BaseException as exc:  # the reader must outlive the build, or it proves nothing
            died.append(exc)

    reader = threading.Thread(target=guarded)
    reader.start()
    try:
        common = ["shards", "--source", "folder", "--input", str(clips), "--output", out, "--name", "c", *flags]
        common += ["--shard-size", "4", "--workers", "2"]
        assert main(common) == 0
        # a rebuild that changes every shard's bytes: the old markers are withdrawn first
        assert main([*common, "--overwrite", "--seed", "1", "--augment", "gain"]) == 0
    finally:
        stop.set()
        reader.join()
    print(
        f"reader on S3: {seen['checks']} marker checks, {seen['committed']} committed, violations {seen['violations']}"
    )
    assert not died, died
    assert seen["violations"] == [] and seen["committed"] > 0


def test_a_second_clara_shards_into_the_same_s3_output_while_the_first_runs_is_refused(
    clips: Path, s3, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main
    from pipelines.validate import main as validate

    client, flags = s3
    storage.configure(flags)
    args = ["shards", "--source", "folder", "--input", str(clips), "--output", "s3://corpus/out", "--name", "c"]
    args += ["--shard-size", "4", "--workers", "1", *flags]
    first = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while commit.read_lease("s3://corpus/out/c") is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    held = commit.read_lease("s3://corpus/out/c")
    assert held is not None, first.communicate()[1][-2000:]
    assert main(args) == 2  # refused, before any work
    err = capsys.readouterr().err
    assert f"s3://corpus/out/c is being built by run {held['run_id']}" in err
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="corpus", Prefix="out/c/")["Contents"]]
    assert f"out/c/{commit.LEASE_NAME}" not in keys and not any(".tmp-" in k for k in keys)
    assert validate(["s3://corpus/out/c", "--no-audio", *flags]) == 0
    assert main(args) == 0  # the lease released: the next build runs (and skips what is committed)
