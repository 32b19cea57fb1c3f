"""Offline Whisper weights: the bundled base model is joined once, atomically, and verified."""

from __future__ import annotations

import threading

from transforms.segment.models import (
    BUNDLED_TINY_EN,
    bundled_base_parts,
    join_bundled_base,
    resolve_faster_whisper_model,
    verify_joined,
)


def test_bundled_tiny_en_resolves_to_a_folder_given_as_str():
    path = resolve_faster_whisper_model(BUNDLED_TINY_EN)
    assert isinstance(path, str)
    assert path.endswith("model")


def test_names_and_paths_pass_through_unchanged():
    assert resolve_faster_whisper_model("large-v3") == "large-v3"
    assert resolve_faster_whisper_model("/models/whisper-small") == "/models/whisper-small"


def test_base_parts_are_joined_into_one_loadable_folder_with_its_checksum(tmp_path):
    folder = join_bundled_base(tmp_path / "base")
    _, parts = bundled_base_parts()
    assert (folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", "model.bin.sha256"):
        assert (folder / name).is_file()
    assert verify_joined(folder)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_truncated_join_is_redone(tmp_path):
    folder = join_bundled_base(tmp_path / "base")
    with open(folder / "model.bin", "r+b") as f:
        f.truncate(1000)
    join_bundled_base(folder)
    assert verify_joined(folder)


def test_concurrent_workers_join_once_and_agree(tmp_path):
    results, errors = [], []

    def worker():
        try:
            results.append(join_bundled_base(tmp_path / "shared"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert verify_joined(results[0])
