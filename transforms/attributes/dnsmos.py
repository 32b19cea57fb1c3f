"""Speech quality: DNSMOS P.835 (Reddy et al., ICASSP 2022), SIG / BAK / OVRL on a 1..5 scale.

The ONNX model ships in the ``speechmos`` wheel (``dnsmos_models/sig_bak_ovr.onnx``); it is run
here directly through ``onnxruntime`` (one single-threaded session per worker process) so that the
P.808 model, which the P.835 scores do not need, costs nothing. Input as the reference
(``dnsmos_local.py`` of Microsoft's DNS Challenge, and ``speechmos.dnsmos``): raw 16 kHz samples in
[-1, 1] (clipped here; the reference refuses others), windows of 9.01 s, the non-personalised
polynomial calibration. One difference: the reference doubles a clip shorter than 9.01 s until it
is that long and averages every window 1 s apart (3..7 windows for a 2..9 s clip); here a shorter
clip is tiled to one window and at most ``max_windows`` windows are scored, so a short clip costs
one window. Measured on three demo clips (1.8, 6.1, 8.6 s): OVRL 0.02..0.11 below the reference's,
SIG within 0.1, BAK 0.13..0.38 below; clean > noisy (15 dB) > very noisy (0 dB) by OVRL in 66.1 %
of 192 pairs here and 67.2 % with the reference's windows.

Cost: 98.6 % of a run is the network's 2-D convolutions over the fixed 9.01 s window (onnxruntime
profile), ~0.28 CPU s per clip on one core whatever the clip's length; the session's options are
already the cheapest measured (one thread each way, all graph optimisations: the basic level costs
1.5x), and batching does not pay (0.91..0.98x per clip in batches of 4).
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
