"""Speech quality: DNSMOS P.835 (Reddy et al., ICASSP 2022), SIG / BAK / OVRL on a 1..5 scale.

The ONNX model ships in the ``speechmos`` wheel (``dnsmos_models/sig_bak_ovr.onnx``); it is run
here directly through ``onnxruntime`` (one single-threaded session per worker process) so that the
P.808 model, which the P.835 scores do not need, costs nothing. The model reads 16 kHz audio in
windows of 9.01 s: a shorter clip is repeated to one window (as the reference implementation
does), and at most ``max_windows`` windows 1 s apart are scored and averaged. Samples are clipped
to [-1, 1] first (the model's input range). The raw outputs go through the reference
implementation's polynomial calibration (non-personalised).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
WINDOW_S = 9.01
METHOD = "dnsmos-p835"
_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


@dataclass(frozen=True)
class DnsmosEstimate:
    sig: float
    bak: float
    ovrl: float
    method: str = METHOD


def model_path() -> Path:
    import speechmos

    return Path(speechmos.__file__).parent / "dnsmos_models" / "sig_bak_ovr.onnx"


@functools.cache
def _session():  # onnxruntime.InferenceSession, one per process
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def windows(audio_16k: np.ndarray, max_windows: int = 1) -> np.ndarray:
    """The model's input windows (rows) of a 16 kHz clip: repeated to one window when shorter."""
    audio = np.clip(np.asarray(audio_16k, dtype=np.float32), -1.0, 1.0)
    length = int(WINDOW_S * RATE)
    if audio.size == 0:
        raise ValueError("DNSMOS of an empty clip")
    if audio.size < length:
        audio = np.tile(audio, -(-length // audio.size))
    count = max(1, min(max_windows, int(np.floor(audio.size / RATE - WINDOW_S)) + 1))
    return np.stack([audio[i * RATE : i * RATE + length] for i in range(count)])


def estimate_dnsmos(audio_16k: np.ndarray, max_windows: int = 1) -> DnsmosEstimate:
    """SIG, BAK and OVRL of a 16 kHz clip (the mean over its scored windows)."""
    session = _session()
    scores = np.array([session.run(None, {"input_1": row[None]})[0][0] for row in windows(audio_16k, max_windows)])
    sig, bak, ovrl = scores.mean(axis=0)
    return DnsmosEstimate(round(float(_SIG(sig)), 3), round(float(_BAK(bak)), 3), round(float(_OVRL(ovrl)), 3))
