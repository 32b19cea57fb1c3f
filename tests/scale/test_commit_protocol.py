"""The commit protocol (pipelines/commit.py): a tar is trusted only through a marker naming its size
and SHA-256; clean-up removes only provably stale temporaries; one build at a time per folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from pipelines import commit
from schemas import ShardStats
from transforms import storage


def _marker(tar: bytes, **more: object) -> bytes:
    stats = ShardStats("000000", "train", 1, 1, 0, 1, 1.0, len(tar), sha256=hashlib.sha256(tar).hexdigest())
    return json.dumps({**stats.to_dict(), **more}).encode()


def test_a_tar_is_trusted_only_when_its_marker_names_its_size_and_sha256(tmp_path: Path) -> None:
    tar, marker = tmp_path / "000000.tar", tmp_path / "000000.stats.json"
    tar.write_bytes(b"x" * 10240)
    assert commit.verified(str(tar)) is None  # no marker: unfinished
    marker.write_bytes(_marker(b"x" * 10240))
    assert commit.verified(str(tar)).sha256 == hashlib.sha256(b"x" * 10240).hexdigest()
    tar.write_bytes(b"y" * 10240)  # same size, other bytes
    assert commit.verified(str(tar)) is None
    assert "SHA-256" in commit.mismatch(commit.read_marker(str(marker)), str(tar))
    tar.write_bytes(b"x" * 512)
    assert "names 10240 bytes, the tar has 512" in commit.mismatch(commit.read_marker(str(marker)), str(tar))
    marker.write_bytes(_marker(b"x" * 512, sha256=""))  # a marker from before the protocol
    assert commit.verified(str(tar)) is None
    marker.write_bytes(b"{not json")
    assert commit.verified(str(tar)) is None


def test_clean_up_removes_this_runs_and_old_temporaries_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_run_id", "runA")
    (tmp_path / "train").mkdir()
    (tmp_path / "failures").mkdir()
    mine = tmp_path / "train" / ".000000.tar.tmp-runA-0123456789ab"
    live = tmp_path / "train" / ".000001.tar.tmp-runB-0123456789ab"
    old = tmp_path / ".dataset_card.json.tmp-runC-0123456789ab"
    old_failures = tmp_path / "failures" / ".train-000002.jsonl.tmp-0123456789ab"
    kept = tmp_path / "train" / "000000.tar"
    for path in (mine, live, old, old_failures, kept):
        path.write_bytes(b"1")
    day_ago = time.time() - 86400
    for path in (old, old_failures):
        os.utime(path, (day_ago, day_ago))
    removed = commit.remove_stale_temps(str(tmp_path))
    assert sorted(removed) == sorted(map(str, (mine, old, old_failures)))
    assert live.exists() and kept.exists() and not mine.exists() and not old.exists()


def test_a_second_build_into_the_same_folder_is_refused_while_the_first_holds_its_lease(tmp_path: Path) -> None:
    out = str(tmp_path / "corpus")
    with commit.output_lease(out, "run-one", settle_s=0) as run_id:
        assert run_id == "run-one" and storage.run_id() == "run-one"
        assert commit.read_lease(out)["run_id"] == "run-one"
        with pytest.raises(commit.LeaseHeld, match="being built by run run-one") as held:
            with commit.output_lease(out, "run-two", settle_s=0):
                pass
        assert "wait for it to finish" in str(held.value)
    assert commit.read_lease(out) is None  # released
    with commit.output_lease(out, "run-two", settle_s=0):
        assert commit.read_lease(out)["run_id"] == "run-two"


def test_an_expired_lease_of_a_dead_run_is_taken_over(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "corpus"
    out.mkdir()
    dead = {"run_id": "dead-run", "host": "h", "pid": 1, "heartbeat": time.time() - 3600}
    (out / commit.LEASE_NAME).write_text(json.dumps(dead))
    with commit.output_lease(str(out), "run-new", settle_s=0):
        assert commit.read_lease(str(out))["run_id"] == "run-new"
    assert "took over the lease of run dead-run" in capsys.readouterr().err


def test_the_lease_of_a_killed_build_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    out = tmp_path / "corpus"
    out.mkdir()
    killed = {"run_id": "killed-run", "host": socket.gethostname(), "pid": gone.pid, "heartbeat": time.time()}
    (out / commit.LEASE_NAME).write_text(json.dumps(killed))
    (out / "train").mkdir()
    (out / "train" / ".000000.tar.tmp-killed-run-0123456789ab").write_bytes(b"half a tar")
    (out / "train" / ".000001.tar.tmp-other-run-0123456789ab").write_bytes(b"a live writer's")
    with commit.output_lease(str(out), "rerun", settle_s=0):
        assert commit.read_lease(str(out))["run_id"] == "rerun"
        assert [p.name for p in (out / "train").iterdir()] == [".000001.tar.tmp-other-run-0123456789ab"]
    killed["pid"] = os.getpid()  # a live process on this host: its fresh lease holds
    (out / commit.LEASE_NAME).write_text(json.dumps(killed))
    with pytest.raises(commit.LeaseHeld):
        with commit.output_lease(str(out), "rerun", settle_s=0):
            pass


def _race_for_lease(out: Path, racers: int, wait_for_all: threading.Barrier) -> list[str]:
    """``racers`` threads take the lease of ``out`` at once (``_take``, as ``output_lease`` does): the winners."""
    start, won, lock = threading.Barrier(racers), [], threading.Lock()

    def racer(i: int) -> None:
        _RACER.index, _RACER.barrier = i, wait_for_all
        start.wait()
        try:
            commit._take(str(out), f"racer-{i}", 120.0, 0.0)
        except commit.LeaseHeld:
            return
        with lock:
            won.append(f"racer-{i}")

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


_RACER = threading.local()


def test_of_builds_taking_over_an_expired_local_lease_at_once_exactly_one_gets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four builds take over a dead run's expired lease at once, 20 times (and a folder with no
    lease, 20 times). The worst interleaving is forced: a racer that has read the expired lease
    waits (up to 0.1 s) until every racer has read it, then they act 10 ms apart. Reading and
    replacing the lease are one step under the lease lock, so one racer reads the expired lease and
    the others the winner's fresh one. (The read, delete, O_EXCL create before it let each later
    racer delete the earlier one's new lease and create its own: 4 winners in 20 of 20 rounds.)"""
    rounds, racers = 20, 4
    real_read = commit.read_lease

    def read_lease(out: str) -> dict | None:
        lease = real_read(out)
        if lease and lease.get("run_id") == "dead" and hasattr(_RACER, "barrier"):
            with contextlib.suppress(threading.BrokenBarrierError):
                _RACER.barrier.wait(timeout=0.1)  # the others read it too (unless they cannot)
            time.sleep(0.01 * _RACER.index)
        return lease

    monkeypatch.setattr(commit, "read_lease", read_lease)
    dead = {"run_id": "dead", "host": "gone", "pid": 1, "heartbeat": time.time() - 3600}
    winners: dict[str, list[int]] = {"over": [], "new": []}
    for round_ in range(rounds):
        for kind in ("over", "new"):
            out = tmp_path / f"{kind}{round_}"
            out.mkdir()
            if kind == "over":
                (out / commit.LEASE_NAME).write_text(json.dumps(dead))
            won = _race_for_lease(out, racers, threading.Barrier(racers))
            winners[kind].append(len(won))
            assert not won or real_read(str(out))["run_id"] in won
    doubles = {kind: sum(n > 1 for n in counts) for kind, counts in winners.items()}
    assert doubles == {"over": 0, "new": 0}, f"rounds with more than one winner of {rounds}: {doubles}, {winners}"
    assert winners == {"over": [1] * rounds, "new": [1] * rounds}


