"""Storage I/O (transforms.storage): streamed reads with a byte cap, atomic writes, listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms import storage
from transforms.audio import AudioError
from transforms.decode import read_uri


class _Spy:
    """Wraps a reader and records how many bytes each ``read`` asked for."""

    def __init__(self, handle, asked: list[int]) -> None:
        self.handle, self.asked = handle, asked

    def read(self, n: int = -1) -> bytes:
        self.asked.append(n)
        return self.handle.read(n)

    def __enter__(self) -> _Spy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = storage.open_read
    monkeypatch.setattr(storage, "open_read", lambda path: _Spy(real(path), sizes))
    monkeypatch.setattr(storage, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(storage, "_local", lambda path: False)  # the block reader, as for object stores
    return sizes


def test_a_local_file_is_read_in_one_read_of_its_size(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    (tmp_path / "f.bin").write_bytes(data)
    got = storage.read_bytes(str(tmp_path / "f.bin"), max_bytes=len(data))
    assert got == data


def test_a_local_file_over_the_cap_is_refused_from_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 5000)
    import builtins

    real_open = builtins.open
    reads: list[int] = []

    class Spy:
        def __init__(self, f) -> None:
            self.f = f

        def __getattr__(self, name: str):
            return getattr(self.f, name)

        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return self.f.read(n)

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Spy(real_open(*a, **k)))
    with pytest.raises(storage.FileTooLarge):
        storage.read_bytes(str(tmp_path / "f.bin"), max_bytes=1500)
    assert reads == []  # its stated size said so: nothing read, nothing allocated


def test_a_local_pipe_states_no_size_and_is_read_to_its_end_under_the_cap(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = b"y" * 300_000

    def write() -> None:
        try:
            with open(fifo, "wb") as f:
                f.write(data)
        except BrokenPipeError:  # the reader gave up at its cap
            pass

    writer = threading.Thread(target=write)
    writer.start()
    assert storage.read_bytes(str(fifo), max_bytes=len(data)) == data
    writer.join()
    writer = threading.Thread(target=write)
    writer.start()
    with pytest.raises(storage.FileTooLarge):
        storage.read_bytes(str(fifo), max_bytes=1000)
    writer.join(timeout=10)
    assert not writer.is_alive()


def test_a_file_larger_than_a_block_is_read_whole(tmp_path: Path, asked: list[int]) -> None:
    data = bytes(range(256)) * 20  # 5120 bytes: six 1000-byte blocks
    (tmp_path / "f.bin").write_bytes(data)
    assert storage.read_bytes(str(tmp_path / "f.bin")) == data
    assert max(asked) == 1000 and len(asked) == 7


def test_the_byte_cap_is_never_asked_for_in_one_read(tmp_path: Path, asked: list[int]) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 3000)
    assert storage.read_bytes(str(tmp_path / "f.bin"), max_bytes=2 * 1024**3) == b"x" * 3000
    assert max(asked) == 1000


def test_a_file_over_the_cap_fails_after_reading_at_most_one_byte_past_it(tmp_path: Path, asked: list[int]) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 5000)
    with pytest.raises(storage.FileTooLarge):
        storage.read_bytes(str(tmp_path / "f.bin"), max_bytes=1500)
    assert sum(asked) == 1501


def test_a_file_exactly_at_the_cap_is_read(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"y" * 1500)
    assert storage.read_bytes(str(tmp_path / "f.bin"), max_bytes=1500) == b"y" * 1500


def test_decode_reports_too_large_and_missing_files_as_failure_reasons(tmp_path: Path) -> None:
    (tmp_path / "big.wav").write_bytes(b"RIFF" + b"\0" * 100)
    with pytest.raises(AudioError) as too_large:
        read_uri(str(tmp_path / "big.wav"), max_bytes=50)
    with pytest.raises(AudioError) as missing:
        read_uri(str(tmp_path / "nope.wav"), max_bytes=50)
    assert (too_large.value.reason, missing.value.reason) == ("file_too_large", "missing_file")


def test_read_text_keeps_strict_utf8_unless_told(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_bytes("\ufeffcafé \xff".encode("utf-8") + b"\xff")
    with pytest.raises(UnicodeDecodeError):
        storage.read_text(str(tmp_path / "t.txt"))
    assert storage.read_text(str(tmp_path / "t.txt"), encoding="utf-8-sig", errors="replace") == "café \xff\ufffd"


def test_write_atomic_replaces_the_target_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = str(tmp_path / "sub" / "card.json")
    storage.write_atomic(target, b"first")
    storage.write_atomic(target, b"second")
    assert Path(target).read_bytes() == b"second"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["card.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_removes_its_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = str(tmp_path / "card.json")
    storage.write_atomic(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("store went away")

    monkeypatch.setattr(storage, "replace", broken_replace)
    with pytest.raises(OSError, match="store went away"):
        storage.write_atomic(target, b"new")
    assert Path(target).read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_listings_are_sorted_and_existence_is_per_file(tmp_path: Path) -> None:
    for name in ("b.wav", "a.wav", "c.txt"):
        (tmp_path / name).write_bytes(b"1")
    assert storage.list_files(storage.join(str(tmp_path), "*.wav")) == [
        str(tmp_path / "a.wav"),
        str(tmp_path / "b.wav"),
    ]
    assert storage.exists(str(tmp_path / "c.txt")) and not storage.exists(str(tmp_path / "d.txt"))
    storage.delete([str(tmp_path / "c.txt"), str(tmp_path / "d.txt")])
    assert not storage.exists(str(tmp_path / "c.txt"))


def test_download_copies_block_by_block_and_leaves_only_the_copy(tmp_path: Path, asked: list[int]) -> None:
    (tmp_path / "remote.bin").write_bytes(b"z" * 2500)
    local = tmp_path / "cache" / "copy.bin"
    local.parent.mkdir()
    storage.download(str(tmp_path / "remote.bin"), str(local))
    assert local.read_bytes() == b"z" * 2500 and max(asked) == 1000
    assert [p.name for p in local.parent.iterdir()] == ["copy.bin"]


# ----------------------------------------------------------------------------- transient faults


class _Flaky:
    """``storage._call`` failing the first ``failures`` attempts of ``op`` with ``error``."""

    def __init__(self, op: str, failures: int, error: BaseException) -> None:
        self.op, self.left, self.error, self.attempts = op, failures, error, 0

    def __call__(self, what, path, fn):
        if what == self.op:
            self.attempts += 1
            if self.left > 0:
                self.left -= 1
                raise self.error
        return fn()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_policy", storage.StorageSettings(retries=3, retry_base_s=0.0))


@pytest.mark.parametrize("op", ["read", "exists", "list", "write", "rename", "delete", "size"])
def test_a_transient_fault_is_retried_until_the_call_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None, op: str
) -> None:
    (tmp_path / "a.bin").write_bytes(b"data")
    flaky = _Flaky(op, 3, ConnectionResetError("connection reset by peer"))
    monkeypatch.setattr(storage, "_call", flaky)
    target = str(tmp_path / "b.bin")
    storage.write_atomic(target, b"new")
    assert storage.read_bytes(str(tmp_path / "a.bin")) == b"data" and storage.size(target) == 3
    assert storage.exists(target) and storage.list_files(str(tmp_path / "*.bin")) == [str(tmp_path / "a.bin"), target]
    storage.delete([target])
    assert not (tmp_path / "b.bin").exists() and flaky.attempts >= 4 and flaky.left == 0


def test_a_fault_that_outlasts_the_budget_is_a_storage_error_and_decode_says_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None
) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    flaky = _Flaky("read", 99, TimeoutError("read timed out"))
    monkeypatch.setattr(storage, "_call", flaky)
    with pytest.raises(storage.StorageError, match="still failing after 3 retries"):
        storage.read_bytes(str(tmp_path / "a.wav"))
    with pytest.raises(AudioError) as failed:
        read_uri(str(tmp_path / "a.wav"), max_bytes=50)
    assert failed.value.reason == "storage_error" and flaky.attempts == 8


def test_a_missing_file_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> None:
    flaky = _Flaky("read", 0, OSError())
    monkeypatch.setattr(storage, "_call", flaky)
    with pytest.raises(AudioError) as missing:
        read_uri(str(tmp_path / "nope.wav"), max_bytes=50)
    assert missing.value.reason == "missing_file" and flaky.attempts == 1


def test_transient_and_permanent_faults_are_told_apart() -> None:
    from apache_beam.io.aws.clients.s3.messages import S3ClientError

    assert storage.transient(ConnectionResetError()) and storage.transient(S3ClientError("slow down", 503))
    assert storage.transient(S3ClientError("throttled", 429)) and storage.transient(OSError("I/O error"))
    assert not storage.transient(S3ClientError("Not Found", 404)) and not storage.transient(S3ClientError("", 403))
    assert not storage.transient(FileNotFoundError()) and not storage.transient(storage.FileTooLarge("x", 1))
    assert not storage.transient(ValueError("a bug")) and not storage.transient(storage.StorageError("spent"))


def test_a_listing_that_fails_is_an_error_never_an_empty_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None
) -> None:
    from pipelines.sources import common

    (tmp_path / "a.wav").write_bytes(b"RIFF")
    monkeypatch.setattr(storage, "_call", _Flaky("list", 99, OSError("503 Service Unavailable")))
    with pytest.raises(storage.StorageError, match="list"):
        common.glob(str(tmp_path / "*.wav"))
    monkeypatch.setattr(storage, "_call", _Flaky("exists", 99, OSError("503 Service Unavailable")))
    with pytest.raises(storage.StorageError, match="exists"):
        common.exists(str(tmp_path / "a.wav"))


def test_replace_never_deletes_the_target_before_the_new_object_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "000000.tar"
    target.write_bytes(b"good")
    deleted: list[str] = []
    monkeypatch.setattr(storage.FileSystems, "delete", lambda paths: deleted.extend(paths))
    monkeypatch.setattr(storage.os, "unlink", lambda path: deleted.append(path))
    storage.write_atomic(str(target), b"better")
    assert target.read_bytes() == b"better" and deleted == []


def test_temporary_names_carry_the_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_run_id", storage.run_id())
    storage.set_run_id("20261206-abc")
    tmp = storage.temp_sibling("s3://b/out/train/000001.tar")
    assert tmp.startswith("s3://b/out/train/.000001.tar.tmp-20261206-abc-")
    assert storage.temp_run_id(tmp) == "20261206-abc" and storage.temp_run_id("s3://b/out/train/000001.tar") is None
    with pytest.raises(ValueError):
        storage.set_run_id("a/b")
