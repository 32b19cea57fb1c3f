"""A frozen Whisper encoder beside the log-mel: frames that already know speech (``audio.whisper``).

The tiny tower trained from scratch on a few hundred clips hears voices more than words or
languages (docs/trainer-ablation.md). Whisper's encoder was trained on 680,000 h of speech in 99
languages: its last layer carries the phones and the language of a clip whoever speaks. With
``audio.whisper = <model>`` the front end runs that encoder (frozen, never trained) on each clip
and puts its frames beside the log-mel: every log-mel frame gets the Whisper frame covering its
centre (Whisper: one frame per 20 ms), layer-normalised without weights, as ``audio.whisper_dim``
more input channels of the Perceiver's stem. The log-mel stays: the voice (gender) lives there
more than in Whisper's last layer.

``<model>``: what the segmentation stage takes for ``--whisper-model``
(``schemas.weights``): ``bundled:base`` (multilingual base, shipped by pip packages, no
hub access), ``bundled:tiny.en``, a local CTranslate2 folder, or a faster-whisper name (downloaded
where there is internet). It runs through CTranslate2 (``faster_whisper.WhisperModel.encode``),
on CUDA when the waveforms are there (float16) and on the CPU otherwise (int8), each clip over its
own frames (no padding to 30 s; clips over 30 s go by 30-s windows).

Cache: the encoder is frozen, so a clip always gets the same frames. Frames are kept per clip
(keyed by a SHA-1 digest of its samples; LRU, ``audio.whisper_cache`` clips, float16) and a
repeated clip costs a lookup: with ``data.max_audio_s`` at least the longest clip there is no
random crop, and after the first epoch every training clip hits. Hits and misses are counted
(``cache_stats``). With ``audio.whisper_fusion=pooled`` the front end builds no frames at all: each
clip's clip vector (the mean and spread of its frames as the log-mel's frames read them,
:meth:`WhisperFrames.clip_vector`, 4 KB at base) is what is computed and cached, so the cache holds
~128 times as many clips in the same memory and no ``[B, frames, whisper_dim]`` repeat is made. The cache is not part of any state dict and nothing here has parameters, so
checkpoints are unchanged in shape; they name the model in their config, which must then load
where they are evaluated.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

WHISPER_RATE = 16_000
FRAME_S = 0.02
"""Whisper's encoder frame: 10-ms mel hops, halved by its second convolution."""
WINDOW_FRAMES = 3_000
"""Mel frames of one 30-s window, the longest input the encoder's positions cover."""

_MODELS: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def load_whisper(name: str, device: str):
    """The faster-whisper model for ``name`` on ``device`` (``cpu`` / ``cuda``): loaded once per process."""
    key = (name, device)
    with _LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            from schemas.weights import resolve_faster_whisper_model

            _MODELS[key] = WhisperModel(
                resolve_faster_whisper_model(name),
                device=device,
                compute_type="float16" if device == "cuda" else "int8",
                cpu_threads=max(1, torch.get_num_threads()),
            )
        return _MODELS[key]


