"""``audio.whisper``: a frozen Whisper encoder's frames beside the log-mel (model.whisper_frames)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import TrainConfig, apply_overrides, load_config
from model.heads import Clara

WHISPER = "bundled:base"


def _config(*overrides: str) -> TrainConfig:
    return apply_overrides(load_config("tiny"), [f"model.audio.whisper={WHISPER}", *overrides])


def _clip(seconds: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(int(seconds * 48_000), generator=g) * 0.2


def test_the_front_end_adds_whisper_frames_and_padding_never_changes_an_embedding() -> None:
    torch.manual_seed(0)
    model = Clara(_config().model).eval()
    short, long = _clip(1.3, 0), _clip(2.5, 1)
    features, mask = model.frontend(short[None], torch.tensor([short.numel()]))
    assert features.shape[-1] == model.config.audio.n_mels + 512
    assert features[0, :, model.config.audio.n_mels :].abs().sum() > 0
    alone = model.encode_audio(short[None], torch.tensor([short.numel()]))
    batch = torch.zeros(2, long.numel())
    batch[0, : short.numel()], batch[1] = short, long
    batch[0, short.numel() :] = 0.7  # garbage in the padding must be ignored
    padded = model.encode_audio(batch, torch.tensor([short.numel(), long.numel()]))
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_a_repeated_clip_is_encoded_once() -> None:
    model = Clara(_config().model).eval()
    clip = _clip(1.0, 2)
    first = model.encode_audio(clip[None])
    again = model.encode_audio(torch.stack([clip, clip]))
    assert model.frontend.whisper.cache_stats() == {"hits": 2, "misses": 1, "size": 1}
    torch.testing.assert_close(again[0], first[0])


def test_a_clip_over_thirty_seconds_goes_by_windows() -> None:
    model = Clara(_config().model).eval()
    frames = model.frontend.whisper.encode_clip(_clip(31.0, 3).numpy(), "cpu")
    assert frames.shape == (1550, 512)  # 30 s (1,500 frames) + 1 s (50)


def test_a_wrong_width_and_the_patch_encoder_are_refused_with_the_setting_to_change() -> None:
    model = Clara(_config("model.audio.whisper_dim=384").model).eval()
    with pytest.raises(ValueError, match="audio.whisper_dim=512"):
        model.encode_audio(_clip(0.5, 4)[None])
    with pytest.raises(ValueError, match="spectran"):
        Clara(_config("model.audio.encoder=spectran").model)


def test_whisper_frames_tell_the_language_of_a_voice_they_never_heard() -> None:
    """Truth we control: espeak-ng paragraphs. Mean Whisper frames of one voice's en / fr / de paragraphs
    name the language of other paragraphs spoken by another voice (nearest centroid)."""
    from model.whisper_frames import WhisperFrames
    from tests.segment.speech import paragraph

    whisper = WhisperFrames(WHISPER, 512, 48_000, 512)

    def mean_frame(language: str, index: int, variant: str) -> np.ndarray:
        audio = paragraph(language, index, variant)[1][: 8 * 48_000]
        frame = whisper.frames(audio, "cpu").astype(np.float32).mean(0)
        return frame / np.linalg.norm(frame)

    languages = ("en", "fr", "de")
    centroids = np.stack([mean_frame(language, 0, "m1") for language in languages])
    for language in languages:
        scores = centroids @ mean_frame(language, 1, "f2")
        assert languages[int(scores.argmax())] == language, (language, scores)


def test_the_yardstick_reads_the_mean_and_spread_of_the_whisper_frames() -> None:
    from bench.language_baseline import whisper_features
    from model.whisper_frames import WhisperFrames

    row = whisper_features(_clip(1.0, 5).numpy(), WhisperFrames(WHISPER, 0, 48_000, 512, cache_size=0))
    assert row.shape == (1024,) and np.all(row[512:] >= 0) and np.isfinite(row).all()


def test_whisper_dropout_leaves_clips_to_the_log_mel_in_training_only() -> None:
    torch.manual_seed(0)
    dropped = Clara(_config("model.audio.whisper_dropout=0.999999").model)
    kept = Clara(_config().model)
    kept.load_state_dict(dropped.state_dict())
    clip = _clip(1.0, 5)
    features, mask = dropped.frontend(clip[None], torch.tensor([clip.numel()]))
    other = features.clone()
    other[..., dropped.config.audio.n_mels :] = torch.randn_like(other[..., dropped.config.audio.n_mels :])

    def tokens(model: Clara, x: torch.Tensor, train: bool) -> torch.Tensor:
        model.train(train)
        torch.manual_seed(1)
        return model.audio_encoder.tokens(x, mask)[0]

    # Training: the Whisper frames of a dropped clip change nothing; without the dropout they do.
    torch.testing.assert_close(tokens(dropped, features, True), tokens(dropped, other, True))
    assert not torch.allclose(tokens(kept, features, True), tokens(kept, other, True))
    # Evaluation always reads them, whatever the setting.
    torch.testing.assert_close(tokens(dropped, features, False), tokens(kept, features, False))
    with pytest.raises(ValueError, match="whisper_dropout"):
        Clara(_config("model.audio.whisper_dropout=1.0").model)


def test_pooled_fusion_starts_as_the_log_mel_model_and_padding_never_changes_an_embedding() -> None:
    torch.manual_seed(0)
    pooled = Clara(_config("model.audio.whisper_fusion=pooled").model).eval()
    plain = Clara(load_config("tiny").model).eval()
    plain.load_state_dict(pooled.state_dict(), strict=False)  # the same weights, without the Whisper MLP
    short, long = _clip(1.3, 6), _clip(2.5, 7)
    # A fresh pooled model is the log-mel model: the MLP's last layer starts at zero.
    torch.testing.assert_close(pooled.encode_audio(short[None]), plain.encode_audio(short[None]))
    with torch.no_grad():
        torch.nn.init.normal_(pooled.audio_encoder.whisper_pool[2].weight, std=0.1)
    alone = pooled.encode_audio(short[None], torch.tensor([short.numel()]))
    assert not torch.allclose(alone, plain.encode_audio(short[None]), atol=1e-3)
    batch = torch.zeros(2, long.numel())
    batch[0, : short.numel()], batch[1] = short, long
    batch[0, short.numel() :] = 0.7  # garbage in the padding must be ignored, by the pooling too
    padded = pooled.encode_audio(batch, torch.tensor([short.numel(), long.numel()]))
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)
    assert pooled.audio_encoder.whisper_in is None  # the Perceiver reads the log-mel alone
    with pytest.raises(ValueError, match="whisper_fusion"):
        Clara(_config("model.audio.whisper_fusion=late").model)


def test_a_pooled_clip_vector_is_the_mean_and_spread_of_the_frames_at_the_log_mel_rate() -> None:
    """The pooled fusion's clip vector, from one count per Whisper frame, equals the statistics of the
    frames repeated to the log-mel's valid frames (how the pooled fusion read them before: the runs in
    docs/trainer-ablation.md), padding and all; and the cache keeps 4-KB vectors, not frames."""
    from model.audio import frame_count
    from model.whisper_frames import WhisperFrames

    stem = WhisperFrames(WHISPER, 512, 48_000, 512)
    pooled = WhisperFrames(WHISPER, 512, 48_000, 512, pooled=True)
    short, long = _clip(1.3, 8), _clip(2.7, 9)
    batch = torch.zeros(2, long.numel())
    batch[0, : short.numel()], batch[1] = short, long
    lengths = torch.tensor([short.numel(), long.numel()])
    total = int(frame_count(long.numel(), 512))
    frames = stem(batch, lengths, total)
    mask = torch.arange(total)[None, :] < frame_count(lengths, 512)[:, None]
    weights = mask.float()[..., None]
    mean = (frames * weights).sum(1) / weights.sum(1)
    spread = ((frames - mean[:, None]).square() * weights).sum(1).div(weights.sum(1)).clamp_min(1e-8).sqrt()
    vectors = pooled.clip_vectors(batch, lengths)
    assert vectors.shape == (2, 1024) and vectors.dtype == torch.float32
    torch.testing.assert_close(vectors, torch.cat([mean, spread], dim=-1), atol=1e-5, rtol=1e-5)
    assert all(v.shape == (1024,) for v in pooled._cache.values())
    with pytest.raises(ValueError, match="clip_vectors"):
        pooled(batch, lengths, total)


def test_the_pooled_fusion_reads_no_frames_and_refuses_to_run_without_its_clip_vectors() -> None:
    model = Clara(_config("model.audio.whisper_fusion=pooled").model).eval()
    clip = _clip(1.0, 10)
    features, mask, vectors = model.frontend.encoder_inputs(clip[None])
    assert features.shape[-1] == model.config.audio.n_mels  # no [B, frames, 512] repeat is built
    assert vectors is not None and vectors.shape == (1, 1024)
    assert Clara(load_config("tiny").model).frontend.encoder_inputs(clip[None])[2] is None
    with pytest.raises(ValueError, match="encoder_inputs"):
        model.audio_encoder(features, mask)


def test_the_pool_bench_reports_its_ratios_and_the_two_poolings_agree(monkeypatch, capsys) -> None:
    import json
    import sys

    from bench import whisper_pool

    monkeypatch.setattr(sys, "argv", ["whisper_pool", "--clips", "2", "--seconds", "1", "--repeats", "1"])
    assert whisper_pool.main() == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_abs_difference"] < 1e-4
    assert report["cache_bytes_per_clip"]["clip_vectors"] == 4096
    assert {"bare_over_first", "frames_over_cached", "bare_over_cached"} <= report.keys()


def test_int16_batches_give_the_float_clips_vectors_and_share_nothing_with_them_in_the_cache() -> None:
    from model.whisper_frames import WhisperFrames

    pooled = WhisperFrames(WHISPER, 512, 48_000, 512, pooled=True)
    pcm = (_clip(1.2, 11) * 32767).clamp(-32768, 32767).to(torch.int16)[None]
    lengths = torch.tensor([pcm.shape[1]])
    from_float = pooled.clip_vectors(pcm.float() / 32768.0, lengths)
    from_pcm = pooled.clip_vectors(pcm, lengths)
    torch.testing.assert_close(from_pcm, from_float)
    assert pooled.cache_stats() == {"hits": 0, "misses": 2, "size": 2}  # keyed by dtype and samples
    pooled.clip_vectors(pcm, lengths)
    assert pooled.cache_stats()["hits"] == 1
