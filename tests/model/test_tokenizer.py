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


def test_byte_tokenizer_has_a_small_multilingual_vocabulary_and_its_own_pad() -> None:
    tok = CaptionTokenizer(64, kind="bytes")
    ids = tok.encode("Une voix grave, très calme", "fr")
    assert tok.vocab_size == 358 and max(ids) < tok.vocab_size
    assert ids[0] == tok.language_token("fr") != tok.language_token("de") and ids[-1] == tok.eot == tok.pad_id
    assert tok.decode(ids) == "Une voix grave, très calme"
    assert tok.language_token("xx-unknown") == tok.vocab_size - 2
    assert len(CaptionTokenizer(8, kind="bytes").encode("a long caption", "en")) == 8