def test_a_heartbeat_after_the_lease_was_taken_over_is_refused_and_leaves_it_alone(tmp_path: Path) -> None:
    out = str(tmp_path / "corpus")
    commit._take(out, "slow-run", 120.0, 0.0)
    assert commit._refresh(out, "slow-run", None)
    stale = json.loads((tmp_path / "corpus" / commit.LEASE_NAME).read_text())
    (tmp_path / "corpus" / commit.LEASE_NAME).write_text(json.dumps({**stale, "heartbeat": time.time() - 3600}))
    assert commit._take(out, "next-run", 120.0, 0.0)["run_id"] == "slow-run"  # expired: taken over
    assert not commit._refresh(out, "slow-run", None)
    assert commit.read_lease(out)["run_id"] == "next-run"
    commit._release(out, "slow-run")  # the end of the slow run does not remove the new lease
    assert commit.read_lease(out)["run_id"] == "next-run"
    commit._release(out, "next-run")
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == []  # the lease and its lock file gone


def test_the_protocol_holds_on_object_storage(s3) -> None:
    client, flags = s3
    storage.configure(flags)
    tar = b"z" * 20480
    client.put_object(Bucket="corpus", Key="c/train/000000.tar", Body=tar)
    assert commit.verified("s3://corpus/c/train/000000.tar") is None
    client.put_object(Bucket="corpus", Key="c/train/000000.stats.json", Body=_marker(tar))
    assert commit.verified("s3://corpus/c/train/000000.tar").bytes == 20480
    with commit.output_lease("s3://corpus/c", "s3-run", settle_s=0):
        with pytest.raises(commit.LeaseHeld):
            with commit.output_lease("s3://corpus/c", "other", settle_s=0):
                pass
        client.put_object(Bucket="corpus", Key="c/train/.000001.tar.tmp-s3-run-0123456789ab", Body=b"1")
        client.put_object(Bucket="corpus", Key="c/train/.000002.tar.tmp-other-0123456789ab", Body=b"1")
        removed = commit.remove_stale_temps("s3://corpus/c")
    assert removed == ["s3://corpus/c/train/.000001.tar.tmp-s3-run-0123456789ab"]
    left = sorted(o["Key"] for o in client.list_objects_v2(Bucket="corpus", Prefix="c/")["Contents"])
    assert left == ["c/train/.000002.tar.tmp-other-0123456789ab", "c/train/000000.stats.json", "c/train/000000.tar"]


