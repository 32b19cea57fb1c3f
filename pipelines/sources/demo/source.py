"""The demo source: one ``tts://`` item per utterance (see :mod:`pipelines.sources.demo`)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from augment.noise import DEFAULT_LABELS
from pipelines.sources.base import Source, SourceError
from pipelines.sources.demo.prosody import draw_prosody
from pipelines.sources.demo.texts import sentences_for
from pipelines.sources.demo.video import DEFAULT_CACHE, video_items
from schemas import SourceItem, make_key
from schemas.text import paragraph_group
from schemas.vocab import normalize_language
from transforms.attributes.words import noise_level, reverberation_level
from transforms.tts import MORE_VARIANTS, STYLES, VARIANTS, Scene, available_languages, tts_uri

DEFAULT_ITEMS = 60
LONG_EVERY = 4
LONG_SENTENCES = (5, 7)
NOISY_SHARE, NOISE_SNR_DB = 0.5, (-5.0, 30.0)
"""Half the items get a noise of the generated bank at an SNR drawn uniformly in this range."""
ROOM_SHARE, ROOM_RT60_S = 0.5, (0.2, 1.2)
"""Half the items are heard in a room at an RT60 drawn uniformly in this range (the others dry)."""


def draw_scene(rng: random.Random) -> Scene:
    """The item's room and noise (each present for its share of the items)."""
    room = rng.random() < ROOM_SHARE
    rt60, rir_seed = round(rng.uniform(*ROOM_RT60_S), 3), rng.randrange(2**31)
    noisy = rng.random() < NOISY_SHARE
    snr, noise, offset = round(rng.uniform(*NOISE_SNR_DB), 1), rng.randrange(len(DEFAULT_LABELS)), rng.randrange(10**5)
    return Scene(rt60 if room else None, rir_seed if room else 0, snr if noisy else None, noise if noisy else 0,
                 offset if noisy else 0)  # fmt: skip


def paragraph(first: str, count: int, sentences: list[str], rng: random.Random) -> list[str]:
    """``count`` sentences for a paragraph: ``first``, then others of its band of sentence buckets
    (``schemas.text.paragraph_group``), so that protocol v2, which holds sentences out by the same
    buckets, finds a paragraph wholly held out or wholly seen instead of leaving its segments out as
    mixed. Sentences repeat only when the band has fewer than ``count``."""
    group = paragraph_group(first)
    others = [s for s in sentences if s != first and paragraph_group(s) == group]
    if len(others) >= count - 1:
        return [first, *rng.sample(others, count - 1)]
    return [first, *others, *rng.choices([first, *others], k=count - 1 - len(others))]


def truth_of(prosody: dict, scene: Scene) -> dict:
    """``original_data.extra.truth``: what the item was made with (``schemas.records.DemoTruth``)."""
    return {
        **prosody,
        "rt60_s": scene.rt60_s,
        "reverberation_level": reverberation_level(scene.rt60_s or 0.0),
        "snr_db": scene.snr_db,
        "noise": DEFAULT_LABELS[scene.noise] if scene.snr_db is not None else None,
        "noise_level": noise_level(scene.snr_db) if scene.snr_db is not None else "clean",
    }


class DemoSource(Source):
    name = "demo"
    description = "Embedded TTS corpus (espeak-ng): speech in any espeak-ng language, 6 voices, 4 styles"
    layout = "no input: synthesised in-process for --lang (--demo-items, default 60; --demo-videos, default 0)"
    needs_input = False
    stage_defaults = {
        "augment": "noise,reverb",
        "augment_copies": 1,
        "translate_to": "fr,de,es",
        "attributes": "rate,pitch,snr,reverberation",
    }
    """What the demo shows unless told otherwise: one noise-mixed/reverberated copy per sample,
    lexicon translations of the label captions (``--augment none --translate-to none`` to skip)
    and the measured attributes (``--attributes none`` to skip). DNSMOS is left out (``--attributes
    all`` adds it): it scores espeak-ng's clean speech "poor" (mean OVRL 1.67, docs/attributes.md),
    a caption the demo would teach as true, and it was 60 % of the demo build's CPU."""

    def check(self) -> None:
        lang = self.settings.language
        if lang not in available_languages():
            raise SourceError(f"espeak-ng has no voice for language '{lang}' (try en, fr, de, es, it, pt, nl, ...)")
        sentences_for(lang)
        if self.count <= 0:
            raise SourceError(f"--demo-items must be positive, got {self.count}")
        self.voices()

    def voices(self) -> dict[str, str]:
        """The espeak-ng variants speaking (``--source-option voices=m1,m2,...``; default the six of
        ``VARIANTS``) with their gender."""
        raw = self.settings.options.get("voices")
        if not raw:
            return dict(VARIANTS)
        known = {**VARIANTS, **MORE_VARIANTS}
        names = sorted({v.strip() for v in raw.split(",") if v.strip()})
        unknown = [v for v in names if v not in known]
        if unknown or not names:
            raise SourceError(f"demo voices {unknown or raw!r} unknown: choose among {', '.join(sorted(known))}")
        return {v: known[v] for v in names}

    @property
    def count(self) -> int:
        return int(self.settings.options.get("items", DEFAULT_ITEMS))

    def items(self) -> Iterator[SourceItem]:
        lang, seed = self.settings.language, self.settings.seed
        sentences = sentences_for(lang, seed=seed)
        voices = self.voices()
        variants, styles = sorted(voices), sorted(STYLES)
        for i in range(self.count):
            rng = random.Random(f"demo:{lang}:{seed}:{i}")
            variant, style = rng.choice(variants), rng.choice(styles)
            prosody = draw_prosody(rng, lang, variant, style, voices[variant])
            n_sentences = 1
            if i % LONG_EVERY == LONG_EVERY - 1:  # a paragraph: more sentences when spoken fast, so it stays > 10 s
                n_sentences = round(rng.randint(*LONG_SENTENCES) * max(1.0, prosody["speed_wpm"] / 175))
            picked = rng.sample(sentences, n_sentences)  # drawn as ever: the scene below follows these draws
            if n_sentences > 1:
                picked = paragraph(
                    picked[0], n_sentences, sentences, random.Random(f"demo-paragraph:{lang}:{seed}:{i}")
                )
            text = " ".join(picked)
            scene = draw_scene(rng)
            yield SourceItem(
                key=make_key("demo", lang, f"{seed}", f"{i:05d}"),
                uri=tts_uri(text, lang, variant, style, prosody["speed_wpm"], prosody["pitch"], scene),
                dataset="demo",
                source_id=f"{lang}/{seed}/{i:05d}",
                language=normalize_language(lang),
                transcript=text,
                speaker_id=f"espeak-{lang}-{variant}",
                gender=voices[variant],
                emotion=style,
                labels=("speech",),
                license="synthetic (espeak-ng, GPL-3.0 voices); text CC0 by clara-corpus",
                duration_hint_s=round(len(text) / 14.0 * 175 / prosody["speed_wpm"], 2),
                extra={"tts_voice": f"{lang}+{variant}", "tts_style": style, "truth": truth_of(prosody, scene)},
            )
        videos = int(self.settings.options.get("videos", 0))
        if videos:  # short synthetic videos with TTS narration, for the visual stage
            yield from video_items(
                lang, seed, videos, cache_dir=self.settings.options.get("video_cache", DEFAULT_CACHE)
            )
