"""The embedded demo corpus: multilingual speech synthesised with espeak-ng, no download.

For a language ``LANG`` (any espeak-ng voice): sentences from a built-in text set (en, fr,
de, es, it, pt, nl) or, for other languages, number sentences spelled out by ``num2words``;
six voices (three male, three female espeak-ng variants; ``--source-option voices=...`` adds
m2, m4, f3, f5) and four speaking styles mapped to
emotion labels (neutral, happy, sad, angry, by pitch range and volume). What the attributes stage
measures is varied and recorded as ground truth (``original_data.extra.truth``): espeak-ng's
speed and base pitch per item, chosen to land in a drawn rate and pitch level
(:mod:`~pipelines.sources.demo.prosody`), and for half the items each a room at a known RT60 and
a noise of the generated bank at a known SNR (:mod:`transforms.tts.scene`). Every fourth item is a paragraph of several
sentences (over 10 s, so segmentation has work); the others are one sentence. The speech
is synthesised where the shard is written (``tts://`` items), with espeak-ng's word
timings kept as ground-truth alignment. Same language, seed and size: same corpus.

The room: :mod:`~pipelines.sources.demo.texts` (sentences), :mod:`~pipelines.sources.demo.prosody`
(speed and pitch per level), :mod:`~pipelines.sources.demo.source`
(the speech items), :mod:`~pipelines.sources.demo.video` (synthetic videos with TTS narration, for
the visual stage). The synthesiser itself is :mod:`transforms.tts` (engine + helper server): the
decode stage speaks ``tts://`` items and the generated noise bank speaks its babble through it, so
it sits one floor down, where both the sources and the stages can reach it.
"""

from pipelines.sources.demo.source import DemoSource
from pipelines.sources.demo.texts import sentences_for

__all__ = ["DemoSource", "sentences_for"]
