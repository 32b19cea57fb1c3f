"""Multi-speaker recordings with known turns, spoken by the house's espeak-ng voices.

Each speaker is one espeak-ng voice variant (``transforms.tts.VARIANTS``: three male, three female)
speaking one language; a turn is one to four sentences of :data:`tests.segment.speech.STORY` or a
short reply, turns follow one another after a pause, and some start before the previous ends
(overlapped speech, mixed). Everything is ground truth: the turns, each word's timing and speaker.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from schemas import SAMPLE_RATE, WordAlignment
from tests.segment.speech import PARAGRAPHS, STORY, _sentences

REPLIES = {
    "en": ["Yes, of course.", "I see.", "Really?", "That is right.", "No, not at all."],
    "fr": ["Oui, bien sûr.", "Je vois.", "Vraiment?", "C'est exact.", "Non, pas du tout."],
    "de": ["Ja, natürlich.", "Ich verstehe.", "Wirklich?", "Das stimmt.", "Nein, gar nicht."],
}


@dataclass(frozen=True)
class Conversation:
    audio: np.ndarray  # 48 kHz float32
    words: tuple[WordAlignment, ...]  # absolute times
    word_speakers: tuple[str, ...]
    turns: tuple[tuple[float, float, str], ...]  # (start, end, speaker), the truth
    voices: dict[str, tuple[str, str, str]]  # speaker -> (variant, language, gender)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def transcript(self) -> str:
        return " ".join(w.word for w in self.words)


@functools.cache
def _said(text: str, language: str, variant: str) -> tuple[np.ndarray, tuple[WordAlignment, ...]]:
    import soxr

    from transforms.tts import synthesize

    speech = synthesize(text, language, variant=variant)
    audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
    return audio, speech.words


def _sentences_of(language: str) -> list[str]:
    return [s for p in PARAGRAPHS[language] for s in _sentences(p)] + STORY[language]


def conversation(
    seed: int,
    n_speakers: int = 2,
    n_turns: int = 8,
    languages: tuple[str, ...] = ("en", "fr", "de"),
    variants: tuple[str, ...] | None = None,
    pause_s: tuple[float, float] = (0.2, 2.0),
    overlap_share: float = 0.15,
    max_sentences: int = 4,
) -> Conversation:
    """A recording of ``n_turns`` turns among ``n_speakers`` voices (see the module docstring)."""
    from transforms.tts import VARIANTS

    rng = np.random.default_rng(seed)
    pool = list(variants or rng.permutation(sorted(VARIANTS)))[:n_speakers]
    voices = {f"v{i}": (v, str(rng.choice(languages)), VARIANTS[v]) for i, v in enumerate(pool)}
    names = list(voices)
    pieces: list[tuple[int, np.ndarray]] = []
    words: list[WordAlignment] = []
    owners: list[str] = []
    turns: list[tuple[float, float, str]] = []
    cursor, previous = 0.0, None
    for _ in range(n_turns):
        speaker = str(rng.choice([n for n in names if n != previous] if len(names) > 1 else names))
        variant, language, _ = voices[speaker]
        if rng.random() < 0.15:
            text = str(rng.choice(REPLIES[language]))
        else:
            pool_s = _sentences_of(language)
            first = int(rng.integers(len(pool_s)))
            text = " ".join(pool_s[(first + k) % len(pool_s)] for k in range(int(rng.integers(1, max_sentences + 1))))
        audio, said = _said(text, language, variant)
        if turns and rng.random() < overlap_share:
            start = max(turns[-1][0] + 0.5, turns[-1][1] - float(rng.uniform(0.3, 1.0)))
        else:
            start = cursor + (float(rng.uniform(*pause_s)) if turns else 0.3)
        first_s, last_s = said[0].start_s, said[-1].start_s + said[-1].duration_s
        offset = start - first_s
        pieces.append((int(round(offset * SAMPLE_RATE)), audio))
        words += [WordAlignment(w.word, round(w.start_s + offset, 4), w.duration_s) for w in said]
        owners += [speaker] * len(said)
        turns.append((round(start, 4), round(last_s + offset, 4), speaker))
        cursor, previous = max(cursor, last_s + offset), speaker
    total = max(first + len(a) for first, a in pieces) + SAMPLE_RATE // 2
    mix = np.zeros(total, dtype=np.float32)
    for first, a in pieces:
        mix[first : first + len(a)] += a
    order = np.argsort([w.start_s for w in words], kind="stable")
    return Conversation(mix, tuple(words[i] for i in order), tuple(owners[i] for i in order), tuple(turns), voices)
