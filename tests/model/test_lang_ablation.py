"""model.lang_ablation helpers: the voice warp and the voice subsets of the supervised ceilings."""

from __future__ import annotations

import torch

from model.lang_ablation import _spread, warp


def test_warp_by_one_is_the_identity_and_a_stretch_changes_the_frame_count() -> None:
    mel = torch.randn(50, 80)
    torch.testing.assert_close(warp(mel, 1.0, 1.0), mel, atol=1e-5, rtol=1e-5)
    assert warp(mel, 1.1, 1.2).shape == (60, 80)
    assert not torch.allclose(warp(mel, 1.2, 1.0), mel)


def test_voice_subsets_alternate_genders() -> None:
    speakers = ["espeak-de-f1", "espeak-de-f2", "espeak-de-m1", "espeak-de-m3"]
    assert _spread(list(speakers), 2) == ["espeak-de-f1", "espeak-de-m1"]
    assert sorted(_spread(list(speakers), 4)) == speakers
