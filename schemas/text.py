"""Sentence identity shared by the corpus side and the trainer's protocol: the words of a text and
a stable bucket per sentence.

Protocol v2 (``model.protocol``) holds a sentence out when its bucket is below
``fraction * BUCKETS``; the demo source builds each paragraph from the sentences of one
``BUCKETS // PARAGRAPH_GROUPS``-wide band of buckets, so a paragraph is wholly held out or
wholly seen at any held-out fraction that is a multiple of ``1 / PARAGRAPH_GROUPS``.
"""

from __future__ import annotations

import re
import zlib

BUCKETS = 1000
PARAGRAPH_GROUPS = 5
"""Bands of sentence buckets a paragraph keeps to (protocol v2's 40 % is two of them)."""

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits; punctuation and quotes dropped)."""
    return _WORD.findall(text.lower())


def sentence_bucket(sentence: str) -> int:
    """A stable bucket in ``[0, BUCKETS)`` from a sentence's words (CRC-32: same on every machine)."""
    return zlib.crc32(" ".join(words(sentence)).encode()) % BUCKETS


def paragraph_group(sentence: str) -> int:
    """The band of buckets (``0 .. PARAGRAPH_GROUPS - 1``) a sentence belongs to."""
    return sentence_bucket(sentence) * PARAGRAPH_GROUPS // BUCKETS
