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


def _tone(freq_hz: float, seconds: float = 1.0, rate: int = 48_000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return torch.sin(2 * math.pi * freq_hz * t)[None]


def test_vtlp_moves_a_tone_by_the_warp_at_train_time_and_never_at_eval() -> None:
    plain = LogMel(AudioConfig())
    warped = LogMel(AudioConfig(vtlp=0.2, vtlp_steps=2))  # alpha is 0.8 or 1.2
    tone = _tone(2_000.0)
    reference, _ = plain(tone)
    warped.eval()
    assert torch.equal(warped(tone)[0], reference)  # evaluation never warps
    warped.train()
    peaks = set()
    for seed in range(8):
        torch.manual_seed(seed)
        peaks.add(int(warped(tone)[0][0].mean(0).argmax()))
    # Warped by alpha, a 2 kHz tone lands where the plain filterbank puts 2000·alpha Hz.
    expected = {int(plain(_tone(2_000.0 * alpha))[0][0].mean(0).argmax()) for alpha in (0.8, 1.2)}
    assert peaks == expected and int(reference[0].mean(0).argmax()) not in peaks


def test_vtlp_draws_one_warp_per_clip_and_is_seeded() -> None:
    frontend = LogMel(AudioConfig(vtlp=0.1)).train()
    batch = torch.cat([_tone(1_000.0)] * 6)
    torch.manual_seed(3)
    first, _ = frontend(batch)
    torch.manual_seed(3)
    again, _ = frontend(batch)
    assert torch.equal(first, again)
    assert (
        len({tuple(clip.mean(0).argmax(-1).tolist()) for clip in first.split(1)})
        + len({round(float(clip.sum()), 3) for clip in first})
        > 2
    )  # the six identical clips are not all warped alike


def test_vtlp_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="vtlp"):
        LogMel(AudioConfig(vtlp=0.7))
