"""Every adapter refuses a wrong layout before any work and names the adapter that fits."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.sources.base import REGISTRY, SourceError, list_sources, source_class
from tests.adapters.conftest import audio, source, text

ISSUE_NAMES = (
    "commonvoice mswc librispeech ljspeech cmu-arctic crema-d ravdess emov-db emns emodb esc50 urbansound8k "
    "fsd50k audioset audiocaps clotho macs vocalsketch vocal-imitation vggsound ytdlp folder demo"
).split()
ADAPTERS = sorted(set(REGISTRY) - {"demo", "folder"})


def esc50_tree(root):
    text(root / "ESC-50-master" / "meta" / "esc50.csv", "filename,fold,target,category,esc10,src_file,take\n")
    (root / "ESC-50-master" / "audio").mkdir(parents=True)
    return root


def crema_tree(root):
    audio(root / "AudioWAV" / "1001_IEO_ANG_HI.wav", seconds=0.1)
    return root


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_wrong_layout_is_one_clear_error_naming_the_adapter_that_fits(tmp_path, name):
    tree, fits = (crema_tree(tmp_path), "crema-d") if name == "esc50" else (esc50_tree(tmp_path), "esc50")
    with pytest.raises(SourceError) as error:
        source(name, tree).check()
    message = str(error.value)
    assert f"source '{name}' expects" in message and f"try --source {fits}" in message
    assert "\n" not in message


def test_the_folder_adapter_points_a_dataset_manifest_to_its_adapter(tmp_path):
    text(tmp_path / "metadata.csv", "LJ001-0001|Printing|Printing\n")
    audio(tmp_path / "wavs" / "LJ001-0001.wav", seconds=0.1)
    with pytest.raises(SourceError, match="try --source ljspeech"):
        source("folder", tmp_path).check()


def test_every_dataset_of_the_issue_is_registered_with_description_layout_and_vocabulary():
    assert sorted(REGISTRY) == sorted(ISSUE_NAMES)
    for name, description, layout in list_sources():
        assert description and layout, name
        cls = source_class(name)
        if hasattr(cls, "vocabulary"):
            assert isinstance(cls.vocabulary(), dict)


def test_list_sources_prints_every_adapter():
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "shards", "--list-sources"], capture_output=True, text=True, check=True
    ).stdout
    for name in ISSUE_NAMES:
        assert f"\n{name} " in "\n" + out
