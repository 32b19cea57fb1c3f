"""The embedded demo corpus: multilingual speech synthesised with espeak-ng, no download.

For a language ``LANG`` (any espeak-ng voice): sentences from a built-in text set (en, fr,
de, es, it, pt, nl) or, for other languages, number sentences spelled out by ``num2words``;
six voices (three male, three female espeak-ng variants) and four speaking styles mapped to
emotion labels (neutral, happy, sad, angry). Every fourth item is a paragraph of several
sentences (over 10 s, so segmentation has work); the others are one sentence. The speech
is synthesised where the shard is written (``tts://`` items), with espeak-ng's word
timings kept as ground-truth alignment. Same language, seed and size: same corpus.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from pipelines.sources.base import Source, SourceError
from schemas import SourceItem, make_key
from schemas.vocab import normalize_language
from transforms.tts import STYLES, VARIANTS, available_languages, tts_uri

TEXTS_PATH = Path(__file__).with_name("data") / "demo_texts.json"
DEFAULT_ITEMS = 60
LONG_EVERY = 4
LONG_SENTENCES = (5, 7)


@cache
def _builtin_texts() -> dict[str, list[str]]:
    return json.loads(TEXTS_PATH.read_text(encoding="utf-8"))


def sentences_for(language: str, count: int = 20, seed: int = 0) -> list[str]:
    """The sentence set of a language: built in, else spelled-out numbers via num2words."""
    texts = _builtin_texts()
    if language in texts:
        return list(texts[language])
    import num2words

    lang = language.replace("-", "_")
    if lang not in num2words.CONVERTER_CLASSES and lang.split("_")[0] not in num2words.CONVERTER_CLASSES:
        raise SourceError(
            f"no demo text for language '{language}': built-in sets are {', '.join(sorted(texts))}, "
            f"num2words covers {', '.join(sorted(k for k in num2words.CONVERTER_CLASSES if '_' not in k))}"
        )
    lang = lang if lang in num2words.CONVERTER_CLASSES else lang.split("_")[0]
    rng = random.Random(f"numbers:{language}:{seed}")
    out = []
    for _ in range(count):
        numbers = [rng.randint(2, 9999) for _ in range(rng.randint(3, 5))]
        out.append(", ".join(num2words.num2words(n, lang=lang) for n in numbers) + ".")
    return out


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
            from pipelines.sources.demo_video import DEFAULT_CACHE, video_items

            yield from video_items(
                lang, seed, videos, cache_dir=self.settings.options.get("video_cache", DEFAULT_CACHE)
            )
