"""DNSMOS P.835 scored on a short clip's own length (the same network, the length left free) and in int8."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soxr

from transforms.attributes import dnsmos
from transforms.tts.engine import ESPEAK_SAMPLE_RATE, Style
from transforms.tts.server import SynthesisClient

TEXT = "The children play outside while the old dog sleeps under the tree."


@pytest.fixture(scope="module")
def speech_16k() -> np.ndarray:
    raw, _ = SynthesisClient.call((TEXT, "en+m3", Style("x", 170, 50, 50, 100)))
    return soxr.resample(raw.astype(np.float32) / 32768.0, ESPEAK_SAMPLE_RATE, dnsmos.RATE).astype(np.float32)


@pytest.fixture(scope="module")
def shipped():  # the unmodified model, fixed at 9.01 s
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(dnsmos.model_path()), options, providers=["CPUExecutionProvider"])


def _raw(session, row: np.ndarray) -> np.ndarray:
    return session.run(None, {"input_1": row[None].astype(np.float32)})[0][0]


def test_a_full_window_scores_exactly_as_the_shipped_model(speech_16k, shipped):
    long = np.tile(speech_16k, 4)  # over 9.01 s
    row = dnsmos.windows(long)[0]
    assert dnsmos.scored_samples(long.size) == row.size == int(dnsmos.WINDOW_S * dnsmos.RATE)
    np.testing.assert_array_equal(_raw(dnsmos._session("fp32"), row), _raw(shipped, row))


def test_a_short_clip_is_scored_on_its_length_and_agrees_with_the_full_window(speech_16k, shipped):
    clip = speech_16k[: 2 * dnsmos.RATE]
    scored = dnsmos.scored_samples(clip.size)
    assert (
        clip.size + dnsmos.FIT_MARGIN_S * dnsmos.RATE <= scored < clip.size + (dnsmos.FIT_MARGIN_S + 0.02) * dnsmos.RATE
    )
    assert scored % dnsmos.FRAME_HOP == 0
    full = _raw(shipped, dnsmos.windows(clip)[0])
    estimate = dnsmos.estimate_dnsmos(clip, precision="fp32")
    assert abs(estimate.ovrl - float(dnsmos._OVRL(full[2]))) < 0.15
    assert abs(estimate.sig - float(dnsmos._SIG(full[0]))) < 0.15
    assert abs(estimate.bak - float(dnsmos._BAK(full[1]))) < 0.2
    row = dnsmos.windows(clip)[0]
    started = time.process_time()
    for _ in range(3):
        _raw(shipped, row)
    whole = time.process_time() - started
    started = time.process_time()
    for _ in range(3):
        dnsmos.estimate_dnsmos(clip, precision="fp32")
    assert time.process_time() - started < 0.7 * whole  # 3 s of 9 s scored


@pytest.mark.parametrize("precision", dnsmos.PRECISIONS)
def test_noise_still_orders_a_short_clip(speech_16k, precision):
    clip = speech_16k[: 3 * dnsmos.RATE]
    noise = np.random.default_rng(0).standard_normal(clip.size).astype(np.float32)
    noise *= np.sqrt(np.mean(clip**2) / np.mean(noise**2))  # 0 dB
    noisy, clean = (dnsmos.estimate_dnsmos(x, precision=precision) for x in (clip + noise, clip))
    assert noisy.bak < clean.bak - 0.5 and noisy.ovrl < clean.ovrl
    assert noisy.precision == clean.precision == precision


# int8: the 2-D convolutions quantised at committed ranges (bench/dnsmos_int8.py)


def test_int8_quantises_the_2d_convolutions_but_the_first_and_keeps_the_stft_float():
    import onnx

    model = onnx.load_from_string(dnsmos.int8_model())
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QLinearConv") == 6
    floats = sorted(node.name for node in model.graph.node if node.op_type == "Conv")
    assert floats == sorted(dnsmos.INT8_KEPT_FLOAT)


def test_int8_agrees_with_the_shipped_network_and_costs_less(speech_16k):
    rng = np.random.default_rng(1)
    clip = np.tile(speech_16k, 2)[: 8 * dnsmos.RATE]
    white = rng.standard_normal(clip.size).astype(np.float32) * np.sqrt(np.mean(clip**2))
    versions = [clip, clip + 0.18 * white, clip + white, 0.2 * clip]  # clean, 15 dB, 0 dB, quiet
    fp32 = [dnsmos.estimate_dnsmos(x, precision="fp32") for x in versions]
    int8 = [dnsmos.estimate_dnsmos(x, precision="int8") for x in versions]
    for a, b in zip(int8, fp32):
        assert abs(a.ovrl - b.ovrl) < 0.25 and abs(a.bak - b.bak) < 0.3, (a, b)
    assert int8[0].ovrl > int8[1].ovrl > int8[2].ovrl
    timings = {}
    for precision in ("fp32", "int8"):
        started = time.process_time()
        for _ in range(3):
            dnsmos.estimate_dnsmos(clip, precision=precision)
        timings[precision] = time.process_time() - started
    assert timings["int8"] < 0.75 * timings["fp32"], timings  # ~0.4x measured


def test_int8_quantises_without_advice_in_the_build_log(caplog):
    # onnxruntime's quantiser logged "consider pre-processing" on the root logger at every load
    with caplog.at_level("WARNING"):
        dnsmos.int8_model()
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]


def test_int8_without_its_ranges_says_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="--calibrate"):
        dnsmos.int8_model(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="precision"):
        dnsmos.estimate_dnsmos(np.zeros(16_000, np.float32), precision="fp16")


def test_another_model_is_refused(tmp_path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(dnsmos.model_path()))
    for tensor in model.graph.initializer:
        if tensor.name == "shape_tensor":
            tensor.CopyFrom(numpy_helper.from_array(np.array([-1, 450, 320], dtype=np.int64), tensor.name))
    path = tmp_path / "other.onnx"
    onnx.save(model, str(path))
    with pytest.raises(RuntimeError, match="shape_tensor"):
        dnsmos.variable_length_model(path)
