"""Speaker embeddings of short windows of 16 kHz speech: the voices the clustering compares.

Three encoders, one interface (:class:`SpeakerEncoder`): ``embed(region, window, hop)`` gives the
L2-normalised embedding of every ``window``-sample window of a speech region, ``hop`` apart (a
region shorter than one window gets one, zero-padded).

- ``resemblyzer`` (default, offline): the GE2E LSTM d-vector encoder of Resemblyzer (Wan et al.,
  ICASSP 2018), whose 17 MB of weights install with the PyPI package; 40-band mel frames of 10 ms,
  windows of 160 frames (1.6 s), 256 dimensions. The region's mel is computed once and sliced.
- ``pyannote``: a pyannote.audio embedding model (e.g. ``pyannote/wespeaker-voxceleb-resnet34-LM``)
  from weights the user gives (a local checkpoint or folder: ``--diarize-weights``).
- ``speechbrain``: a SpeechBrain ``EncoderClassifier`` (e.g. ECAPA-TDNN) from a local folder holding
  its ``hyperparams.yaml`` and checkpoints (``--diarize-weights``).

Nothing is downloaded: the latter two load only what the user points at.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 16_000
MODELS = ("resemblyzer", "pyannote", "speechbrain")


class SpeakerEncoder(Protocol):
    name: str

    def embed(self, region: np.ndarray, window: int, hop: int) -> np.ndarray: ...


def window_starts(length: int, window: int, hop: int) -> list[int]:
    """Starts of the windows that cover ``length`` samples (the last one ends at the end)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


class ResemblyzerEncoder:
    """Resemblyzer's pretrained d-vector encoder (weights shipped in the wheel)."""

    name = "resemblyzer"
    _FRAME = 160  # 10 ms mel hop at 16 kHz

    def __init__(self, weights: str | None = None, device: str = "cpu") -> None:
        from resemblyzer import VoiceEncoder

        self.model = VoiceEncoder(device, verbose=False, weights_fpath=weights)
        self.version = "resemblyzer-0.1.4" if weights is None else f"resemblyzer:{weights}"

    def embed(self, region: np.ndarray, window: int, hop: int) -> np.ndarray:
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        region = np.asarray(region, dtype=np.float32)
        width = window // self._FRAME
        starts = window_starts(len(region), window, hop)
        padded = np.pad(region, (0, max(0, window - len(region))))
        mel = wav_to_mel_spectrogram(padded)
        if len(mel) < width:
            mel = np.pad(mel, ((0, width - len(mel)), (0, 0)))
        frames = [min(s // self._FRAME, len(mel) - width) for s in starts]
        batch = np.stack([mel[f : f + width] for f in frames])
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the LSTM of 64 windows gains nothing from more, and loses much on a busy worker
        try:
            with torch.inference_mode():
                out = [self.model(torch.from_numpy(batch[i : i + 64])).numpy() for i in range(0, len(batch), 64)]
        finally:
            torch.set_num_threads(threads)
        return _normalise(np.concatenate(out))


class _WindowedEncoder:
    """Encoders that take raw audio windows: cut them, batch them, normalise."""

    name = "windowed"

    def embed(self, region: np.ndarray, window: int, hop: int) -> np.ndarray:
        region = np.asarray(region, dtype=np.float32)
        padded = np.pad(region, (0, max(0, window - len(region))))
        batch = np.stack([padded[s : s + window] for s in window_starts(len(region), window, hop)])
        return _normalise(np.concatenate([self._forward(batch[i : i + 32]) for i in range(0, len(batch), 32)]))

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class PyannoteEncoder(_WindowedEncoder):
    """A pyannote.audio embedding model from the user's weights (checkpoint file or folder)."""

    name = "pyannote"

    def __init__(self, weights: str, device: str = "cpu") -> None:
        import torch
        from pyannote.audio import Model

        self.model = Model.from_pretrained(weights).eval().to(torch.device(device))
        self.device = device
        self.version = f"pyannote:{weights}"

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(batch)[:, None, :].to(self.device)).cpu().numpy()


class SpeechBrainEncoder(_WindowedEncoder):
    """A SpeechBrain ``EncoderClassifier`` (ECAPA-TDNN, x-vector) from a local folder."""

    name = "speechbrain"

    def __init__(self, weights: str, device: str = "cpu") -> None:
        from speechbrain.inference.speaker import EncoderClassifier

        self.model = EncoderClassifier.from_hparams(source=weights, savedir=weights, run_opts={"device": device})
        self.version = f"speechbrain:{weights}"

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model.encode_batch(torch.from_numpy(batch)).squeeze(1).cpu().numpy()


def load_encoder(model: str = "resemblyzer", weights: str | None = None, device: str = "cpu") -> Any:
    """The encoder ``model`` names; pyannote and SpeechBrain need ``weights`` (nothing is downloaded)."""
    if model == "resemblyzer":
        return ResemblyzerEncoder(weights, device)
    if model not in MODELS:
        raise ValueError(f"unknown speaker embedding model {model!r}; expected one of {MODELS}")
    if not weights:
        raise ValueError(f"--diarize-model {model} needs --diarize-weights (a local checkpoint or folder)")
    return PyannoteEncoder(weights, device) if model == "pyannote" else SpeechBrainEncoder(weights, device)


def shared_encoder(model: str = "resemblyzer", weights: str | None = None, device: str = "cpu") -> Any:
    """:func:`load_encoder`, once per worker process."""
    from transforms.shared_models import load_shared

    return load_shared(f"speaker-encoder:{model}:{weights}:{device}", lambda: load_encoder(model, weights, device))
