"""The generic folder adapter: manifests with --map, .txt transcripts, plain folders, unsafe paths."""

from __future__ import annotations

import os

import pytest

from pipelines.sources.base import SourceError
from tests.adapters.conftest import audio, build, source, text


def test_manifest_with_a_column_map_gives_captions_metadata_splits_and_refuses_escaping_paths(tmp_path):
    root = tmp_path / "mine"
    audio(root / "clips" / "a.wav")
    audio(root / "clips" / "b.mp3")
    audio(root / "clips" / "c.wav")
    audio(tmp_path / "outside.wav")
    os.symlink(tmp_path / "outside.wav", root / "clips" / "link.wav")
    text(
        root / "manifest.csv",
        "file,caption,lang,sex,mood,tags,part\n"
        "clips/a.wav,A bell rings twice,fr,F,anger,bell;ringing,dev\n"
        "clips/b.mp3,Someone knocks,,male,,door,train\n"
        "../outside.wav,escape,,,,,train\n"
        "/etc/passwd,absolute,,,,,train\n"
        "clips/link.wav,symlink out,,,,,train\n"
        "clips/missing.wav,gone,,,,,train\n"
        "clips/c.wav,bad label,,,furious,,train\n",
    )
    built = build(
        "folder",
        root,
        tmp_path / "out",
        map="path=file,text=caption,language=lang,gender=sex,emotion=mood,label=tags,split=part",
    )

    a = built.meta("folder-clips_a")
    assert "A bell rings twice" in a["text"] and "The sound of bell and ringing" in a["text"]
    assert a["original_data"]["language"] == "fr" and a["split"] == "valid"
    assert any(c["origin"] == "human" and c["text"] == "A bell rings twice" for c in a["captions"])
    assert "A woman talking in an angry voice" in a["text"]
    b = built.meta("folder-clips_b")
    assert b["split"] == "train" and "Someone knocks" in b["text"]
    reasons = built.reasons()
    assert reasons["folder-_outside"] == "unsafe_path"
    assert reasons["folder-_etc_passwd"] == "unsafe_path"
    assert reasons["folder-clips_c"] == "unknown_emotion"
    assert reasons["folder-clips_link"] == "unsafe_path"
    assert reasons["folder-clips_missing"] == "missing_file"
    assert len(built.samples) == 2


def test_jsonl_manifest_with_standard_names_needs_no_map_and_keeps_every_caption(tmp_path):
    root = tmp_path / "mine"
    audio(root / "x.flac")
    text(
        root / "metadata.jsonl",
        '{"path": "x.flac", "text": ["Ein Hund bellt", "Hundegebell"], "transcript": "hallo", "language": "de", "split": "test"}\n',
    )
    built = build("folder", root, tmp_path / "out", caption_language="de")
    meta = built.meta("folder-x")
    human = [c for c in meta["captions"] if c["origin"] == "human"]
    assert [c["text"] for c in human] == ["Ein Hund bellt", "Hundegebell"] and {c["language"] for c in human} == {"de"}
    assert "A person saying 'hallo'" in meta["text"] and meta["split"] == "test"


def test_plain_folder_uses_txt_transcripts_else_the_file_or_folder_name(tmp_path):
    root = tmp_path / "plain"
    audio(root / "speech" / "hello.wav")
    text(root / "speech" / "hello.txt", "Hello   there\n")
    audio(root / "dog_barking.m4a")
    audio(root / "rain" / "0001.opus")
    built = build("folder", root, tmp_path / "out", lang="en")
    assert "A person saying 'Hello there'" in built.texts("folder-speech_hello")
    assert built.meta("folder-speech_hello")["original_data"]["language"] == "en"
    assert "The sound of dog barking" in built.texts("folder-dog_barking")
    assert "The sound of rain" in built.texts("folder-rain_0001")
    assert built.failures == []


def test_a_manifest_without_the_path_column_is_refused_before_any_work(tmp_path):
    root = tmp_path / "mine"
    audio(root / "a.wav")
    text(root / "manifest.csv", "file,caption\na.wav,x\n")
    with pytest.raises(SourceError, match="no column 'path'.*--map path=COLUMN"):
        source("folder", root).check()
    with pytest.raises(SourceError, match="FIELD=COLUMN"):
        source("folder", root, map="colour=x").check()


def test_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no audio or video files"):
        source("folder", tmp_path / "empty").check()
