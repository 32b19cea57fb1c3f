"""The demo corpus's sentences: 100 per language for en, fr, de (``demo_sentences.json``: no two
share a 3-word run, so protocol v2 can hold sentences out), a smaller built-in set for es, it, pt,
nl (``demo_texts.json``); spelled-out numbers (``num2words``) for any other language."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

from pipelines.sources.base import SourceError

TEXTS_PATH = Path(__file__).parents[1] / "data" / "demo_texts.json"
SENTENCES_PATH = Path(__file__).parents[1] / "data" / "demo_sentences.json"


@cache
def _builtin_texts() -> dict[str, list[str]]:
    """Each built-in language's sentences: the 100-sentence set where it has the language."""
    texts = json.loads(TEXTS_PATH.read_text(encoding="utf-8"))
    return {**texts, **json.loads(SENTENCES_PATH.read_text(encoding="utf-8"))}


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
