"""SpecTran: AST-style patching, masks, and padding that never changes an embedding."""

from __future__ import annotations

import pytest
import torch

from model.config import TrainConfig, apply_overrides
from model.heads import Clara
from model.spectran import SpecTranEncoder, time_patches


@pytest.mark.parametrize(
    ("frames", "patch", "stride", "expected"),
    [(16, 16, 16, 1), (17, 16, 16, 2), (5, 16, 10, 1), (36, 16, 10, 3), (37, 16, 10, 4)],
)
def test_time_patches_cover_every_frame(frames: int, patch: int, stride: int, expected: int) -> None:
    assert time_patches(frames, patch, stride) == expected
    assert int(time_patches(torch.tensor([frames]), patch, stride)) == expected
    assert (expected - 1) * stride + patch >= frames


@pytest.mark.parametrize(("stride_time", "stride_freq"), [(16, 16), (10, 10)])
def test_patch_grid_has_ast_shape_and_time_major_token_mask(
    spectran_config: TrainConfig, stride_time: int, stride_freq: int
) -> None:
    config = apply_overrides(
        spectran_config, [f"model.audio.stride_time={stride_time}", f"model.audio.stride_freq={stride_freq}"]
    ).model.audio
    encoder = SpecTranEncoder(config).eval()
    lengths = torch.tensor([100, 40])
    mask = torch.arange(100)[None, :] < lengths[:, None]
    grid, time_mask = encoder.patch_grid(torch.randn(2, 100, config.n_mels), mask)
    freq = (config.n_mels - 16) // stride_freq + 1
    assert grid.shape == (2, time_patches(100, 16, stride_time), freq, config.dim)
    assert time_mask.sum(dim=1).tolist() == [time_patches(100, 16, stride_time), time_patches(40, 16, stride_time)]
    tokens, token_mask = encoder.tokens(torch.randn(2, 100, config.n_mels), mask)
    assert tokens.shape[1] == grid.shape[1] * freq
    assert token_mask.sum(dim=1).tolist() == [n * freq for n in time_mask.sum(dim=1).tolist()]
    assert torch.equal(token_mask.view(2, -1, freq), time_mask[:, :, None].expand(-1, -1, freq))


@pytest.mark.parametrize("short_frames", [3, 16, 37, 61])
def test_padding_frames_never_change_the_spectran_embedding(spectran_config: TrainConfig, short_frames: int) -> None:
    config = apply_overrides(spectran_config, ["model.audio.stride_time=10", "model.audio.stride_freq=10"]).model.audio
    torch.manual_seed(0)
    encoder = SpecTranEncoder(config).eval()
    clip = torch.randn(1, short_frames, config.n_mels)
    alone = encoder(clip, torch.ones(1, short_frames, dtype=torch.bool))
    batch = torch.full((2, 90, config.n_mels), 7.0)  # garbage in the padding must be ignored
    batch[0, :short_frames] = clip[0]
    mask = torch.arange(90)[None, :] < torch.tensor([short_frames, 90])[:, None]
    padded = encoder(batch, mask)
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_padding_samples_never_change_the_clip_embedding_end_to_end(spectran_config: TrainConfig) -> None:
    torch.manual_seed(0)
    model = Clara(spectran_config.model).eval()
    short = torch.randn(30_000) * 0.1
    alone = model.encode_audio(short[None], torch.tensor([short.numel()]))
    batch = torch.randn(3, 96_000) * 0.1
    batch[0, : short.numel()] = short
    batch[0, short.numel() :] = 123.0
    padded = model.encode_audio(batch, torch.tensor([short.numel(), 96_000, 50_000]))
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_spectran_is_selected_by_the_audio_encoder_option(spectran_config: TrainConfig) -> None:
    assert isinstance(Clara(spectran_config.model).audio_encoder, SpecTranEncoder)
    perceiver = apply_overrides(spectran_config, ["model.audio.encoder=perceiver"])
    assert not isinstance(Clara(perceiver.model).audio_encoder, SpecTranEncoder)
    with pytest.raises(ValueError, match="unknown audio.encoder"):
        Clara(apply_overrides(spectran_config, ["model.audio.encoder=wavenet"]).model)
