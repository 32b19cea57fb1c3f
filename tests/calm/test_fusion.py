"""The fusion head on tiny labelled token sets: it reads both modalities, with masks."""

from __future__ import annotations

import numpy as np
import torch

from model.fusion import FusionConfig, FusionHead, TokenSet, _pool_time, fusion_accuracy, train_fusion


def _token_set(n: int, seed: int, label_in: str) -> tuple[TokenSet, np.ndarray]:
    """Labels (0/1) carried by one modality's tokens only; the other is noise; lengths vary."""
    rng = np.random.default_rng(seed)
    tokens, labels = TokenSet(), rng.integers(0, 2, n)
    for label in labels:
        audio = torch.randn(int(rng.integers(3, 9)), 6)
        text = torch.randn(int(rng.integers(2, 7)), 5)
        signal = audio if label_in == "audio" else text
        signal[:, 0] += 2.5 if label else -2.5
        tokens.audio.append(audio)
        tokens.text.append(text)
        tokens.pooled.append(audio.mean(0))
        tokens.labels.append(str(label))
    return tokens, labels


def _fit(label_in: str, modalities: str) -> float:
    train, y = _token_set(96, 0, label_in)
    valid, vy = _token_set(32, 1, label_in)
    test, ty = _token_set(64, 2, label_in)
    config = FusionConfig(modalities=modalities, dim=16, layers=1, heads=2, max_epochs=25, patience=6, lr=3e-3)
    head, summary = train_fusion(train, y, valid, vy, 2, config)
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"]
    return fusion_accuracy(head, test, ty)


def test_fusion_head_learns_a_label_carried_by_the_acoustic_tokens() -> None:
    assert _fit("audio", "audio+text") >= 90.0


def test_fusion_head_learns_a_label_only_the_lexical_tokens_carry() -> None:
    assert _fit("text", "audio+text") >= 90.0
    assert _fit("text", "audio") <= 75.0  # audio-only through the same head cannot


def test_padding_tokens_never_change_the_fusion_logits() -> None:
    torch.manual_seed(0)
    head = FusionHead(6, 5, 3, FusionConfig(dim=16, layers=1, heads=2)).eval()
    audio, text = torch.randn(1, 4, 6), torch.randn(1, 3, 5)
    alone = head(audio, torch.ones(1, 4, dtype=torch.bool), text, torch.ones(1, 3, dtype=torch.bool))
    padded_audio = torch.cat([audio, torch.full((1, 5, 6), 9.0)], dim=1)
    padded_text = torch.cat([text, torch.full((1, 2, 5), -9.0)], dim=1)
    audio_mask = torch.arange(9)[None] < 4
    text_mask = torch.arange(5)[None] < 3
    torch.testing.assert_close(head(padded_audio, audio_mask, padded_text, text_mask), alone, atol=1e-5, rtol=1e-5)


def test_time_pooling_respects_the_mask() -> None:
    x = torch.arange(10, dtype=torch.float32).view(1, 10, 1)
    mask = torch.arange(10)[None] < 7
    pooled, pooled_mask = _pool_time(x, mask, 4)  # factor 3: [0,1,2] [3,4,5] [6] [-]
    assert pooled_mask.tolist() == [[True, True, True, False]]
    assert pooled[0, :3, 0].tolist() == [1.0, 4.0, 6.0]