class WhisperFrames:
    """Waveforms at ``sample_rate`` → Whisper encoder frames aligned to the log-mel's frames."""

    def __init__(
        self, name: str, dim: int, sample_rate: int, hop_length: int, cache_size: int = 4096, pooled: bool = False
    ) -> None:
        self.name, self.dim, self.sample_rate, self.hop_length = name, dim, sample_rate, hop_length
        self.cache_size = cache_size
        self.pooled = pooled
        """``audio.whisper_fusion=pooled``: the cache keeps each clip's clip vector (:meth:`clip_vector`,
        ``2 · dim`` float32, 4 KB at base) instead of its frames (~0.5 MB per 10-s clip at base)."""
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def cache_stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "size": len(self._cache)}

    def encode_clip(self, clip: np.ndarray, device: str) -> np.ndarray:
        """One clip (float32 in [-1, 1] at ``sample_rate``) → ``[frames, dim]`` float16, 20 ms a frame."""
        import soxr

        model = load_whisper(self.name, device)
        audio = soxr.resample(clip.astype(np.float32), self.sample_rate, WHISPER_RATE) if len(clip) else clip
        mel = model.feature_extractor(np.asarray(audio, dtype=np.float32))  # [80, frames], 10 ms a frame
        mel = mel[:, : max(2, mel.shape[1] - mel.shape[1] % 2)]
        if mel.shape[1] < 2:
            mel = np.pad(mel, ((0, 0), (0, 2 - mel.shape[1])))
        # An even frame count (the encoder's stride-2 convolution), so every 30-s window is even too.
        windows = [mel[:, start : start + WINDOW_FRAMES] for start in range(0, mel.shape[1], WINDOW_FRAMES)]
        frames = np.concatenate([np.array(model.encode(np.ascontiguousarray(w[None])))[0] for w in windows], axis=0)
        if self.dim and frames.shape[1] != self.dim:  # dim 0: any width (callers that only pool)
            raise ValueError(
                f"audio.whisper={self.name!r} gives {frames.shape[1]}-wide frames but audio.whisper_dim="
                f"{self.dim}: set audio.whisper_dim={frames.shape[1]}"
            )
        return frames.astype(np.float16)

    def frames(self, clip: np.ndarray, device: str) -> np.ndarray:
        """The clip's frames (``[frames, dim]`` float16), or with ``pooled`` its clip vector; cached.
        ``clip``: float32 in [-1, 1], or int16 PCM (what training batches carry: keyed on its 2-byte
        samples, half the bytes to hash, and converted only on a miss, as ``model.audio.pcm_to_float``)."""
        # SHA-1 of the samples and their dtype: ~2x BLAKE2's speed here; on a cache hit the hash is
        # all the work there is (~4 ms a 10-s float clip with BLAKE2 at every training step).
        digest = hashlib.sha1(clip.dtype.str.encode())
        digest.update(np.ascontiguousarray(clip).data)
        key = digest.digest()
        cached = self._cache.get(key)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return cached
        self.misses += 1
        if clip.dtype == np.int16:
            clip = clip.astype(np.float32) / np.float32(32768.0)
        out = self.encode_clip(clip, device)
        if self.pooled:
            out = self.clip_vector(out, len(clip))
        if self.cache_size > 0:
            self._cache[key] = out
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def _frame_index(self, log_mel_frames: int, whisper_frames: int) -> np.ndarray:
        """For log-mel frames ``0..log_mel_frames-1`` (frame ``i`` centred at ``i · hop`` samples), the
        Whisper frame covering that instant (the last one past the clip's end)."""
        centres = np.arange(log_mel_frames) * self.hop_length / self.sample_rate
        return np.minimum((centres / FRAME_S).astype(np.int64), whisper_frames - 1)

    def clip_vector(self, frames: np.ndarray, num_samples: int) -> np.ndarray:
        """``[frames, dim]`` of a clip of ``num_samples`` samples → ``[2 · dim]`` float32: the mean and the
        spread (standard deviation) of its layer-normalised frames as the log-mel's valid frames see
        them. Each log-mel frame ``i`` (centred at ``i · hop``) reads the Whisper frame covering that
        instant (:meth:`__call__`), so a Whisper frame weighs as many log-mel frames as read it: the
        statistics of the frames repeated to the log-mel's rate (what the Perceiver's pooled fusion
        computed from them before), from one count per Whisper frame, without building the repeat."""
        normed = F.layer_norm(torch.from_numpy(frames.astype(np.float32)), (frames.shape[1],))
        valid = 1 + num_samples // self.hop_length  # model.audio.frame_count
        index = self._frame_index(valid, normed.shape[0])
        weights = torch.from_numpy(np.bincount(index, minlength=normed.shape[0]).astype(np.float32)) / valid
        mean = weights @ normed
        spread = (weights @ (normed - mean).square()).clamp_min(1e-8).sqrt()
        return torch.cat([mean, spread]).numpy()

    @torch.compiler.disable
    def clip_vectors(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``waveform [B, T]`` float in [-1, 1] or int16 PCM (+ ``lengths``) → ``[B, 2 · dim]`` float32 on
        its device: each clip's :meth:`clip_vector` (``pooled`` only; padding never read)."""
        if not self.pooled:
            raise ValueError("clip vectors are made for audio.whisper_fusion=pooled")
        device = "cuda" if waveform.is_cuda else "cpu"
        host = waveform.detach().cpu()
        host = (host if host.dtype == torch.int16 else host.float()).numpy()
        rows = [self.frames(host[i, :length], device) for i, length in enumerate(lengths.tolist())]
        return torch.from_numpy(np.stack(rows)).to(waveform.device)

    @torch.compiler.disable  # host-side numpy and CTranslate2: one clean graph break under torch.compile
    def __call__(self, waveform: torch.Tensor, lengths: torch.Tensor, total_frames: int) -> torch.Tensor:
        """``waveform [B, T]`` float in [-1, 1] (+ ``lengths``) → ``[B, total_frames, dim]`` float32 on its
        device: log-mel frame ``i`` (centred at ``i · hop`` samples) gets the Whisper frame covering that
        instant (the last one past the clip's end: the caller masks those), layer-normalised."""
        if self.pooled:
            raise ValueError("audio.whisper_fusion=pooled reads clip vectors (clip_vectors), not frames")
        device = "cuda" if waveform.is_cuda else "cpu"
        host = waveform.detach().float().cpu().numpy()
        out = torch.zeros(waveform.shape[0], total_frames, self.dim)
        for i, length in enumerate(lengths.tolist()):
            # Normalised per frame, so once at Whisper's 50 Hz rather than after the log-mel's ~94 Hz repeat.
            frames = F.layer_norm(
                torch.from_numpy(self.frames(host[i, :length], device).astype(np.float32)), (self.dim,)
            )
            index = self._frame_index(total_frames, frames.shape[0])
            out[i] = frames[torch.from_numpy(index)]
        return out.to(waveform.device)
