"""Diarization on multi-speaker espeak-ng recordings with known turns, and a long recording's memory.

    python bench/diarize.py [--recordings 10] [--threshold 0.15]
    python bench/diarize.py --longform-minutes 120

The recordings (``tests/diarize/conversation.py``): 2-6 voices (espeak-ng variants m1/m3/m7/f1/f2/f4,
each speaking en, fr or de), turns of one to four sentences or a short reply (1-20 s), pauses of
0.2-2 s, 15 % of turns starting 0.3-1 s before the previous one ends (overlapped, mixed). Each goes
through the segment stage as a build would (``--diarize``, the true word timings as the aligner's),
and the bench prints:

- DER (``pyannote.metrics``, 0.25 s collar each side, overlapped speech scored), with the
  baseline of one speaker for the whole recording beside it;
- the share of segments holding words of two true speakers, against the same cut without
  ``--diarize`` (the baseline);
- gender accuracy per speaker where estimated, and where confident enough for captions;
- cost: audio seconds per CPU second of the diarization alone (VAD, embeddings, clustering, pitch).

``--longform-minutes`` builds one long recording (the same conversations end to end, spooled to
disk as the decode stage does) and runs the segment stage over it in a child process: its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import soxr

from tests.diarize.conversation import conversation
from tests.segment.speech import make_sample


def _der(truth, turns) -> tuple[float, float]:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp, one = Annotation(), Annotation(), Annotation()
    for s, e, who in truth:
        ref[Segment(s, e)] = who
    for t in turns:
        hyp[Segment(t.start_s, t.end_s)] = t.speaker
    one[Segment(min(s for s, _, _ in truth), max(e for _, e, _ in truth))] = "A"
    metric = DiarizationErrorRate(collar=0.5)  # pyannote's collar is the total width: 0.25 s each side
    details = metric(ref, hyp, detailed=True)
    base = DiarizationErrorRate(collar=0.5)(ref, one, detailed=True)
    return details, base


def _spanning(out, conv) -> int:
    starts = np.array([w.start_s for w in conv.words])
    n = 0
    for s in out:
        owners = {
            conv.word_speakers[int(np.argmin(np.abs(starts - (s.segment.start_s + w.start_s))))]
            for w in s.segment.words
        }
        n += len(owners) > 1
    return n


def recordings(count: int, threshold: float) -> None:
    from transforms.diarize.core import diarize
    from transforms.diarize.gender import speaker_genders
    from transforms.segment import SegmentStage
    from transforms.segment.longform import speech_regions
    from transforms.segment.speakers import params_of

    stage = SegmentStage(aligner="given", diarize=True, diarize_min_s=0.0, diarize_threshold=threshold)
    stage.setup()
    plain = SegmentStage(aligner="given")
    totals = {"err": 0.0, "total": 0.0, "base_err": 0.0, "segs": 0, "span": 0, "base_segs": 0, "base_span": 0}
    genders, audio_s, cpu_s = [], 0.0, 0.0
    for seed in range(count):
        n = 2 + seed % 5
        conv = conversation(seed, n_speakers=n, n_turns=3 * n + 2)
        a16 = soxr.resample(conv.audio, 48000, 16000).astype(np.float32)
        start = time.process_time()
        found = diarize(a16, speech_regions(a16), stage.speaker_encoder, params_of(stage.settings))
        estimates = speaker_genders(a16, found)
        cpu_s += time.process_time() - start
        audio_s += conv.duration_s
        details, base = _der(conv.turns, found.turns)
        totals["err"] += details["confusion"] + details["missed detection"] + details["false alarm"]
        totals["total"] += details["total"]
        totals["base_err"] += base["confusion"] + base["missed detection"] + base["false alarm"]
        sample = make_sample(f"c{seed}", conv.audio, "en", conv.transcript, conv.words)
        out, _ = stage.process([sample])
        ref, _ = plain.process([sample])
        totals["segs"] += len(out)
        totals["span"] += _spanning(out, conv)
        totals["base_segs"] += len(ref)
        totals["base_span"] += _spanning(ref, conv)
        genders += _gender_rows(found, estimates, conv)
        print(
            f"seed {seed}: {n} voices {[v[0] + '/' + v[1] for v in conv.voices.values()]}, found {found.num_speakers}; "
            f"{conv.duration_s:.0f} s; DER {details['diarization error rate']:.3f} (one speaker: {base['diarization error rate']:.3f}); "
            f"segments spanning a change {_spanning(out, conv)}/{len(out)} (no --diarize: {_spanning(ref, conv)}/{len(ref)})",
            flush=True,
        )
    _summary(totals, genders, audio_s, cpu_s, stage.settings.gender_min_confidence)


def _gender_rows(found, estimates, conv) -> list[tuple[str, float, str]]:
    """(estimated, confidence, true) per found speaker, true = the voice speaking most of its turns."""
    rows = []
    for speaker in found.speakers:
        share: dict[str, float] = {}
        for t in found.turns:
            if t.speaker != speaker:
                continue
            for s, e, who in conv.turns:
                share[who] = share.get(who, 0.0) + max(0.0, min(e, t.end_s) - max(s, t.start_s))
        if share:
            truth = conv.voices[max(share, key=share.get)][2]
            rows.append((estimates[speaker]["value"], estimates[speaker]["confidence"], truth))
    return rows


def _summary(t, genders, audio_s, cpu_s, min_confidence) -> None:
    right = [g == truth for g, _, truth in genders]
    sure = [g == truth for g, c, truth in genders if c >= min_confidence]
    print(
        f"\nDER (collar 0.25 s): {t['err'] / t['total']:.2%} vs one speaker per recording {t['base_err'] / t['total']:.2%}"
        f" ({t['base_err'] / max(t['err'], 1e-9):.1f}x lower)\n"
        f"segments spanning a true change: {t['span']}/{t['segs']} = {t['span'] / t['segs']:.2%}"
        f" vs {t['base_span']}/{t['base_segs']} = {t['base_span'] / t['base_segs']:.2%} without --diarize\n"
        f"gender per speaker: {sum(right)}/{len(right)} right = {np.mean(right):.1%}; at confidence >= {min_confidence}: "
        f"{sum(sure)}/{len(sure)} = {np.mean(sure) if sure else float('nan'):.1%} ({len(sure)}/{len(genders)} speakers captioned)\n"
        f"cost: {audio_s:.0f} s of audio in {cpu_s:.1f} CPU s = {audio_s / cpu_s:.1f} audio-s per CPU-s"
    )


def gender_confidence(min_confidence: float) -> None:
    """Gender accuracy of the pitch estimate on single voices: every variant, language and style."""
    from tests.segment.speech import STORY
    from transforms.attributes.pitch import estimate_pitch
    from transforms.diarize.gender import gender_from_f0
    from transforms.tts import STYLES, VARIANTS, synthesize

    rows = []
    for variant, truth in VARIANTS.items():
        for language in ("en", "fr", "de"):
            for style in STYLES:
                speech = synthesize(" ".join(STORY[language][:3]), language, variant, style)
                value, confidence = gender_from_f0(
                    estimate_pitch(speech.audio, speech.sample_rate, max_seconds=30).median_hz
                )
                rows.append((value == truth, confidence))
    for threshold in (0.5, 0.7, 0.8, 0.9, 0.95):
        kept = [ok for ok, c in rows if c >= threshold]
        print(
            f"confidence >= {threshold}: {sum(kept)}/{len(kept)} right ({np.mean(kept) if kept else float('nan'):.1%}), {len(kept)}/{len(rows)} voices captioned"
        )


def longform(minutes: float) -> None:
    """A recording of ``minutes``: conversations end to end, spooled; the stage in a child; its peak RSS."""
    command = [sys.executable, __file__, "--child-minutes", str(minutes)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    print(result.stdout.strip().splitlines()[-1])


def _child(minutes: float) -> None:
    from schemas import SAMPLE_RATE, WordAlignment
    from transforms.segment import SegmentStage
    from transforms.spooled import Spool, SpooledAudio

    spool, words, owners, offset, seed = Spool(), [], [], 0.0, 0
    while offset < minutes * 60:
        conv = conversation(seed % 20, n_speakers=2 + seed % 5, n_turns=12)
        spool.append(np.ascontiguousarray(conv.audio, dtype=np.float32))
        words += [WordAlignment(w.word, round(w.start_s + offset, 3), w.duration_s) for w in conv.words]
        owners += [f"{seed % 20}:{s}" for s in conv.word_speakers]
        offset += conv.duration_s
        seed += 1
    audio = SpooledAudio(spool)
    sample = make_sample("long", audio, "en", " ".join(w.word for w in words), tuple(words))
    stage = SegmentStage(aligner="given", diarize=True)
    stage.setup()
    wall, cpu = time.time(), time.process_time()
    out, failures = stage.process([sample])
    wall, cpu = time.time() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    speakers = {s.original_data["diarization"]["num_speakers"] for s in out}
    print(
        json.dumps(
            {
                "audio_s": round(len(audio) / SAMPLE_RATE),
                "segments": len(out),
                "failures": len(failures),
                "num_speakers": sorted(speakers),
                "wall_s": round(wall),
                "cpu_s": round(cpu),
                "peak_rss_mib": round(rss),
                "pid": os.getpid(),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.15)
    parser.add_argument("--gender", action="store_true", help="instead: gender accuracy by confidence on single voices")
    parser.add_argument("--min-confidence", type=float, default=0.9)
    parser.add_argument("--longform-minutes", type=float)
    parser.add_argument("--child-minutes", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_minutes:
        _child(args.child_minutes)
    elif args.longform_minutes:
        longform(args.longform_minutes)
    elif args.gender:
        gender_confidence(args.min_confidence)
    else:
        recordings(args.recordings, args.threshold)
