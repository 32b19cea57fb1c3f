"""A plain local folder is listed in the workers: the launcher names listing tasks (subfolders, runs
of INPUT's own files), not items, and the workers' items are the launcher's items exactly."""

from __future__ import annotations

import os

import apache_beam as beam
import numpy as np
import soundfile as sf
from apache_beam.testing.util import assert_that, equal_to

from pipelines.sources import folder as folder_module
from pipelines.sources.base import SourceSettings, make_source
from schemas import Failure


def _wav(path) -> None:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(800, dtype=np.float32), 16000)


def _tree(root) -> None:  # noqa: ANN001
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


def _records(source) -> list:  # noqa: ANN001
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
