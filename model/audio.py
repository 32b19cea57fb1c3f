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
import numpy as np
import torch
from torch import nn

from model.config import AudioConfig


def pcm_to_float(waveform: torch.Tensor) -> torch.Tensor:
    """int16 PCM → float32 in [-1, 1), exactly what ``soundfile`` decodes 16-bit audio to."""
    if waveform.dtype == torch.int16:
        return waveform.float() / 32768.0
    return waveform.float()


def frame_count(num_samples: torch.Tensor | int, hop_length: int) -> torch.Tensor | int:
    """Frames a centred STFT yields for ``num_samples`` samples."""
    return 1 + num_samples // hop_length


def vtlp_filters(mel: np.ndarray, config: AudioConfig, used_bins: int) -> torch.Tensor:
    """``[vtlp_steps, n_mels, used_bins]``: for each warp ``alpha``, the filterbank whose row m
    weighs FFT bin f as the plain row m weighs alpha·f (a tone at f lands in the band of alpha·f;
    past the last FFT bin the weight is 0). Empty ``[0, n_mels, used_bins]`` when VTLP is off."""
    if config.vtlp <= 0.0:
        return torch.zeros(0, mel.shape[0], used_bins)
    if not 0.0 < config.vtlp < 0.5 or config.vtlp_steps < 2:
        raise ValueError(f"audio.vtlp must be in (0, 0.5) with vtlp_steps >= 2, got {config.vtlp}, {config.vtlp_steps}")
    freqs = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    banks = [
        np.stack([np.interp(alpha * freqs, freqs, row, right=0.0) for row in mel])[:, :used_bins]
        for alpha in np.linspace(1.0 - config.vtlp, 1.0 + config.vtlp, config.vtlp_steps)
    ]
    return torch.from_numpy(np.stack(banks)).float()


class LogMel(nn.Module):
    """Waveforms ``[B, T]`` float or int16 (+ lengths) → log-mel ``[B, frames, n_mels]`` and a frame mask
    (``[B, frames, n_mels + whisper_dim]`` with ``audio.whisper`` and its ``stem`` fusion:
    ``model.whisper_frames``; the ``pooled`` fusion's clip vectors come from :meth:`clip_vectors`, and
    :meth:`encoder_inputs` gives all an encoder takes)."""

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
        # Filterbank and window are derived, not learned: keep them out of checkpoints. Bins above
        # f_max carry no weight, so the power spectrum is only formed up to the last used bin.
        used_bins = int(mel.any(axis=0).nonzero()[0].max()) + 1
        self.register_buffer("mel_filters", torch.from_numpy(mel[:, :used_bins]).float(), persistent=False)
        self.register_buffer("warped_filters", vtlp_filters(mel, config, used_bins), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.per_clip_on_cpu = True
        self.n_mels = config.n_mels
        self.whisper = None
        if config.whisper:
            from model.whisper_frames import WhisperFrames

            self.whisper = WhisperFrames(
                config.whisper,
                config.whisper_dim,
                config.sample_rate,
                config.hop_length,
                config.whisper_cache,
                pooled=config.whisper_fusion == "pooled",
            )

    def _mel_power(self, waveform: torch.Tensor, filters: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T]`` → mel power ``[B, frames, n_mels]`` (centred STFT, zero padding); ``filters``
        ``[B, n_mels, bins]`` per clip (VTLP), else the one filterbank."""
        spec = torch.stft(
            waveform,
            self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )[:, : self.mel_filters.shape[1]]
        power = torch.view_as_real(spec).square().sum(-1)  # [B, used bins, F]
        return ((self.mel_filters if filters is None else filters) @ power).transpose(1, 2)

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features [B, F, n_mels] float32, mask [B, F] bool, True = valid frame)``."""
        waveform = pcm_to_float(waveform)  # batches travel as int16; converted here, on the device
        batch, num_samples = waveform.shape
        device = waveform.device
        if lengths is None:
            lengths = torch.full((batch,), num_samples, device=device, dtype=torch.long)
        lengths = lengths.to(device)
        total_frames = int(frame_count(num_samples, self.hop_length))
        filters = None
        if self.training and self.warped_filters.shape[0] > 0:  # VTLP: one warp per training clip
            filters = self.warped_filters[torch.randint(self.warped_filters.shape[0], (batch,)).to(device)]
        mask = torch.arange(total_frames, device=device)[None, :] < frame_count(lengths, self.hop_length)[:, None]
        with torch.autocast(device_type=device.type, enabled=False):
            if device.type == "cpu" and batch > 1 and self.per_clip_on_cpu:
                # On the CPU, clip by clip over its own samples: no work on padding, cache-sized
                # tensors (faster than one padded batch). Same frames, by the invariance above.
                mel = waveform.new_zeros(batch, total_frames, self.mel_filters.shape[0])
                for i, length in enumerate(lengths.tolist()):
                    clip_mel = self._mel_power(
                        waveform[i : i + 1, :length], None if filters is None else filters[i : i + 1]
                    )
                    mel[i, : clip_mel.shape[1]] = clip_mel[0]
            else:
                # Edge frames overlap the padding: zero it, as the centred STFT pads a lone clip.
                beyond = torch.arange(num_samples, device=device)[None, :] >= lengths[:, None]
                mel = self._mel_power(waveform.masked_fill(beyond, 0.0), filters)
        log_mel = mel.clamp_min(1e-10).log10()
        loudest = log_mel.masked_fill(~mask[..., None], float("-inf")).amax(dim=(1, 2), keepdim=True)
        log_mel = torch.maximum(log_mel, loudest - 8.0)
        log_mel = (log_mel + 4.0) / 4.0
        if self.whisper is not None and not self.whisper.pooled:  # audio.whisper: Whisper's frames as more channels
            log_mel = torch.cat([log_mel, self.whisper(waveform, lengths, total_frames).to(log_mel.dtype)], dim=-1)
        return log_mel.masked_fill(~mask[..., None], 0.0), mask

    @torch.no_grad()
    def clip_vectors(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor | None:
        """``audio.whisper_fusion=pooled``: each clip's Whisper clip vector ``[B, 2 · whisper_dim]``
        (``WhisperFrames.clip_vector``), what the encoder adds to its output latents; ``None`` otherwise
        (no Whisper, or its frames already in :meth:`forward`'s channels)."""
        if self.whisper is None or not self.whisper.pooled:
            return None
        if lengths is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long)
        # int16 batches stay int16: the cache keys on their samples and converts only what it encodes.
        return self.whisper.clip_vectors(waveform, lengths.to(waveform.device))

    def encoder_inputs(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """What an audio encoder takes: ``(features, mask, clip vectors or None)``."""
        features, mask = self(waveform, lengths)
        return features, mask, self.clip_vectors(waveform, lengths)
