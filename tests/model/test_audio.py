"""Log-mel front end: the paper's settings, frame counts and padding invariance."""

from __future__ import annotations

import math

import pytest
import torch

from model.audio import LogMel, frame_count
from model.config import AudioConfig


def test_log_mel_has_80_bands_and_one_frame_per_hop() -> None:
    features, mask = LogMel(AudioConfig())(torch.zeros(2, 48_000) + 1e-3)
    assert features.shape == (2, 1 + 48_000 // 512, 80)
    assert mask.all()


def test_a_tone_peaks_in_the_mel_band_of_its_frequency() -> None:
    config = AudioConfig()
    frontend = LogMel(config)
    t = torch.arange(48_000) / 48_000
    features, _ = frontend(torch.sin(2 * math.pi * 1000.0 * t)[None])
    peak_band = features[0, 10:-10].mean(0).argmax().item()
    bin_hz = torch.arange(frontend.mel_filters.shape[1]) * config.sample_rate / config.n_fft
    band_centres_hz = (frontend.mel_filters * bin_hz).sum(1) / frontend.mel_filters.sum(1)
    assert abs(band_centres_hz[peak_band].item() - 1000.0) < 100.0
    assert band_centres_hz.max().item() < config.f_max_hz


@pytest.mark.parametrize("per_clip", [True, False], ids=["per-clip", "batched"])
def test_zero_padding_leaves_the_valid_frames_unchanged(per_clip: bool) -> None:
    frontend = LogMel(AudioConfig())
    frontend.per_clip_on_cpu = per_clip  # the batched path is what runs on GPUs
    clip = torch.randn(20_000) * 0.1
    alone, _ = frontend(clip[None])
    batch = torch.zeros(2, 50_000)
    batch[0, :20_000], batch[1] = clip, torch.randn(50_000)
    batch[0, 20_000:] = 7.0  # whatever the padding holds
    padded, mask = frontend(batch, torch.tensor([20_000, 50_000]))
    valid = int(frame_count(20_000, 512))
    assert mask[0].sum().item() == valid == alone.shape[1]
    torch.testing.assert_close(padded[0, :valid], alone[0], atol=1e-5, rtol=1e-5)
    assert (padded[0, valid:] == 0).all()
