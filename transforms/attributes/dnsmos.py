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

Cost: 98.6 % of a run is the network's 2-D convolutions (onnxruntime profile), ~0.28 CPU s for the
full 9.01 s window on one core; the session's options are the cheapest measured (one thread each
way, all graph optimisations: the basic level costs 1.5x), and batching does not pay (0.91..0.98x
per clip in batches of 4). So a clip shorter than the window is not scored on all 9.01 s of its
tiling: the network is fully convolutional up to a global max over time (STFT as a 1-D convolution
over 20 ms frames every 10 ms, seven 3x3 convolutions, three 2x2 max-pools, then the max), so its
output on a periodic input is the max over one period plus the receptive field (~0.44 s). The
model is loaded with its input length made free (:func:`variable_length_model`: the two framing
slices and reshapes are the only places the length is fixed) and a clip of L seconds is scored on
the first min(9.01, L + ``FIT_MARGIN_S``) seconds of its tiling. What remains different is which
phases of the clip the pooling grid (every 80 ms) falls on. Measured on 105 real-speech clips and
pieces of 1..9.6 s, clean and with noise at 15 and 0 dB: 1.82x less CPU; |OVRL - full window| 0.042
on average, 0.21 at most (SIG 0.035, BAK 0.051); a clip of 9.01 s or more is scored exactly as before.

Precision (``--dnsmos-precision``, recorded as ``precision``): by default the network runs with
its 2-D convolutions but the first in int8 (:func:`int8_model`: onnxruntime's static quantisation,
weights per output channel in 7 bits, activations in u8 at the 99.99th percentile of their values
over generated speech; the STFT and the first 2-D convolution stay fp32). The model is quantised at
load from the shipped file and the committed ranges (:data:`INT8_RANGES`, 3 KB; nothing is
calibrated at run time). Measured out of sample on recorded speech (``bench/dnsmos_int8.py``: 20
clips clean and with six noises at 15 and 0 dB): 2.5x less CPU, OVRL within 0.07 of fp32 on
average (95th percentile 0.19), the quality word the same in 92 % of clips, the ordering clean >
15 dB > 0 dB 97.9 % of pairs (fp32 98.3 %). ``fp32`` gives the shipped network's scores.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
WINDOW_S = 9.01
METHOD = "dnsmos-p835"
FRAME_HOP = 160  # samples: the model's STFT frames are 320 samples every 160
FIT_MARGIN_S = 1.0  # scored beyond a short clip's own length: the receptive field and more phases
PRECISIONS = ("int8", "fp32")
DEFAULT_PRECISION = "int8"
INT8_RANGES = Path(__file__).resolve().parents[1] / "data" / "dnsmos_int8_ranges.json"
"""onnxruntime's calibration cache for the int8 network: each quantised tensor's min and max over
generated speech (``bench/dnsmos_int8.py --calibrate``)."""
INT8_PERCENTILE = 99.99
"""Each activation's range is its 99.99th percentile over the calibration windows (their min-max
gave ranges so wide that OVRL moved 0.097 on average, against 0.065)."""
INT8_KEPT_FLOAT = ("stft-real", "stft-imag", "conv2d")
"""Convolutions left in fp32: the STFT over raw samples (a quiet noise's samples would round to a few
levels) and the first 2-D convolution (one input channel: int8 runs it slower than fp32)."""
_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


@dataclass(frozen=True)
class DnsmosEstimate:
    sig: float
    bak: float
    ovrl: float
    method: str = METHOD
    precision: str = "fp32"


def model_path() -> Path:
    import speechmos

    return Path(speechmos.__file__).parent / "dnsmos_models" / "sig_bak_ovr.onnx"


