"""Whisper's multilingual BPE with a language-token prefix."""

from __future__ import annotations

import pickle

from model.tokenizer import CaptionTokenizer


def test_caption_is_language_token_then_bpe_then_end_token() -> None:
    tok = CaptionTokenizer()
    ids = tok.encode("a woman laughing", "fr")
    assert ids[0] == tok.language_token("fr") != tok.language_token("en")
    assert ids[-1] == tok.eot
    assert tok.decode(ids).strip() == "a woman laughing"


def test_language_codes_are_normalised_and_unknown_ones_fall_back() -> None:
    tok = CaptionTokenizer()
    assert tok.language_token("fra") == tok.language_token("fr-FR") == tok.language_token("fr")
    assert tok.language_token("rw") == tok.language_token(None) == tok._tok.sot


def test_long_captions_are_truncated_but_keep_the_end_token() -> None:
    tok = CaptionTokenizer(max_tokens=8)
    ids = tok.encode("word " * 50, "en")
    assert len(ids) == 8 and ids[-1] == tok.eot


def test_tokenizer_pickles_for_loader_workers_and_covers_whisper_vocab() -> None:
    tok = pickle.loads(pickle.dumps(CaptionTokenizer(16)))
    assert tok.max_tokens == 16 and tok.vocab_size == 51_865


def test_special_token_text_in_a_caption_is_encoded_as_plain_text() -> None:
    tok = CaptionTokenizer()
    ids = tok.encode("a robot says <|endoftext|> twice", "en")
    assert ids.count(tok.eot) == 1 and ids[-1] == tok.eot
