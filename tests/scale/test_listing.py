"""A plain local folder is listed in the workers: the launcher names listing tasks (subfolders, runs
of INPUT's own files), not items, and the workers' items are the launcher's items exactly."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import numpy as np
import pytest
import soundfile as sf
from apache_beam.testing.util import assert_that, equal_to

from pipelines.sources import folder as folder_module
from pipelines.sources.base import SourceSettings, make_source
from schemas import Failure


def _wav(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(800, dtype=np.float32), 16000)


def _tree(root) -> None:
    for name in ["a_dog_bark.wav", "b_cat.wav", "c_rain.flac", "d_wind.wav", "e_bird.wav"]:
        _wav(root / name)
    _wav(root / "speech" / "0001.wav")
    (root / "speech" / "0001.txt").write_text("hello there")
    _wav(root / "speech" / "deeper" / "engine_idle.wav")
    _wav(root / ".hidden" / "skipped.wav")
    (root / "notes.md").write_text("not audio")
    outside = root.parent / "outside"
    _wav(outside / "elsewhere.wav")
    os.symlink(outside, root / "linked")  # leads outside INPUT: an unsafe_path failure either way


def _records(source) -> list:
    return sorted(("failure" if isinstance(r, Failure) else "item", r.key, repr(r.to_dict())) for r in source)


def test_a_folder_is_listed_in_the_workers_with_the_launchers_items(tmp_path, monkeypatch):
    root = tmp_path / "input"
    _tree(root)
    monkeypatch.setattr(folder_module, "LISTING_RUN", 2)  # INPUT's 5 files in 3 tasks
    source = make_source("folder", SourceSettings(input=str(root)))
    source.check()
    tasks = source.listing_tasks()
    assert tasks == [
        ("files", ("a_dog_bark.wav", "b_cat.wav")),
        ("files", ("c_rain.flac", "d_wind.wav")),
        ("files", ("e_bird.wav",)),
        ("tree", ("linked",)),
        ("tree", ("speech",)),
    ]
    launcher = _records(source.items())
    assert len(launcher) == 8 and sum(kind == "failure" for kind, _, _ in launcher) == 1
    assert _records(r for task in tasks for r in source.task_items(task)) == launcher

    options = beam.options.pipeline_options.PipelineOptions(
        ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]
    )
    with beam.Pipeline("DirectRunner", options=options) as p:
        records = source.expand(p) | beam.Map(
            lambda r: ("failure" if isinstance(r, Failure) else "item", r.key, repr(r.to_dict()))
        )
        assert_that(records, equal_to(launcher))


def test_a_limit_a_manifest_or_a_remote_root_keep_the_launchers_listing(tmp_path):
    root = tmp_path / "input"
    _wav(root / "a.wav")
    assert make_source("folder", SourceSettings(input=str(root), limit=1)).listing_tasks() is None
    assert make_source("folder", SourceSettings(input="s3://bucket/audio")).listing_tasks() is None
    (root / "manifest.csv").write_text("path\na.wav\n")
    assert make_source("folder", SourceSettings(input=str(root))).listing_tasks() is None


def _manifest_folder(root, kind: str) -> None:
    for name in ["a.wav", "b.wav", "sub/c.wav"]:
        _wav(root / name)
    rows = [
        {"path": "a.wav", "text": "A dog barks", "language": "de", "split": "valid", "label": "dog;bark"},
        {"path": "b.wav", "transcript": "hello there", "gender": "F", "emotion": "angry"},
        {"path": "sub/c.wav", "text": "Rain", "speaker": "s1"},
        {"path": "../outside.wav", "text": "escape"},
        {"path": "", "text": "no path here"},
        {"path": "b.wav", "emotion": "furious"},
    ]
    columns = ["path", "text", "transcript", "language", "gender", "emotion", "label", "speaker", "split"]
    if kind == "jsonl":
        lines = [json.dumps(r) for r in rows] + ["not json", "[1, 2]"]
        (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
        return
    sep = "\t" if kind == "tsv" else ","
    body = [sep.join(columns)] + [sep.join(r.get(c, "") for c in columns) for r in rows]
    (root / f"manifest.{kind}").write_text("\n".join(body) + "\n")


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
def test_a_large_manifest_is_read_in_the_workers_with_the_launchers_items(tmp_path, monkeypatch, kind):
    root = tmp_path / "input"
    _manifest_folder(root, kind)
    source = make_source("folder", SourceSettings(input=str(root)))
    source.check()
    launcher = _records(source.items())  # the manifest is small: the launcher reads it
    kinds = sorted(k for k, _, _ in launcher)
    assert kinds.count("item") == 3 and kinds.count("failure") == (5 if kind == "jsonl" else 3)

    def comparable(records: list) -> list:  # rows without a path are named by row number / by content
        return sorted(
            (k, key if "-row" not in key else "row", "" if "-row" in key else text) for k, key, text in records
        )

    monkeypatch.setattr(folder_module, "MANIFEST_IN_WORKERS_BYTES", 10)  # now it is "large"
    with beam.Pipeline("DirectRunner") as p:
        pcoll = source.expand(p)
        records = pcoll | beam.Map(
            lambda r: ("failure" if isinstance(r, Failure) else "item", r.key, repr(r.to_dict()))
        )
        assert_that(records | beam.combiners.ToList() | beam.Map(comparable), equal_to([comparable(launcher)]))
        reasons = pcoll | beam.Filter(lambda r: isinstance(r, Failure)) | beam.Map(lambda f: f.reason)
        expected = ["missing_path", "unknown_emotion", "unsafe_path"]
        expected += ["bad_manifest_row", "bad_manifest_row"] if kind == "jsonl" else []
        assert_that(reasons, equal_to(expected), label="reasons")
    stages = str(source.expand(beam.Pipeline()).producer.full_label)
    assert stages == "Enumerate folder"


def test_the_launcher_reads_only_the_head_of_a_jsonl_manifest_to_check_it(tmp_path, monkeypatch):
    root = tmp_path / "input"
    _manifest_folder(root, "jsonl")
    from pipelines.sources import common

    read: list[str] = []
    monkeypatch.setattr(folder_module, "read_text", lambda path, *a, **k: read.append(path) or "")
    make_source("folder", SourceSettings(input=str(root))).check()
    assert read == []  # check() took the first lines through head_lines, not the whole file
    assert common.head_lines(str(root / "manifest.jsonl"), 2)[0].startswith('{"path": "a.wav"')
