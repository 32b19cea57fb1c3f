"""The shard plan and the tar writer: deterministic, atomic, adjacent members."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pipelines.plan import ShardRef, split_of
from pipelines.tar_writer import TarShardWriter
from schemas import SourceItem
from transforms import storage


def _item(i: int, **kw) -> SourceItem:
    return SourceItem(key=f"k{i:04d}", uri=f"/x/{i}.wav", dataset="d", source_id=str(i), **kw)


def test_split_is_stable_by_source_id_and_respects_dataset_splits():
    assert split_of(_item(1)) == split_of(_item(1))
    splits = [split_of(_item(i)) for i in range(2000)]
    assert 0.75 < splits.count("train") / 2000 < 0.85 and splits.count("valid") > 100 and splits.count("test") > 100
    assert split_of(_item(1, split="test")) == "test"
    # all segments/copies of a recording share the source id, hence the split
    a = SourceItem(key="a", uri="u", dataset="d", source_id="same")
    b = SourceItem(key="b", uri="v", dataset="d", source_id="same")
    assert split_of(a) == split_of(b)


def _write(out: Path, entries) -> Path:
    writer = TarShardWriter(str(out), ShardRef("train", 0, 1))
    for key, flac, meta in entries:
        writer.add(key, flac, meta)
    writer.commit()
    return out / "train" / "000000.tar"


def test_tar_is_byte_identical_and_members_are_adjacent_pairs(tmp_path):
    entries = [("a_000_0", b"FLACDATA1", b'{"k":1}'), ("b_000_0", b"FLACDATA22", b'{"k":2}')]
    first = _write(tmp_path / "one", entries).read_bytes()
    second = _write(tmp_path / "two", entries).read_bytes()
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a_000_0.flac", "a_000_0.json", "b_000_0.flac", "b_000_0.json"]
    assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in members} == {(0, 0, 0, 0o644, "")}


def test_abort_leaves_neither_tar_nor_temp(tmp_path):
    writer = TarShardWriter(str(tmp_path), ShardRef("train", 0, 1))
    writer.add("a_000_0", b"x", b"{}")
    writer.abort()
    assert list((tmp_path / "train").iterdir()) == []


def test_final_name_appears_only_on_commit(tmp_path):
    writer = TarShardWriter(str(tmp_path), ShardRef("train", 0, 1))
    writer.add("a_000_0", b"x", b"{}")
    assert not (tmp_path / "train" / "000000.tar").exists()
    assert len(list((tmp_path / "train").glob(".000000.tar.tmp-*"))) == 1
    writer.commit()
    assert [p.name for p in (tmp_path / "train").iterdir()] == ["000000.tar"]


def test_duplicate_key_in_a_shard_fails_loudly(tmp_path):
    writer = TarShardWriter(str(tmp_path), ShardRef("train", 0, 1))
    writer.add("a_000_0", b"x", b"{}")
    with pytest.raises(ValueError, match="duplicate key"):
        writer.add("a_000_0", b"y", b"{}")
    writer.abort()


def test_write_atomic_replaces_without_leaving_temps(tmp_path):
    path = str(tmp_path / "f.json")
    storage.write_atomic(path, b"1")
    storage.write_atomic(path, b"2")
    assert Path(path).read_bytes() == b"2" and [p.name for p in tmp_path.iterdir()] == ["f.json"]
