"""What the Whisper handlers take and give: a clip to transcribe and its transcription.

Apart from the handlers so that the long-form path and the decode checks can name them without
importing the handlers (which import those modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas import WordAlignment

WHISPER_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class ClipRequest:
    """One clip to transcribe: mono float32 audio at 16 kHz and the language if known."""

    key: str
    audio: np.ndarray
    language: str | None = None

    @property
    def duration_s(self) -> float:
        return len(self.audio) / WHISPER_SAMPLE_RATE


@dataclass(frozen=True)
class Transcription:
    """What Whisper heard in a clip, with the figures that reveal hallucinations."""

    key: str
    text: str
    words: tuple[WordAlignment, ...]
    language: str | None
    language_probability: float | None
    language_detected: bool
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float
    duration_s: float
    extra: dict[str, Any] = field(default_factory=dict)
