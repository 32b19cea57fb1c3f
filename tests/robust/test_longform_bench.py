"""The long-form bench's short-item reference (bench/decode.py).

The long-form WER is an average over hundreds of paragraph placements (each window starts wherever
the VAD put its edge, 0-100 ms before the speech); Whisper tiny's WER on one paragraph moves by
several words with 10-20 ms more or less silence before it. The short items it is compared with
must be cut from the same recording with silence around them, at placements that vary as much,
not the TTS paragraphs alone, which all start on their first speech sample (a single, favourable
placement: 0.143 where random placements of the same paragraphs average 0.146-0.148).
"""

from __future__ import annotations

import numpy as np

from bench.decode import PAUSE_S, short_items
from schemas import SAMPLE_RATE


def _recording() -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    rng = np.random.default_rng(0)
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)
    parts, spans, at = [], [], 0
    for k in range(12):
        speech = (0.1 + rng.random(int((0.5 + 0.1 * k) * SAMPLE_RATE))).astype(np.float32)  # never zero
        parts += [speech, pause]
        spans.append((at, at + len(speech), k % 3))
        at += len(speech) + len(pause)
    return np.concatenate(parts), spans


def test_short_items_are_the_recordings_paragraphs_with_part_of_their_pauses_at_varied_placements():
    recording, spans = _recording()
    half = int(PAUSE_S * SAMPLE_RATE) // 2
    cuts = list(short_items(recording, spans))
    assert [k for k, _ in cuts] == list(range(len(spans)))
    leads = []
    for (_, audio), (start, end, _) in zip(cuts, spans):
        speech = np.flatnonzero(audio)
        lead, tail = int(speech[0]), len(audio) - 1 - int(speech[-1])
        assert np.array_equal(audio[lead : lead + end - start], recording[start:end]), "the paragraph whole"
        assert 0 <= lead <= half and 0 <= tail <= half, "only silence from its own pauses"
        leads.append(lead)
    assert len(set(leads)) == len(leads) and max(leads) - min(leads) > half // 2, "placements vary"
    again = list(short_items(recording, spans))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(cuts, again)), "seeded: the same cuts every run"
