"""CALM's "multirate" term: audio↔audio contrast across two time scales (issue [calm]).

What is implemented. Every training clip is seen at two time scales: the **long view** is the
training crop the loader yields (the utterance, up to ``data.max_audio_s``: utterance-level
context), the **short view** a random ``multirate.short_s``-second window of that same crop
(``min(short_s, clip length)``; segment-level context), drawn uniformly inside the clip's valid
samples with a generator seeded by (seed, rank, step, micro-batch), so runs and resumes repeat.
Both views go through the same front end, audio encoder and projection head (one forward: the
module below), giving ``z_long`` and ``z_short``, unit vectors in the shared space. The term is
the symmetric InfoNCE between them over the batch, with a fixed temperature ``τ_m``:

    L_mr = CE(z_long · z_shortᵀ / τ_m, I) + CE(z_short · z_longᵀ / τ_m, I)

(both directions summed, as Eq. 3 sums its two), and the trainer minimises
``L_Eq.3 + multirate.weight · L_mr``. Negatives are the other clips of the rank's micro-batch.

Why. Speaker, gender and speaking style (emotion) are properties of the whole utterance that
any second of it carries; text↔audio contrast alone rewards whatever in the audio predicts the
caption, which on speech includes the words. Asking a one-second window to find its own
utterance among the batch's rewards exactly the time-invariant, utterance-level acoustics that
the zero-shot style/gender and probe tasks read, and gives the encoder a training signal that
needs no text (CALM's "contrastive information between acoustic inputs"). The fixed τ_m keeps
this term from trading temperature with Eq. 3's learnable τ_a, τ_t.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import MultirateConfig


def short_views(
    audio: torch.Tensor, lengths: torch.Tensor, window: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``window``-sample crop of each clip's valid part → ``([B, ≤window], lengths)``."""
    crop_lengths = lengths.clamp(max=window)
    spare = (lengths - crop_lengths).cpu()
    starts = (torch.rand(len(lengths), generator=generator) * (spare + 1).float()).long().clamp(max=spare)
    out = audio.new_zeros(len(lengths), int(crop_lengths.max()))
    for i, (start, length) in enumerate(zip(starts.tolist(), crop_lengths.tolist(), strict=True)):
        out[i, :length] = audio[i, start : start + length]
    return out, crop_lengths


def multirate_loss(z_long: torch.Tensor, z_short: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between the two views' unit vectors ``[N, E]`` (see module docstring)."""
    targets = torch.arange(z_long.shape[0], device=z_long.device)
    logits = z_long @ z_short.T / temperature
    return F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)


class MultirateObjective(nn.Module):
    """Wraps the model so one (DDP) forward also embeds the short views: ``(z_a, z_t, τ_a, τ_t, z_short)``."""

    def __init__(self, model: nn.Module, config: MultirateConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config

    def forward(
        self,
        waveform: torch.Tensor,
        audio_lengths: torch.Tensor,
        tokens: torch.Tensor,
        text_mask: torch.Tensor,
        short_waveform: torch.Tensor,
        short_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        z_a, z_t, tau_a, tau_t = self.model(waveform, audio_lengths, tokens, text_mask)
        return z_a, z_t, tau_a, tau_t, self.model.encode_audio(short_waveform, short_lengths)
