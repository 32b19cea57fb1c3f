"""Caption tokenizer: Whisper's multilingual BPE with a language-token prefix (paper §IV).

The BPE ranks ship inside the ``openai-whisper`` package (``whisper/assets``), so this
works offline. A caption becomes ``[<|lang|>, *bpe(text), <|endoftext|>]``; a language
Whisper has no token for falls back to ``<|startoftranscript|>`` ("language unknown").
Padding uses ``<|endoftext|>`` too; padded positions are masked, so the id never matters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from schemas.vocab import normalize_language


@functools.lru_cache(maxsize=1)
def _whisper_tokenizer():
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(multilingual=True)


@dataclass(frozen=True)
class CaptionTokenizer:
    """Picklable (DataLoader workers) façade over Whisper's tokenizer."""

    max_tokens: int = 128

    @property
    def _tok(self):
        return _whisper_tokenizer()

    @property
    def vocab_size(self) -> int:
        return self._tok.encoding.n_vocab

    @property
    def eot(self) -> int:
        return self._tok.eot

    @property
    def pad_id(self) -> int:
        return self._tok.eot

    def language_token(self, language: str | None) -> int:
        """Whisper's ``<|xx|>`` token for a language code, else ``<|startoftranscript|>``."""
        code = normalize_language(language)
        tok = self._tok
        try:
            return tok.to_language_token(code)
        except KeyError:
            return tok.sot

    def encode(self, text: str, language: str | None = None) -> list[int]:
        """Token ids of one caption, truncated to ``max_tokens`` (the end token is kept)."""
        # Special-token look-alikes in a caption are plain text, never control tokens.
        body = self._tok.encoding.encode(" " + text.strip(), disallowed_special=())
        body = body[: self.max_tokens - 2]
        return [self.language_token(language), *body, self.eot]

    def decode(self, ids: list[int]) -> str:
        """Text of the BPE body (special tokens dropped)."""
        return self._tok.decode([i for i in ids if i < self.eot])
