"""Log-mel features on the training device (paper §V-A).

48 kHz audio, 80 mel bands over 0–8 kHz (Slaney mel scale and area normalisation, as
librosa and Whisper build them), n_fft = window = 1024 samples, hop 512, Hann window,
power spectrum.

Normalisation (Whisper's): ``log10(max(mel, 1e-10))``, floored at 8 decades (80 dB) below
the clip's loudest valid frame, then ``(x + 4) / 4`` so speech sits roughly in [-1, 1].

Padding invariance: the STFT is centred with *zero* padding, so a clip zero-padded to the
longest in its batch gives bit-for-bit the same first ``1 + length // hop`` frames as the
clip alone (samples past a clip's length are zeroed first, whatever the batch held there);
the dynamic-range floor uses valid frames only and padded frames are set to 0.
"""

from __future__ import annotations

import librosa
import torch
from torch import nn

from model.config import AudioConfig


def frame_count(num_samples: torch.Tensor | int, hop_length: int) -> torch.Tensor | int:
    """Frames a centred STFT yields for ``num_samples`` samples."""
    return 1 + num_samples // hop_length


class LogMel(nn.Module):
    """Waveforms ``[B, T]`` (+ lengths) → log-mel ``[B, frames, n_mels]`` and a frame mask."""

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.n_fft = config.n_fft
        self.hop_length = config.hop_length
        mel = librosa.filters.mel(
            sr=config.sample_rate,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.f_min_hz,
            fmax=config.f_max_hz,
        )
        # Filterbank and window are derived, not learned: keep them out of checkpoints.
        self.register_buffer("mel_filters", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features [B, F, n_mels] float32, mask [B, F] bool, True = valid frame)``."""
        waveform = waveform.float()
        batch, num_samples = waveform.shape
        if lengths is None:
            lengths = torch.full((batch,), num_samples, device=waveform.device, dtype=torch.long)
        lengths = lengths.to(waveform.device)
        # Edge frames overlap the padding: make it zeros, as the centred STFT pads a lone clip.
        beyond = torch.arange(num_samples, device=waveform.device)[None, :] >= lengths[:, None]
        waveform = waveform.masked_fill(beyond, 0.0)
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            spec = torch.stft(
                waveform,
                self.n_fft,
                hop_length=self.hop_length,
                window=self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()  # [B, n_fft/2+1, F]
            mel = self.mel_filters @ power  # [B, n_mels, F]
        log_mel = mel.clamp_min(1e-10).log10().transpose(1, 2)  # [B, F, n_mels]
        frames = torch.arange(log_mel.shape[1], device=waveform.device)
        mask = frames[None, :] < frame_count(lengths, self.hop_length)[:, None]
        loudest = log_mel.masked_fill(~mask[..., None], float("-inf")).amax(dim=(1, 2), keepdim=True)
        log_mel = torch.maximum(log_mel, loudest - 8.0)
        log_mel = (log_mel + 4.0) / 4.0
        return log_mel.masked_fill(~mask[..., None], 0.0), mask