def variable_length_model(path: Path | None = None) -> bytes:
    """The P.835 model with its input length free: the same weights and graph, framed by length.

    The shipped graph fixes the length in three places: the input's shape, the crop of the first
    frame halves (``[:, :144000]``) and the reshapes to 900 frames; they become a free dimension,
    ``[:, :-160]`` and ``[N, -1, 160]``. Any other model than the one this expects is refused.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path or model_path()))
    graph = model.graph
    initialisers = {tensor.name: tensor for tensor in graph.initializer}
    expected = {  # name -> (shipped values, values with the length free)
        "input_1:01_cropping_end": ([2**63 - 1, int(WINDOW_S * RATE) - FRAME_HOP], [2**63 - 1, -FRAME_HOP]),
        "shape_tensor": ([-1, 900, FRAME_HOP], [0, -1, FRAME_HOP]),
        "shape_tensor1": ([-1, 900, FRAME_HOP], [0, -1, FRAME_HOP]),
    }
    for name, (shipped, free) in expected.items():
        tensor = initialisers.get(name)
        values = numpy_helper.to_array(tensor) if tensor is not None else None
        if values is None or values.tolist() != shipped:
            raise RuntimeError(
                f"DNSMOS model {path or model_path()}: {name} is not {shipped}; not the P.835 model expected"
            )
        tensor.CopyFrom(numpy_helper.from_array(np.asarray(free, dtype=values.dtype), name))
    length = graph.input[0].type.tensor_type.shape.dim[1]
    length.ClearField("dim_value")
    length.dim_param = "samples"
    del graph.value_info[:]  # shapes inferred for the fixed length
    return model.SerializeToString()


def _quiet_preprocessing_advice(record) -> bool:
    """onnxruntime's quantiser advises "pre-processing" on the root logger at every call; the graph
    is quantised as measured without it, so a build's log does not repeat the advice per worker."""
    return "pre-processing before quantization" not in record.getMessage()


def _quantise(reader, ranges: Path, output: Path) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    logging.getLogger().addFilter(_quiet_preprocessing_advice)
    try:
        quantize_static(
            onnx.load_from_string(variable_length_model()), output, reader, quant_format=QuantFormat.QOperator,
            op_types_to_quantize=["Conv"], nodes_to_exclude=list(INT8_KEPT_FLOAT), per_channel=True,
            reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile, calibration_cache_path=ranges,
            extra_options={"CalibPercentile": INT8_PERCENTILE},
        )  # fmt: skip
    finally:
        logging.getLogger().removeFilter(_quiet_preprocessing_advice)


def write_int8_ranges(reader, path: Path = INT8_RANGES) -> None:
    """Calibrate the int8 network on ``reader``'s rows (an onnxruntime ``CalibrationDataReader`` of
    full :data:`WINDOW_S` windows: the percentile pools them, so they share one length) and write
    its ranges to ``path`` (what :func:`_session` quantises with)."""
    import tempfile

    path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="clara-dnsmos-") as tmp:
        _quantise(reader, path, Path(tmp) / "int8.onnx")


def int8_model(ranges: Path | None = None) -> bytes:
    """The length-free network with its 2-D convolutions but the first quantised to int8 (per output
    channel; 7-bit weights, so no CPU's u8 x s8 dot products saturate) at ``ranges``' activation
    ranges; no calibration runs here."""
    import tempfile

    ranges = ranges or INT8_RANGES
    if not ranges.is_file():
        raise FileNotFoundError(f"DNSMOS int8 ranges missing: {ranges} (bench/dnsmos_int8.py --calibrate)")
    with tempfile.TemporaryDirectory(prefix="clara-dnsmos-") as tmp:
        output = Path(tmp) / "int8.onnx"
        _quantise(None, ranges, output)
        return output.read_bytes()


@functools.cache
def _session(precision: str = DEFAULT_PRECISION):  # onnxruntime.InferenceSession, one per process and precision
    import onnxruntime as ort

    if precision not in PRECISIONS:
        raise ValueError(f"DNSMOS precision must be one of {PRECISIONS}, got {precision!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    model = int8_model() if precision == "int8" else variable_length_model()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def scored_samples(clip_samples: int) -> int:
    """How many samples of a clip's (tiled) window are scored: the clip and FIT_MARGIN_S, in frames."""
    window = int(WINDOW_S * RATE)
    frames = -(-(clip_samples + int(FIT_MARGIN_S * RATE)) // FRAME_HOP)
    return min(window, (frames + 1) * FRAME_HOP)


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


def estimate_dnsmos(audio_16k: np.ndarray, max_windows: int = 1, precision: str = DEFAULT_PRECISION) -> DnsmosEstimate:
    """SIG, BAK and OVRL of a 16 kHz clip (the mean over its scored windows), by the shipped fp32
    network or its int8 form (:func:`int8_model`)."""
    session = _session(precision)
    length = scored_samples(np.asarray(audio_16k).size)
    rows = windows(audio_16k, max_windows)[:, :length]
    scores = np.array([session.run(None, {"input_1": row[None]})[0][0] for row in rows])
    sig, bak, ovrl = scores.mean(axis=0)
    return DnsmosEstimate(
        round(float(_SIG(sig)), 3), round(float(_BAK(bak)), 3), round(float(_OVRL(ovrl)), 3), precision=precision
    )
