"""Speaker-true segments: the segment stage's use of :mod:`transforms.diarize`.

With ``--diarize``, an item the stage cuts (longer than ``max_segment_s``) and at least
``diarize_min_s`` long is diarized before its cut: the Silero VAD regions the long-form path uses
(:func:`transforms.segment.longform.speech_regions`, a piece at a time), speaker embeddings of
their windows, clustering and turns. Each word belongs to the speaker whose turn covers most of it
(by its timestamps); a boundary between words of two speakers, the word boundary at a detected
change of speaker (even where the clustering merged the two voices) and the boundaries around a word
that overlaps another in time are forced cuts of the plan
(:func:`transforms.segment.cut.plan_segments`, :func:`transforms.diarize.turns.forced_cuts`), so no
segment and no transcript holds two speakers' words. Each segment's ``original_data.diarization`` says its speaker (recording-local ``S1``,
``S2``, ... in order of first appearance), its turn, the number of speakers, whether it holds
overlapped speech, the model, and the speaker's estimated gender (``transforms/diarize/gender.py``).
With one speaker there is no forced cut: the segments are those of the stage without ``--diarize``.
"""

from __future__ import annotations

from typing import Any

from schemas import WordAlignment
from transforms.diarize.core import DiarizeParams, diarize
from transforms.diarize.gender import speaker_genders
from transforms.diarize.turns import Diarization, overlapped, overlapping_words, word_speakers
from transforms.segment.cut import PlannedSegment
from transforms.segment.options import SegmentSettings

WHISPER_SAMPLE_RATE = 16_000


def wants_diarization(settings: SegmentSettings, duration_s: float) -> bool:
    return settings.diarize and duration_s >= settings.diarize_min_s


def params_of(settings: SegmentSettings) -> DiarizeParams:
    return DiarizeParams(
        threshold=settings.diarize_threshold,
        num_speakers=settings.num_speakers,
        max_speakers=settings.max_speakers,
    )


def diarize_recording(audio16: Any, encoder: Any, settings: SegmentSettings) -> Diarization:
    """Turns and per-speaker gender of a recording at 16 kHz (an array or ``At16k``)."""
    from dataclasses import replace

    from transforms.segment.longform import speech_regions

    found = diarize(audio16, speech_regions(audio16), encoder, params_of(settings))
    return replace(found, genders=speaker_genders(audio16, found, WHISPER_SAMPLE_RATE))


def segment_records(
    diarization: Diarization,
    words: tuple[WordAlignment, ...] | list[WordAlignment],
    plan: list[PlannedSegment],
    settings: SegmentSettings,
) -> list[dict[str, Any]]:
    """``original_data.diarization`` of each planned segment."""
    owners = word_speakers(words, diarization.turns)
    two_at_once = overlapping_words(words)  # words of two voices at once: overlapped speech
    base: dict[str, Any] = {"num_speakers": diarization.num_speakers, "model": diarization.model}
    out = []
    for part in plan:
        record = dict(base)
        first, last = owners[part.first_word], owners[part.last_word]
        if first >= 0:
            turn = diarization.turns[first]
            record.update(
                speaker=turn.speaker,
                turn_start_s=turn.start_s,
                turn_end_s=diarization.turns[last].end_s,
                overlap=overlapped(part.start_s, part.end_s, diarization.overlaps)
                or any(k in two_at_once for k in range(part.first_word, part.last_word + 1)),
            )
            gender = diarization.genders.get(turn.speaker)
            if gender is not None:
                record.update(gender=gender, gender_min_confidence=settings.gender_min_confidence)
        out.append(record)
    return out
