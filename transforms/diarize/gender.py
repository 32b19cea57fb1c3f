"""A speaker's gender from the pitch of their voice, estimated once per speaker (not per segment).

The median F0 over the speaker's voiced frames (pYIN, :mod:`transforms.attributes.pitch`: the F0
tracks the diarization measured, else :func:`~transforms.attributes.pitch.estimate_pitch` on the
audio) on up to ``max_seconds`` of their longest turns (overlapped speech left out) is compared with
the boundary between typical adult male (about 85-155 Hz) and female (165-255 Hz) voices,
``BOUNDARY_HZ``. The confidence is a logistic function of the distance from it in semitones:
0.5 at the boundary, 0.97 at 120 or 210 Hz. Children, falsetto, very low female and high male
voices are where this fails; ``bench/diarize.py`` measures the accuracy on labelled espeak-ng
voices, which is what the default ``--gender-min-confidence`` is chosen on.

A dataset's own gender label always wins: :func:`caption_gender` returns it when there is one,
the estimate only when the item has none and the estimate is confident enough.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from transforms.diarize.turns import Diarization, overlapped

BOUNDARY_HZ = 160.0
SCALE_SEMITONES = 1.4
METHOD = "pitch:pyin"


def gender_from_f0(median_hz: float | None) -> tuple[str, float]:
    """(``male``/``female``/``unknown``, confidence in 0.5..1) from a median F0."""
    if not median_hz or median_hz <= 0:
        return "unknown", 0.0
    semitones = 12.0 * math.log2(median_hz / BOUNDARY_HZ)
    confidence = 1.0 / (1.0 + math.exp(-abs(semitones) / SCALE_SEMITONES))
    return ("female" if semitones > 0 else "male"), round(confidence, 3)


def speaker_genders(
    audio16: Any, diarization: Diarization, sample_rate: int = 16_000, max_seconds: float = 30.0
) -> dict[str, dict[str, Any]]:
    """Each speaker's ``{"value", "confidence", "method", "median_f0_hz", "seconds"}``."""
    from transforms.attributes.pitch import estimate_pitch

    out: dict[str, dict[str, Any]] = {}
    for speaker in diarization.speakers:
        mine = sorted(
            (
                t
                for t in diarization.turns
                if t.speaker == speaker and not overlapped(t.start_s, t.end_s, diarization.overlaps)
            ),
            key=lambda t: -t.duration_s,
        ) or sorted((t for t in diarization.turns if t.speaker == speaker), key=lambda t: -t.duration_s)
        spans, total = [], 0.0
        for t in mine:
            take = min(t.duration_s, max_seconds - total)
            if take <= 0.1:
                break
            spans.append((t.start_s, t.start_s + take))
            total += take
        if diarization.f0:
            median_hz = _tracked_median(diarization.f0, spans)
        else:
            pieces = [
                np.asarray(audio16[int(a * sample_rate) : int(b * sample_rate)], dtype=np.float32) for a, b in spans
            ]
            audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
            median_hz = estimate_pitch(audio, sample_rate, max_seconds=max_seconds).median_hz
        value, confidence = gender_from_f0(median_hz)
        out[speaker] = {
            "value": value,
            "confidence": confidence,
            "method": METHOD,
            "median_f0_hz": median_hz,
            "seconds": round(total, 2),
        }
    return out


def _tracked_median(tracks: tuple[tuple[float, Any], ...], spans: list[tuple[float, float]]) -> float | None:
    """The median F0 of the voiced frames the diarization's tracks hold inside ``spans`` (s)."""
    from transforms.diarize.pitch_track import FRAME_S

    voiced = []
    for start_s, track in tracks:
        end_s = start_s + len(track) * FRAME_S
        for a, b in spans:
            if b > start_s and a < end_s:
                lo, hi = max(0, int((a - start_s) / FRAME_S)), int(np.ceil((b - start_s) / FRAME_S))
                frames = track[lo:hi]
                voiced.append(frames[frames > 0])
    hz = np.concatenate(voiced) if voiced else np.zeros(0)
    return round(float(np.median(hz)), 2) if len(hz) else None


def caption_gender(item_gender: str, diarization_record: dict[str, Any] | None) -> str:
    """The gender a caption says: the dataset's own label when it has one; else the speaker's
    estimate when its confidence reaches the threshold the record carries; else ``unknown``."""
    if (item_gender and item_gender != "unknown") or not diarization_record:
        return item_gender
    estimate = diarization_record.get("gender") or {}
    threshold = diarization_record.get("gender_min_confidence", 1.0)
    if estimate.get("value") in ("male", "female") and estimate.get("confidence", 0.0) >= threshold:
        return str(estimate["value"])
    return item_gender
