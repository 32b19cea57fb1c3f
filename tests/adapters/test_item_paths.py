"""An adapter row whose path leaves the dataset's folder is an ``unsafe_path`` failure, never an item."""

from __future__ import annotations

from pipelines.sources.base import SourceSettings, make_source
from schemas import Failure, SourceItem
from tests.adapters.conftest import audio, text


def test_item_is_the_failure_safe_path_gave_or_the_item_at_the_path(tmp_path):
    source = make_source("ljspeech", SourceSettings(input=str(tmp_path)))
    refused = source.safe_path("k", "../outside.wav")
    assert isinstance(refused, Failure) and refused.reason == "unsafe_path"
    assert source.item("k", refused, dataset="ljspeech", source_id="x") is refused
    item = source.item("k", source.safe_path("k", "wavs/a.wav"), dataset="ljspeech", source_id="a")
    assert isinstance(item, SourceItem) and item.uri.endswith("wavs/a.wav") and item.source_id == "a"


def test_ljspeech_row_pointing_outside_the_folder_is_an_unsafe_path_failure(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    audio(root / "wavs" / "LJ001-0001.wav")
    text(root / "metadata.csv", "LJ001-0001|One.|One.\n../../escape|Two.|Two.\n")
    records = list(make_source("ljspeech", SourceSettings(input=str(root))).items())
    assert [r.key for r in records if isinstance(r, SourceItem)] == ["ljspeech-LJ001-0001"]
    failures = [r for r in records if isinstance(r, Failure)]
    assert [(f.reason, f.stage) for f in failures] == [("unsafe_path", "source")]
