"""Tiny generated audio and samples shared by the augment tests."""

from __future__ import annotations

import numpy as np
import pytest

from augment.noise import NoiseBank, brown_noise, hum, white_noise
from schemas import SAMPLE_RATE, Caption, Segment, SourceItem
from transforms.stage import Sample


def speech_like(duration_s: float = 1.0, seed: int = 0) -> np.ndarray:
    """A voiced-ish test signal: harmonics of a gliding 120-200 Hz pitch with a syllable envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 80 * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t + rng.uniform(0, np.pi))
    return (0.2 * voiced * envelope).astype(np.float32)


def make_sample(
    key: str = "demo-en-0001", transcript: str | None = "It's raining outside", seconds: float = 1.0
) -> Sample:
    item = SourceItem(key=key, uri=f"demo://{key}", dataset="demo", source_id=key, language="en", transcript=transcript)
    segment = Segment(source_key=key, index=0, start_s=0.0, duration_s=seconds, transcript=transcript)
    text = f"A male saying {transcript} in a happy voice" if transcript else "A dog barking"
    return Sample(
        item=item,
        audio=speech_like(seconds),
        segment=segment,
        captions=[Caption(text=text, language="en", origin="template")],
        tags=["speech"] if transcript else ["dog"],
    )


@pytest.fixture(scope="session")
def small_bank() -> NoiseBank:
    return NoiseBank(
        entries=(
            ("white noise", white_noise(2.0, 1)),
            ("brown noise", brown_noise(2.0, 2)),
            ("electrical hum", hum(0.5, 3)),
        ),
        name="test",
    )
