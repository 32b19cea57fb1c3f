"""Shared test helpers: tiny generated audio and a test-only source of files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pipelines.sources.base import Source, SourceSettings
from schemas import SourceItem, make_key


def tone(seconds: float, rate: int = 44_100, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def write_wav(path: Path, seconds: float = 1.0, rate: int = 44_100, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, rate, **kw), rate, subtype="PCM_16")
    return path


class FilesSource(Source):
    """Test-only adapter: one item per given file, transcript = file stem."""

    name = "test-files"
    needs_input = False

    def __init__(self, paths: list[Path], settings: SourceSettings | None = None) -> None:
        super().__init__(settings or SourceSettings())
        self.paths = paths

    def items(self):
        for path in self.paths:
            yield SourceItem(
                key=make_key("files", path.stem),
                uri=str(path),
                dataset="test-files",
                source_id=path.stem,
                language="en",
                transcript=f"sample {path.stem.replace('_', ' ')}",
                gender="female",
                emotion="happy",
                labels=("speech",),
            )


@pytest.fixture
def bad_and_good_files(tmp_path: Path) -> dict[str, Path]:
    """Three good WAVs (44.1 kHz mono, 22.05 kHz stereo, FLAC) and four bad inputs."""
    d = tmp_path / "in"
    files = {
        "good_a": write_wav(d / "good_a.wav", 1.5),
        "good_b": write_wav(d / "good_b.wav", 0.8, rate=22_050, channels=2),
        "good_c": d / "good_c.flac",
        "empty": d / "empty.wav",
        "truncated": d / "truncated.wav",
        "not_audio": d / "not_audio.wav",
        "missing": d / "missing.wav",
    }
    sf.write(files["good_c"], tone(1.2, 16_000), 16_000, format="FLAC")
    files["empty"].write_bytes(b"")
    full = write_wav(d / "full.wav", 2.0).read_bytes()
    files["truncated"].write_bytes(full[:40])  # header cut short: no audio frames at all
    (d / "full.wav").unlink()
    files["not_audio"].write_text("this is a text file, not a WAV\n" * 20)
    return files