def test_the_trainers_loader_leaves_out_a_tar_its_marker_does_not_name(tmp_path: Path) -> None:
    from model.shards import resolve_shards

    split = tmp_path / "c" / "train"
    split.mkdir(parents=True)
    for name, body in (("000000", b"a" * 10240), ("000001", b"b" * 10240), ("000002", b"c" * 10240)):
        (split / f"{name}.tar").write_bytes(body)
        (split / f"{name}.stats.json").write_bytes(_marker(body))
    (split / "000001.tar").write_bytes(b"B" * 10240)  # replaced after its marker: not trusted
    (split / "000002.tar").write_bytes(b"c" * 512)  # torn
    assert [Path(u).name for u in resolve_shards([str(tmp_path / "c")], "train").urls] == ["000000.tar"]


def test_a_second_clara_shards_into_the_same_output_while_the_first_runs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import subprocess
    import sys

    from pipelines.cli import main
    from pipelines.validate import main as validate

    root = Path(__file__).resolve().parents[2]
    args = ["shards", "--demo-items", "4", "--lang", "en", "--output", str(tmp_path), "--name", "c", "--workers", "1"]
    first = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lease = tmp_path / "c" / commit.LEASE_NAME
    deadline = time.monotonic() + 120
    while not lease.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lease.exists(), first.communicate()[1][-2000:]
    assert main(args) == 2  # refused, before any work
    err = capsys.readouterr().err
    assert f"{tmp_path}/c is being built by run {json.loads(lease.read_text())['run_id']}" in err
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert not lease.exists() and validate([str(tmp_path / "c"), "--no-audio"]) == 0


def test_a_marker_naming_other_bytes_is_withdrawn_before_its_tar_is_replaced(tmp_path: Path) -> None:
    tar, marker = tmp_path / "000000.tar", tmp_path / "000000.stats.json"
    tar.write_bytes(b"a" * 10240)
    marker.write_bytes(_marker(b"a" * 10240))
    commit.withdraw_other(str(tar), 10240, hashlib.sha256(b"a" * 10240).hexdigest())  # the same bytes: kept
    assert marker.exists()
    commit.withdraw_other(str(tar), 10240, hashlib.sha256(b"b" * 10240).hexdigest())
    assert not marker.exists() and tar.exists()
    commit.withdraw_other(str(tar), 10240, "0" * 64)  # no marker: nothing to do


def test_a_rerun_rebuilds_a_shard_whose_tar_its_marker_does_not_name(tmp_path: Path, capsys) -> None:
    from pipelines.cli import main

    args = ["shards", "--demo-items", "4", "--shard-size", "2", "--split-fractions", "1,0,0", "--workers", "1"]
    args += ["--output", str(tmp_path), "--augment", "none"]
    assert main(args) == 0
    tar = tmp_path / "demo-en" / "train" / "000000.tar"
    good = tar.read_bytes()
    tar.write_bytes(good[:-1] + b"\x01")  # a torn or foreign tar under the committed name
    capsys.readouterr()
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "shard train/000000: the marker names SHA-256" in captured.err and "rebuilding" in captured.err
    assert "(1 written, 1 skipped as already complete)" in captured.out
    assert tar.read_bytes() == good


def test_a_retry_refuses_a_shard_whose_marker_does_not_name_its_tar(tmp_path: Path) -> None:
    from pipelines import retry

    tar, marker = tmp_path / "000000.tar", tmp_path / "000000.stats.json"
    tar.write_bytes(b"a" * 10240)
    marker.write_bytes(_marker(b"a" * 10240))
    assert [s.bytes for s in retry.read_marker(str(marker))] == [10240]
    tar.write_bytes(b"b" * 10240)
    with pytest.raises(ValueError, match="rebuild the corpus .* before retrying"):
        retry.read_marker(str(marker))
    assert retry.read_marker(str(tmp_path / "000001.stats.json")) == []
