"""Caption combination t̂ = f(p^t + t_i + t_j) (paper §III-A2, Eq. 1, Fig. 2).

``p^t`` is a prefix template, ``t_i`` the sample's own text (its transcript for speech, its
description otherwise) and ``t_j`` the background sound's label; effect phrases describe the
other augmentations (Fig. 2's meta information m_n: audio quality and the like). The template
is chosen deterministically from the sample key, so reruns give the same caption.

This concatenative caption is always produced: it is the fallback of every neural step
(LLM rewriting, translation) downstream.
"""

from __future__ import annotations

import hashlib
from typing import Any

SPEECH_TEMPLATES: tuple[str, ...] = (
    "A person saying {transcript}, background {noise}",
    "Someone saying {transcript} with {noise} in the background",
    "A voice saying {transcript} over {noise}",
    "{noise} in the background while a person says {transcript}",
)
"""Templates for samples with a transcript (the paper's 'A person saying {}, background {}')."""

DESCRIPTION_TEMPLATES: tuple[str, ...] = (
    "{description}, background {noise}",
    "{description}, with {noise} in the background",
    "{description} over {noise}",
)
"""Templates for samples described without a transcript (sound events, descriptions)."""

NO_NOISE_TEMPLATES: tuple[str, ...] = ("A person saying {transcript}",)

EFFECT_PHRASES: dict[str, str] = {
    "reverb": "in a reverberant room",
    "clip": "with distorted, clipped audio",
    "mask": "with audio dropouts",
    "pitch_up": "with the pitch shifted up",
    "pitch_down": "with the pitch shifted down",
    "gain_quiet": "recorded quietly",
    "gain_loud": "recorded loudly",
}


def choose(options: tuple[str, ...], key: str, salt: str = "") -> str:
    """Pick one of ``options`` deterministically from ``key`` (stable across processes)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def effect_phrase(name: str, params: dict[str, Any]) -> str | None:
    """A short phrase describing an applied effect, or ``None`` when it is not worth saying."""
    if name == "pitch":
        return EFFECT_PHRASES["pitch_up" if params.get("semitones", 0) > 0 else "pitch_down"]
    if name == "gain":
        gain_db = params.get("gain_db", 0.0)
        if gain_db <= -10:
            return EFFECT_PHRASES["gain_quiet"]
        return EFFECT_PHRASES["gain_loud"] if gain_db >= 4 else None
    return EFFECT_PHRASES.get(name)


def _squash(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def _quote(transcript: str) -> str:
    text = " ".join(transcript.split())
    return f"'{text}'" if text and text[0] not in "'\"“«" else text


def combine_caption(
    key: str,
    transcript: str | None,
    description: str | None,
    noise_label: str | None,
    effects: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
) -> str:
    """t̂ = f(p^t + t_i + t_j): prefix template + the sample's text + the noise label (+ effects).

    t_i is the sample's description when it has one that already says the transcript (it keeps
    Fig. 2's meta information m_n: gender, emotion), else the quoted transcript as in the paper's
    example ("A person saying It's raining outside, background wind noise"), else the description.
    A quoted transcript lets later steps (and the rewrite validator) find it verbatim.
    """
    if not transcript and not description:
        raise ValueError("a caption needs a transcript or a description")
    if transcript and not (description and _squash(transcript) in _squash(description)):
        t_i = _quote(transcript)
        if noise_label:
            caption = choose(SPEECH_TEMPLATES, key, "speech").format(transcript=t_i, noise=noise_label)
        else:
            caption = choose(NO_NOISE_TEMPLATES, key, "plain").format(transcript=t_i)
    else:
        base = " ".join(str(description).split()).rstrip(".")
        caption = (
            choose(DESCRIPTION_TEMPLATES, key, "desc").format(description=base, noise=noise_label)
            if noise_label
            else base
        )
    phrases = [p for p in (effect_phrase(n, params) for n, params in effects) if p]
    if phrases:
        caption = f"{caption}, {', '.join(phrases)}"
    return caption[0].upper() + caption[1:]
