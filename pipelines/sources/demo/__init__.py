"""The embedded demo corpus: multilingual speech synthesised with espeak-ng, no download.

For a language ``LANG`` (any espeak-ng voice): sentences from a built-in text set (en, fr,
de, es, it, pt, nl) or, for other languages, number sentences spelled out by ``num2words``;
six voices (three male, three female espeak-ng variants) and four speaking styles mapped to
emotion labels (neutral, happy, sad, angry). Every fourth item is a paragraph of several
sentences (over 10 s, so segmentation has work); the others are one sentence. The speech
is synthesised where the shard is written (``tts://`` items), with espeak-ng's word
timings kept as ground-truth alignment. Same language, seed and size: same corpus.

The room: :mod:`~pipelines.sources.demo.texts` (sentences), :mod:`~pipelines.sources.demo.source`
(the speech items), :mod:`~pipelines.sources.demo.video` (synthetic videos with TTS narration, for
the visual stage). The synthesiser itself is :mod:`transforms.tts` (engine + helper server): the
decode stage speaks ``tts://`` items and the generated noise bank speaks its babble through it, so
it sits one floor down, where both the sources and the stages can reach it.
"""

from pipelines.sources.demo.source import DemoSource
from pipelines.sources.demo.texts import sentences_for

__all__ = ["DemoSource", "sentences_for"]
