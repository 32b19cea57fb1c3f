"""Noise bank sources: a folder of audio files, labelled pairs, the generated default (transforms/noise_bank.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile

from schemas import SAMPLE_RATE
from transforms.noise_bank import (
    NoiseBankLoader,
    bank_from_labelled_uris,
    folder_bank,
    generated_bank,
    label_from_path,
)


def write_noise(path: Path, seconds: float, rate: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)


def test_folder_bank_labels_by_class_folder_and_resamples_to_48k(tmp_path: Path) -> None:
    write_noise(tmp_path / "dog_bark" / "100.wav", 0.5, 16_000)
    write_noise(tmp_path / "street_music" / "7.flac", 0.25, 44_100)
    (tmp_path / "notes.txt").write_text("not audio")
    bank = folder_bank(str(tmp_path))
    assert sorted(bank.labels) == ["dog bark", "street music"]
    sizes = {label: audio.size for label, audio in bank.entries}
    assert sizes == {"dog bark": SAMPLE_RATE // 2, "street music": SAMPLE_RATE // 4}


def test_labels_come_from_folders_or_esc50_style_file_names() -> None:
    assert label_from_path("/d/car_horn/1.wav", "/d") == "car horn"
    assert label_from_path("/d/1-100032-A-0-rain.wav", "/d") == "rain"


def test_undecodable_and_silent_files_are_skipped(tmp_path: Path) -> None:
    write_noise(tmp_path / "good.wav", 0.1, SAMPLE_RATE)
    soundfile.write(tmp_path / "silent.wav", np.zeros(480, dtype=np.float32), SAMPLE_RATE)
    (tmp_path / "broken.wav").write_bytes(b"RIFF nonsense")
    pairs = [
        ("good", str(tmp_path / "good.wav")),
        ("silent", str(tmp_path / "silent.wav")),
        ("broken", str(tmp_path / "broken.wav")),
    ]
    assert bank_from_labelled_uris(pairs).labels == ["good"]


def test_max_clips_keeps_a_stable_subset(tmp_path: Path) -> None:
    for i in range(6):
        write_noise(tmp_path / f"c{i}" / "x.wav", 0.05, SAMPLE_RATE, seed=i)
    first = folder_bank(str(tmp_path), max_clips=3).labels
    assert len(first) == 3 and first == folder_bank(str(tmp_path), max_clips=3).labels


def test_generated_bank_has_babble_from_tts_voices() -> None:
    bank = generated_bank(seed=0, duration_s=1.0)
    assert "crowd babble" in bank.labels and len(bank) == 6
    babble = dict(bank.entries)["crowd babble"]
    assert babble.size == SAMPLE_RATE and np.std(babble) > 0.05


def test_loader_is_picklable_and_the_built_stage_uses_it(tmp_path: Path) -> None:
    from pipelines.options import config_from
    from transforms.augment import build_augment

    write_noise(tmp_path / "hiss" / "1.wav", 0.1, SAMPLE_RATE)
    stage = build_augment(config_from({"augment": "noise", "noise_source": "folder", "noise_input": str(tmp_path)}))
    stage = pickle.loads(pickle.dumps(stage))
    stage.setup()
    assert stage.noise_bank is not None and stage.noise_bank.labels == ["hiss"]
    loader = NoiseBankLoader("generated", None, max_clips=200, seed=0)
    assert pickle.loads(pickle.dumps(loader)) == loader


def test_folder_source_needs_an_input() -> None:
    with pytest.raises(ValueError, match="noise-input"):
        NoiseBankLoader("folder", None, max_clips=200, seed=0)()


def test_a_bank_whose_every_file_fails_costs_the_noisy_copies_not_the_job(tmp_path: Path) -> None:
    from pipelines.options import config_from
    from tests.augment.conftest import make_sample
    from transforms.augment import build_augment

    (tmp_path / "broken.wav").write_bytes(b"RIFF nonsense")
    stage = build_augment(config_from({"augment": "noise", "noise_source": "folder", "noise_input": str(tmp_path)}))
    stage.setup()
    sample = make_sample()
    kept, failures = stage.process([sample])
    assert kept == [sample]
    assert [(f.stage, f.reason) for f in failures] == [("augment", "augment_error")]
    assert "no noise bank" in failures[0].detail


def test_noise_files_past_the_duration_cap_stay_out_of_the_bank(tmp_path: Path) -> None:
    from transforms.noise_bank import NoiseDecoding, load_labelled_uris

    write_noise(tmp_path / "short.wav", 0.5, SAMPLE_RATE)
    write_noise(tmp_path / "long.flac", 3.0, 16_000)
    pairs = [("short", str(tmp_path / "short.wav")), ("long", str(tmp_path / "long.flac"))]
    entries, failures = load_labelled_uris(pairs, decoding=NoiseDecoding(max_duration_s=2.0))
    assert [label for label, _ in entries] == ["short"]
    assert [(f.key, f.reason) for f in failures] == [("noise-test_noise_files_past_the_dura0-long_flac", "too_long")]
