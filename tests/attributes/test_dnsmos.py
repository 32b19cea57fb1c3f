"""DNSMOS P.835 scored on a short clip's own length: the same network, the length left free."""

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
    np.testing.assert_array_equal(_raw(dnsmos._session(), row), _raw(shipped, row))


def test_a_short_clip_is_scored_on_its_length_and_agrees_with_the_full_window(speech_16k, shipped):
    clip = speech_16k[: 2 * dnsmos.RATE]
    scored = dnsmos.scored_samples(clip.size)
    assert (
        clip.size + dnsmos.FIT_MARGIN_S * dnsmos.RATE <= scored < clip.size + (dnsmos.FIT_MARGIN_S + 0.02) * dnsmos.RATE
    )
    assert scored % dnsmos.FRAME_HOP == 0
    full = _raw(shipped, dnsmos.windows(clip)[0])
    estimate = dnsmos.estimate_dnsmos(clip)
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
        dnsmos.estimate_dnsmos(clip)
    assert time.process_time() - started < 0.7 * whole  # 3 s of 9 s scored


def test_noise_still_orders_a_short_clip(speech_16k):
    clip = speech_16k[: 3 * dnsmos.RATE]
    noise = np.random.default_rng(0).standard_normal(clip.size).astype(np.float32)
    noise *= np.sqrt(np.mean(clip**2) / np.mean(noise**2))  # 0 dB
    assert dnsmos.estimate_dnsmos(clip + noise).bak < dnsmos.estimate_dnsmos(clip).bak - 0.5


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
