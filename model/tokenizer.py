"""Caption tokenizer: Whisper's multilingual BPE with a language-token prefix (paper §IV).

The BPE ranks ship inside the ``openai-whisper`` package (``whisper/assets``), so this
works offline. A caption becomes ``[<|lang|>, *bpe(text), <|endoftext|>]``; a language
Whisper has no token for falls back to ``<|startoftranscript|>`` ("language unknown").
Padding uses ``<|endoftext|>`` too; padded positions are masked, so the id never matters.

``kind="bytes"`` is the small alternative (ByT5's idea): a caption's UTF-8 bytes (ids 0–255),
then one id per Whisper language, "unknown language" and the end token — 358 rows instead of
51,865, every row trained by every caption, any script. Captions get ~4× longer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from schemas.vocab import normalize_language


@functools.lru_cache(maxsize=1)
def _whisper_tokenizer():
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(multilingual=True)


@functools.lru_cache(maxsize=1)
def _byte_languages() -> dict[str, int]:
    from whisper.tokenizer import LANGUAGES

    return {code: 256 + i for i, code in enumerate(LANGUAGES)}


TOKENIZERS: tuple[str, ...] = ("whisper", "bytes")


def vocab_size(kind: str) -> int:
    """Rows of the text embedding a tokenizer needs."""
    return CaptionTokenizer(kind=kind).vocab_size


@dataclass(frozen=True)
class CaptionTokenizer:
    """Picklable (DataLoader workers) façade over Whisper's tokenizer (or UTF-8 bytes)."""

    max_tokens: int = 128
    kind: str = "whisper"

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {self.kind!r}; choose {' or '.join(TOKENIZERS)}")

    @property
    def _tok(self):
        return _whisper_tokenizer()

    @property
    def vocab_size(self) -> int:
        if self.kind == "bytes":
            return 256 + len(_byte_languages()) + 2
        return self._tok.encoding.n_vocab

    @property
    def eot(self) -> int:
        if self.kind == "bytes":
            return 256 + len(_byte_languages()) + 1
        return self._tok.eot

    @property
    def pad_id(self) -> int:
        return self.eot

    def language_token(self, language: str | None) -> int:
        """Whisper's ``<|xx|>`` token for a language code, else ``<|startoftranscript|>``."""
        code = normalize_language(language)
        if self.kind == "bytes":
            return _byte_languages().get(code, 256 + len(_byte_languages()))
        tok = self._tok
        try:
            return tok.to_language_token(code)
        except KeyError:
            return tok.sot

    def encode(self, text: str, language: str | None = None) -> list[int]:
        """Token ids of one caption, truncated to ``max_tokens`` (the end token is kept)."""
        if self.kind == "bytes":
            body = list(text.strip().encode("utf-8"))
        else:  # special-token look-alikes in a caption are plain text, never control tokens
            body = self._tok.encoding.encode(" " + text.strip(), disallowed_special=())
        body = body[: self.max_tokens - 2]
        return [self.language_token(language), *body, self.eot]

    def decode(self, ids: list[int]) -> str:
        """Text of the body (special tokens dropped)."""
        if self.kind == "bytes":
            return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")
        return self._tok.decode([i for i in ids if i < self.eot])
