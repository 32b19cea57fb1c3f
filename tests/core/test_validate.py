"""``clara validate`` fails, naming each problem, on every way a built corpus can be broken.

One small demo corpus is built per module (three shards in train/); each test corrupts a copy.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipelines.validate import main as validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built")
    args = ["--demo-items", "6", "--shard-size", "2", "--split-fractions", "1,0,0", "--workers", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "shards", *args, "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    corpus = out / "demo-en"
    assert len(list((corpus / "train").glob("*.tar"))) >= 2
    return corpus


@pytest.fixture
def corpus(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "demo-en"
    shutil.copytree(built, copy)
    return copy


def problems(corpus: Path, capsys) -> list[str]:
    """The problems ``clara validate`` names (it must exit 1)."""
    code = validate([str(corpus), "--no-audio"])
    captured = capsys.readouterr()
    assert code == 1, captured.out
    return [line.strip() for line in captured.err.splitlines()[1:]]


def rewrite_tar(path: Path, rename: dict[str, str]) -> None:
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, data in members:
            member.name = rename.get(member.name, member.name)
            tar.addfile(member, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())


def test_a_good_corpus_validates(corpus, capsys):
    assert validate([str(corpus)]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_tar_named_in_sizes_that_does_not_exist(corpus, capsys):
    sizes_path = corpus / "train" / "sizes.json"
    sizes = json.loads(sizes_path.read_text())
    sizes["000009.tar"] = 2
    sizes_path.write_text(json.dumps(sizes))
    assert problems(corpus, capsys) == [f"{sizes_path}: lists 000009.tar, which does not exist"]


def test_a_marker_without_its_tar(corpus, capsys):
    (corpus / "train" / "000001.tar").unlink()
    found = problems(corpus, capsys)
    assert f"{corpus}/train/000001.stats.json: marker without its tar 000001.tar" in found
    assert f"{corpus}/train/sizes.json: lists 000001.tar, which does not exist" in found


def test_a_tar_without_its_marker(corpus, capsys):
    (corpus / "train" / "000000.stats.json").unlink()
    found = problems(corpus, capsys)
    assert any(p.startswith(f"{corpus}/train/000000.tar: no commit marker") for p in found)


def test_zero_shards(corpus, capsys):
    for path in (corpus / "train").iterdir():
        path.unlink()
    found = problems(corpus, capsys)
    assert any(p.startswith(f"{corpus}: no shards") for p in found)


def test_totals_that_disagree_with_the_dataset_card(corpus, capsys):
    card_path = corpus / "dataset_card.json"
    card = json.loads(card_path.read_text())
    card["totals"]["samples"] += 1
    card["hours_by_language"]["en"] += 1.0
    card_path.write_text(json.dumps(card))
    found = problems(corpus, capsys)
    assert len(found) == 2
    assert any("disagrees with the shards at totals.samples" in p for p in found)
    assert any("disagrees with the shards at hours_by_language.en" in p for p in found)


def test_a_marker_and_card_that_agree_on_a_wrong_count_still_fail(corpus, capsys):
    marker_path = corpus / "train" / "000000.stats.json"
    marker = json.loads(marker_path.read_text())
    card_path = corpus / "dataset_card.json"
    card = json.loads(card_path.read_text())
    marker["samples"] += 5
    card["totals"]["samples"] += 5
    marker_path.write_text(json.dumps(marker))
    card_path.write_text(json.dumps(card))
    found = problems(corpus, capsys)
    assert any(p.startswith(f"{marker_path}: says") for p in found)
    assert any("disagrees with the shards at totals.samples" in p for p in found)


def test_an_unparsable_failures_file(corpus, capsys):
    failures = corpus / "failures"
    failures.mkdir(exist_ok=True)
    good = {"key": "k", "source": "k", "stage": "decode", "reason": "empty"}
    (failures / "train-000000.jsonl").write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"key": "k"}) + "\n")
    found = problems(corpus, capsys)
    assert any(
        p.startswith(f"{failures}/train-000000.jsonl: 2 unparsable failure record(s), first at line 2") for p in found
    )


@pytest.mark.parametrize(
    "bad_name, complaint",
    [
        ("/tmp/evil.json", "is a path, an absolute one"),
        ("../evil.json", "is a path with '..'"),
        ("a/../b.json", "is a path with '..'"),
    ],
)
def test_a_member_name_that_is_absolute_or_climbs(corpus, capsys, bad_name, complaint):
    tar = corpus / "train" / "000000.tar"
    with tarfile.open(tar) as t:
        first_json = next(m.name for m in t.getmembers() if m.name.endswith(".json"))
    rewrite_tar(tar, {first_json: bad_name})
    found = problems(corpus, capsys)
    assert f"{tar}: member name {bad_name!r} {complaint}" in found


def test_every_problem_is_named_not_just_the_first(corpus, capsys):
    train = corpus / "train"
    sizes = json.loads((train / "sizes.json").read_text())
    (train / "sizes.json").write_text(json.dumps({**sizes, "000009.tar": 1}))
    (train / "000002.stats.json").unlink()
    (corpus / "failures").mkdir(exist_ok=True)
    (corpus / "failures" / "pipeline.jsonl").write_text("garbage\n")
    with tarfile.open(train / "000000.tar") as t:
        first_json = next(m.name for m in t.getmembers() if m.name.endswith(".json"))
    rewrite_tar(train / "000000.tar", {first_json: "../" + first_json})
    found = "\n".join(problems(corpus, capsys))
    for expected in (
        "lists 000009.tar, which does not exist",
        "000002.tar: no commit marker",
        "pipeline.jsonl: 1 unparsable failure record(s)",
        "is a path with '..'",
    ):
        assert expected in found


def test_a_tar_whose_marker_names_other_bytes_is_not_committed(corpus, capsys):
    tar = corpus / "train" / "000000.tar"
    data = bytearray(tar.read_bytes())
    data[-1] = 1  # same members and size, one byte of the end padding changed
    tar.write_bytes(bytes(data))
    found = problems(corpus, capsys)
    assert any(
        p.startswith(f"{corpus}/train/000000.stats.json: does not commit 000000.tar: it names SHA-256") for p in found
    ), found
    assert len(found) == 1


def test_a_marker_that_names_no_sha256_does_not_commit_its_tar(corpus, capsys):
    marker = corpus / "train" / "000001.stats.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "sha256": ""}))
    found = problems(corpus, capsys)
    assert found == [
        f"{marker}: does not commit 000001.tar: it names no SHA-256 (a marker from before the commit protocol)"
    ]


def test_a_store_that_cannot_be_listed_stops_validate_instead_of_passing(corpus, capsys, monkeypatch):
    from transforms import storage

    def unreachable(what, path, fn):
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(storage, "_policy", storage.StorageSettings(retries=1, retry_base_s=0.0))
    monkeypatch.setattr(storage, "_call", unreachable)
    assert validate([str(corpus), "--no-audio"]) == 1
    assert "clara validate: the store did not answer, nothing can be concluded" in capsys.readouterr().err
