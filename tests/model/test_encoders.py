"""Encoders and heads: masks honoured everywhere (padding never changes an embedding)."""

from __future__ import annotations

import math

import torch

from model.config import TrainConfig
from model.heads import Clara
from model.layers import masked_mean, sinusoidal_positions


def _model(config: TrainConfig) -> Clara:
    torch.manual_seed(0)
    return Clara(config.model).eval()


def test_padding_a_clip_never_changes_its_audio_embedding(micro_config: TrainConfig) -> None:
    model = _model(micro_config)
    g = torch.Generator().manual_seed(0)
    short, long = torch.randn(10_007, generator=g) * 0.3, torch.randn(30_000, generator=g) * 0.3
    alone = model.encode_audio(short[None], torch.tensor([short.numel()]))
    batch = torch.zeros(2, long.numel())
    batch[0, : short.numel()], batch[1] = short, long
    batch[0, short.numel() :] = 123.0  # garbage in the padding must be ignored too
    padded = model.encode_audio(batch, torch.tensor([short.numel(), long.numel()]))
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_padding_a_caption_never_changes_its_text_embedding(micro_config: TrainConfig) -> None:
    model = _model(micro_config)
    tokens = torch.tensor([[50259, 257, 1877, 50257]])
    alone = model.encode_text(tokens, torch.ones_like(tokens, dtype=torch.bool))
    padded_tokens = torch.tensor([[50259, 257, 1877, 50257, 999, 999, 999], [50259, 1, 2, 3, 4, 5, 50257]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1] * 7], dtype=torch.bool)
    padded = model.encode_text(padded_tokens, mask)
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_embeddings_are_unit_vectors_in_the_shared_space(micro_config: TrainConfig) -> None:
    model = _model(micro_config)
    z_a = model.encode_audio(torch.randn(3, 9_600) * 0.1)
    assert z_a.shape == (3, micro_config.model.embed_dim)
    torch.testing.assert_close(z_a.norm(dim=-1), torch.ones(3))


def test_temperatures_start_at_one_over_0_07_and_are_capped_at_100(micro_config: TrainConfig) -> None:
    model = _model(micro_config)
    tau_a, tau_t = model.temperatures()
    assert math.isclose(tau_a.item(), 1 / 0.07, rel_tol=1e-6) and math.isclose(tau_t.item(), 1 / 0.07, rel_tol=1e-6)
    with torch.no_grad():
        model.log_tau_a.fill_(10.0)
        model.log_tau_t.fill_(-1.0)
    model.clamp_temperatures()  # what the trainer does after every optimiser step
    assert math.isclose(model.temperatures()[0].item(), 100.0, rel_tol=1e-6)
    assert model.temperatures()[1].item() == 1.0


def test_masked_mean_ignores_masked_positions() -> None:
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(x, torch.tensor([[True, True, False]])).item() == 2.0


def test_sinusoidal_positions_alternate_sine_and_cosine() -> None:
    table = sinusoidal_positions(4, 6)
    assert torch.equal(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert math.isclose(table[1, 0].item(), math.sin(1.0), rel_tol=1e-6)


def test_clip_mean_input_norm_ignores_a_clip_wide_spectral_offset_and_padding() -> None:
    """``audio.input_norm=clip_mean``: a voice's or a microphone's constant per-band offset (and the
    loudness) leave the embedding unchanged; padded frames neither shift the mean nor leak in."""
    from dataclasses import replace

    from model.config import load_config
    from model.encoders import PerceiverAudioEncoder

    torch.manual_seed(0)
    config = replace(load_config("tiny").model.audio, input_norm="clip_mean")
    encoder = PerceiverAudioEncoder(config).eval()
    g = torch.Generator().manual_seed(1)
    clip = torch.randn(1, 40, config.n_mels, generator=g)
    offset = torch.randn(1, 1, config.n_mels, generator=g)
    full = torch.ones(1, 40, dtype=torch.bool)
    with torch.no_grad():
        base = encoder(clip, full)
        torch.testing.assert_close(encoder(clip + offset, full), base, atol=1e-5, rtol=1e-5)
        batch = torch.cat(
            [torch.cat([clip, torch.full((1, 9, config.n_mels), 5.0)], 1), torch.randn(1, 49, config.n_mels)]
        )
        mask = torch.ones(2, 49, dtype=torch.bool)
        mask[0, 40:] = False
        torch.testing.assert_close(encoder(batch, mask)[0], base[0], atol=1e-5, rtol=1e-5)
        plain = PerceiverAudioEncoder(replace(config, input_norm="none")).eval()
        assert not torch.allclose(plain(clip + offset, full), plain(clip, full), atol=1e-3)


def test_clip_mean_beside_the_frames_doubles_the_stem_input() -> None:
    from dataclasses import replace

    import pytest

    from model.config import load_config
    from model.encoders import PerceiverAudioEncoder

    config = replace(load_config("tiny").model.audio, input_norm="clip_mean+mean")
    assert PerceiverAudioEncoder(config).stem[0].in_channels == 2 * config.n_mels
    with pytest.raises(ValueError, match="input_norm"):
        PerceiverAudioEncoder(replace(config, input_norm="cmvn"))
