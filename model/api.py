"""Inference API for a trained CLARA model, shaped like msclap's / laion-clap's (paper §V-C–E).

    from model.api import ClaraModel

    clara = ClaraModel.from_checkpoint("runs/tiny")           # a run folder or a .pt file
    audio = clara.get_audio_embeddings(["a.wav", clip_16k], sample_rate=16_000)
    text = clara.get_text_embeddings(["a woman laughing", "un homme parle"], language=["en", "fr"])
    logits = clara.compute_similarity(audio, text)             # [n_audio, n_text]

Audio in any rate is resampled to 48 kHz (soxr, high quality) and mixed to mono; clips longer
than the model's ``max_audio_s`` are **centre**-cropped (never a random crop), so the same input
always gives the same embedding. Work is batched under ``torch.inference_mode`` on whatever
device the model lives on; embeddings come back on the CPU as float32 unit vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from model.checkpoint import LoadedClara, load_clara
from schemas.records import SAMPLE_RATE

AudioInput = str | Path | np.ndarray | torch.Tensor


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_model_rate(audio: np.ndarray | torch.Tensor, sample_rate: int | None) -> np.ndarray:
    """Mono float32 at 48 kHz: channels (last axis of ``[T, C]`` or first of ``[C, T]``) averaged."""
    wave = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    wave = wave.astype(np.float32, copy=False)
    if wave.ndim == 2:
        channel_axis = 1 if wave.shape[1] < wave.shape[0] else 0
        wave = wave.mean(axis=channel_axis)
    elif wave.ndim != 1:
        raise ValueError(f"audio must be [T], [T, C] or [C, T]; got shape {wave.shape}")
    rate = sample_rate or SAMPLE_RATE
    if rate != SAMPLE_RATE:
        wave = soxr.resample(wave, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(wave)


def read_audio(path: str | Path) -> np.ndarray:
    """A sound file (any rate, any channels soundfile reads) → mono float32 at 48 kHz."""
    wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return to_model_rate(wave, rate)


def centre_crop(wave: np.ndarray, max_samples: int) -> np.ndarray:
    if len(wave) <= max_samples:
        return wave
    start = (len(wave) - max_samples) // 2
    return wave[start : start + max_samples]


class ClaraModel:
    """A trained CLARA model: audio and text embeddings in the shared space, and their logits."""

    def __init__(self, loaded: LoadedClara) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.config = loaded.config
        self.tokenizer = loaded.tokenizer
        self.step = loaded.step

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None) -> ClaraModel:
        """Load a run folder's latest checkpoint (or a given ``.pt``); device defaults to CUDA if present."""
        return cls(load_clara(path, device=device or default_device()))

    @property
    def device(self) -> torch.device:
        return self.loaded.device

    @property
    def max_samples(self) -> int:
        return int(self.config.data.max_audio_s * SAMPLE_RATE)

    @property
    def embed_dim(self) -> int:
        return int(self.config.model.embed_dim)

    def prepare_audio(self, clip: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """A path or array → the mono 48 kHz, centre-cropped waveform the encoder sees."""
        wave = read_audio(clip) if isinstance(clip, (str, Path)) else to_model_rate(clip, sample_rate)
        return centre_crop(wave, self.max_samples)

    @torch.inference_mode()
    def get_audio_embeddings(
        self,
        audio: Sequence[AudioInput],
        sample_rate: int | None = None,
        batch_size: int = 32,
        projected: bool = True,
    ) -> torch.Tensor:
        """Clips (paths or arrays at ``sample_rate``, default 48 kHz) → ``[N, E]`` unit vectors.

        ``projected=False`` returns the audio encoder's pooled features ``f_a(A)`` before the
        projection head (what a linear probe may train on), not normalised.
        """
        waves = [self.prepare_audio(clip, sample_rate) for clip in audio]
        # Similar lengths together: less padding (embeddings do not depend on padding).
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
        out: list[torch.Tensor | None] = [None] * len(waves)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            embedded = self._embed_waves([waves[i] for i in chunk], projected)
            for row, index in enumerate(chunk):
                out[index] = embedded[row]
        width = self.embed_dim if projected else self.model.audio_encoder.out_dim
        return torch.stack(out) if out else torch.zeros(0, width)  # type: ignore[arg-type]

    def _embed_waves(self, waves: list[np.ndarray], projected: bool) -> torch.Tensor:
        lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
        batch = torch.zeros(len(waves), int(lengths.max()))
        for i, wave in enumerate(waves):
            batch[i, : len(wave)] = torch.from_numpy(wave)
        batch, lengths = batch.to(self.device), lengths.to(self.device)
        if projected:
            return self.model.encode_audio(batch, lengths).float().cpu()
        return self.model.audio_encoder(*self.model.frontend.encoder_inputs(batch, lengths)).float().cpu()

    @torch.inference_mode()
    def get_text_embeddings(
        self,
        texts: Sequence[str],
        language: str | Sequence[str | None] | None = None,
        batch_size: int = 256,
    ) -> torch.Tensor:
        """Texts → ``[N, E]`` unit vectors. ``language``: one code for all, one per text, or
        None for English (the language token the tokenizer prefixes; paper §IV)."""
        texts = list(texts)
        if language is None or isinstance(language, str):
            languages = [language or "en"] * len(texts)
        else:
            languages = [lang or "en" for lang in language]
            if len(languages) != len(texts):
                raise ValueError(f"{len(languages)} languages for {len(texts)} texts")
        chunks = []
        for start in range(0, len(texts), batch_size):
            ids = [
                torch.tensor(self.tokenizer.encode(text, lang))
                for text, lang in zip(texts[start : start + batch_size], languages[start : start + batch_size])
            ]
            lengths = torch.tensor([len(i) for i in ids])
            tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=self.tokenizer.pad_id)
            mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
            chunks.append(self.model.encode_text(tokens.to(self.device), mask.to(self.device)).float().cpu())
        return torch.cat(chunks) if chunks else torch.zeros(0, self.embed_dim)

    @torch.inference_mode()
    def compute_similarity(self, audio_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        """``(audio × text)`` logits: cosine similarity scaled by the learned audio temperature τ_a."""
        tau_a, _ = self.model.temperatures()
        audio = torch.as_tensor(audio_embeddings, dtype=torch.float32)
        text = torch.as_tensor(text_embeddings, dtype=torch.float32)
        return float(tau_a) * audio @ text.T
