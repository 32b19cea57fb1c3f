"""SpecTran: CALM's spectral transformer over linearised log-mel patches (issue [calm]).

The log-mel ``[B, F, n_mels]`` is cut into ``patch_time × patch_freq`` patches with strides
``stride_time × stride_freq`` (AST's patch embedding: one ``Conv2d`` whose kernel is the patch and
whose stride is the stride), each patch becomes a ``dim``-wide token with a learned frequency-band
embedding plus a sinusoidal time position, and a pre-LN transformer runs over the tokens in
time-major order. The output is the masked mean of the final tokens (``forward``), or the tokens
themselves (``tokens``, which the fusion head reads).

Padding never changes an embedding. A clip of ``L`` frames has
``n(L) = max(1, ceil((L - patch_time) / stride_time) + 1)`` time patches: enough to cover every
frame, the last one completed with zero frames. In a padded batch the frames past ``L`` are
zeroed here (whatever the batch held there), so the clip's first ``n(L)`` patch columns are
bit-for-bit the patches of the clip alone; every later column is masked out of attention keys and
of the pooling. The frequency axis is never padded (every clip has ``n_mels`` bins).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import AudioConfig
from model.layers import Block, masked_mean, sinusoidal_positions


def time_patches(frames: torch.Tensor | int, patch: int, stride: int) -> torch.Tensor | int:
    """Time patches covering ``frames`` frames (at least one; the last may run past the end)."""
    if isinstance(frames, torch.Tensor):
        return (torch.div(frames - patch + stride - 1, stride, rounding_mode="floor") + 1).clamp_min(1)
    return max(1, -(-(frames - patch) // stride) + 1)


class SpecTranEncoder(nn.Module):
    """Log-mel ``[B, F, n_mels]`` + frame mask → pooled ``[B, dim]`` (or tokens, see ``tokens``)."""

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        if config.patch_freq > config.n_mels:
            raise ValueError(f"patch_freq {config.patch_freq} exceeds n_mels {config.n_mels}")
        self.patch = (config.patch_time, config.patch_freq)
        self.stride = (config.stride_time, config.stride_freq)
        self.freq_patches = (config.n_mels - config.patch_freq) // config.stride_freq + 1
        dim = config.dim
        self.embed = nn.Conv2d(1, dim, kernel_size=self.patch, stride=self.stride)
        self.freq_embedding = nn.Parameter(torch.randn(self.freq_patches, dim) * 0.02)
        max_time = time_patches(config.max_frames, *self.time_geometry)
        self.register_buffer("time_positions", sinusoidal_positions(max_time, dim), persistent=False)
        self.blocks = nn.ModuleList(
            Block(dim, config.spectran_heads, config.mlp_ratio, config.dropout) for _ in range(config.spectran_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    @property
    def time_geometry(self) -> tuple[int, int]:
        return self.patch[0], self.stride[0]

    def patch_grid(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patch embeddings ``[B, T', F', dim]`` and the time-patch mask ``[B, T']``."""
        patch, stride = self.time_geometry
        features = features.masked_fill(~mask[..., None], 0.0)
        needed = (int(time_patches(features.shape[1], patch, stride)) - 1) * stride + patch
        if needed > features.shape[1]:
            features = F.pad(features, (0, 0, 0, needed - features.shape[1]))
        grid = self.embed(features[:, None]).permute(0, 2, 3, 1)  # [B, T', F', dim]
        lengths = time_patches(mask.sum(dim=1), patch, stride)
        time_mask = torch.arange(grid.shape[1], device=grid.device)[None, :] < lengths[:, None]
        if grid.shape[1] > self.time_positions.shape[0]:
            raise ValueError(f"{grid.shape[1]} time patches exceed max_frames' {self.time_positions.shape[0]}")
        positions = self.time_positions[: grid.shape[1], None, :] + self.freq_embedding[None]
        return grid + positions.to(grid.dtype), time_mask

    def tokens(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final tokens ``[B, T'·F', dim]`` (time-major) and their mask ``[B, T'·F']``."""
        grid, time_mask = self.patch_grid(features, mask)
        batch, steps, bands, dim = grid.shape
        x = grid.reshape(batch, steps * bands, dim)
        token_mask = time_mask[:, :, None].expand(batch, steps, bands).reshape(batch, steps * bands)
        for block in self.blocks:
            x = block(x, token_mask)
        return self.norm(x), token_mask

    def forward(self, features: torch.Tensor, mask: torch.Tensor, clip: None = None) -> torch.Tensor:
        """``clip``: always ``None`` (``LogMel.encoder_inputs``' third part; SpecTran reads no Whisper)."""
        x, token_mask = self.tokens(features, mask)
        return masked_mean(x, token_mask)
