"""The demo source: one ``tts://`` item per utterance (see :mod:`pipelines.sources.demo`)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from pipelines.sources.base import Source, SourceError
from pipelines.sources.demo.texts import sentences_for
from pipelines.sources.demo.video import DEFAULT_CACHE, video_items
from schemas import SourceItem, make_key
from schemas.vocab import normalize_language
from transforms.tts import STYLES, VARIANTS, available_languages, tts_uri

DEFAULT_ITEMS = 60
LONG_EVERY = 4
LONG_SENTENCES = (5, 7)


class DemoSource(Source):
    name = "demo"
    description = "Embedded TTS corpus (espeak-ng): speech in any espeak-ng language, 6 voices, 4 styles"
    layout = "no input: synthesised in-process for --lang (--demo-items, default 60; --demo-videos, default 0)"
    needs_input = False
    stage_defaults = {"augment": "noise,reverb", "augment_copies": 1, "translate_to": "fr,de,es"}
    """What the demo shows unless told otherwise: one noise-mixed/reverberated copy per sample
    and lexicon translations of the label captions (``--augment none --translate-to none`` to skip)."""

    def check(self) -> None:
        lang = self.settings.language
        if lang not in available_languages():
            raise SourceError(f"espeak-ng has no voice for language '{lang}' (try en, fr, de, es, it, pt, nl, ...)")
        sentences_for(lang)
        if self.count <= 0:
            raise SourceError(f"--demo-items must be positive, got {self.count}")

    @property
    def count(self) -> int:
        return int(self.settings.options.get("items", DEFAULT_ITEMS))

    def items(self) -> Iterator[SourceItem]:
        lang, seed = self.settings.language, self.settings.seed
        sentences = sentences_for(lang, seed=seed)
        variants, styles = sorted(VARIANTS), sorted(STYLES)
        for i in range(self.count):
            rng = random.Random(f"demo:{lang}:{seed}:{i}")
            variant, style = rng.choice(variants), rng.choice(styles)
            n_sentences = rng.randint(*LONG_SENTENCES) if i % LONG_EVERY == LONG_EVERY - 1 else 1
            text = " ".join(rng.sample(sentences, n_sentences))
            yield SourceItem(
                key=make_key("demo", lang, f"{seed}", f"{i:05d}"),
                uri=tts_uri(text, lang, variant, style),
                dataset="demo",
                source_id=f"{lang}/{seed}/{i:05d}",
                language=normalize_language(lang),
                transcript=text,
                speaker_id=f"espeak-{lang}-{variant}",
                gender=VARIANTS[variant],
                emotion=style,
                labels=("speech",),
                license="synthetic (espeak-ng, GPL-3.0 voices); text CC0 by clara-corpus",
                duration_hint_s=round(len(text) / 14.0, 2),
                extra={"tts_voice": f"{lang}+{variant}", "tts_style": style},
            )
        videos = int(self.settings.options.get("videos", 0))
        if videos:  # short synthetic videos with TTS narration, for the visual stage
            yield from video_items(
                lang, seed, videos, cache_dir=self.settings.options.get("video_cache", DEFAULT_CACHE)
            )
