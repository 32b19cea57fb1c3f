"""Residual projection heads g(.) and the assembled CLARA model (paper §IV, Eq. 2).

``z_a = g_a(f_a(A))`` and ``z_t = g_t(f_t(T))``, both L2-normalised into the shared space.
The model also owns the log-mel front end (run on the device) and the two learnable
temperatures τ_a, τ_t of Eq. 3, stored as logs, initialised to log(1/0.07). As open_clip does,
the *parameters* are clamped to [0, log 100] after every optimiser step
(:meth:`Clara.clamp_temperatures`): a clamp inside the forward alone would give a τ above the
cap a zero gradient, and it would stay there for good.

Waveforms may arrive as int16 PCM (the loader's batches: half the bytes of float32 to move to
the device); they are converted to float there, exactly as the FLAC decoder would have.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.audio import LogMel
from model.config import ModelConfig
from model.encoders import build_audio_encoder, build_text_encoder


class ProjectionHead(nn.Module):
    """Linear projection plus a GELU MLP residual, LayerNorm (CLAP/CLARA's head)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.project = nn.Linear(in_dim, out_dim)
        self.fc = nn.Linear(out_dim, out_dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.project(x)
        return self.norm(projected + self.drop(self.fc(F.gelu(projected))))


class Clara(nn.Module):
    """Audio and text encoders with their heads and the two temperatures."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.frontend = LogMel(config.audio)
        self.audio_encoder = build_audio_encoder(config.audio)
        self.text_encoder = build_text_encoder(config.text)
        self.audio_head = ProjectionHead(self.audio_encoder.out_dim, config.embed_dim, config.head_dropout)
        self.text_head = ProjectionHead(self.text_encoder.out_dim, config.embed_dim, config.head_dropout)
        init = math.log(1.0 / config.init_temperature)
        self.log_tau_a = nn.Parameter(torch.tensor(init))
        self.log_tau_t = nn.Parameter(torch.tensor(init))

    def encode_audio(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Waveforms ``[B, T]`` at 48 kHz, float or int16 PCM (zero-padded, with ``lengths``) → ``z_a [B, E]``."""
        return F.normalize(
            self.audio_head(self.audio_encoder(*self.frontend.encoder_inputs(waveform, lengths))).float(), dim=-1
        )

    def encode_text(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token ids ``[B, L]`` with padding mask → ``z_t [B, E]``, unit norm."""
        return F.normalize(self.text_head(self.text_encoder(tokens, mask)).float(), dim=-1)

    def temperatures(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(τ_a, τ_t)`` as multipliers of the cosine similarity.

        Not clamped here: a clamp in the forward has a zero gradient at and above the cap, so a
        τ that reached it could never come back. Training clamps the parameters after each
        optimiser step, loading clamps them too (:meth:`clamp_temperatures`).
        """
        return self.log_tau_a.exp(), self.log_tau_t.exp()

    @torch.no_grad()
    def clamp_temperatures(self) -> None:
        """Bring ``log τ`` back into ``[0, log max_logit_scale]`` (after each optimiser step, as open_clip)."""
        cap = math.log(self.config.max_logit_scale)
        self.log_tau_a.clamp_(0.0, cap)
        self.log_tau_t.clamp_(0.0, cap)

    def forward(
        self,
        waveform: torch.Tensor,
        audio_lengths: torch.Tensor,
        tokens: torch.Tensor,
        text_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(z_a, z_t, τ_a, τ_t)`` for a batch of pairs."""
        tau_a, tau_t = self.temperatures()
        return self.encode_audio(waveform, audio_lengths), self.encode_text(tokens, text_mask), tau_a, tau_t


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
