"""The two encoders of CLARA (paper §IV, Fig. 3).

Audio, f_a: a Perceiver. A convolutional stem (Conv1d + GELU, later layers stride 2) turns
log-mel frames into ``dim``-wide tokens with sinusoidal positions; a fixed set of learned
latents cross-attends to them, the keys and values first passing through a convolution head
and GELU (the paper's modification); a stack of latent self-attention blocks follows. The
cost in the input length is linear and the parameter count does not depend on it.

Text, f_t: a bidirectional pre-LN transformer over Whisper BPE tokens with sinusoidal
("cosine") positions (or causal, as CLIP's text tower: ``text.causal``, the flash-kernel path).

Attention is ``F.scaled_dot_product_attention`` (``model.layers``; flash / memory-efficient
kernels on CUDA).
Padding is honoured everywhere: padded frames are zeroed before every convolution (so a
conv at the edge sees what it would see on the unpadded clip), masked out of attention keys,
and both encoders pool over the sequence / latent axis with the mask. Padding therefore never
changes an embedding (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import AudioConfig, TextConfig
from model.layers import MLP, Attention, Block, masked_mean, sinusoidal_positions
from model.pretrained_text import PretrainedTextEncoder
from model.spectran import SpecTranEncoder
from model.tokenizer import vocab_size

INPUT_NORMS: tuple[str, ...] = ("none", "clip_mean", "clip_mean+mean")


def clip_mean_normalise(features: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Log-mel ``[B, F, n_mels]`` minus each clip's mean over its valid frames (``clip_mean``), or
    that with the mean beside it as ``n_mels`` more channels (``clip_mean+mean``); padding stays 0."""
    if mode == "none":
        return features
    valid = mask[..., None].to(features.dtype)
    mean = (features * valid).sum(1, keepdim=True) / valid.sum(1, keepdim=True).clamp_min(1.0)
    out = (features - mean) * valid
    if mode == "clip_mean+mean":
        out = torch.cat([out, mean.expand_as(features) * valid], dim=-1)
    return out


def _masked_conv(conv: nn.Conv1d, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv over ``x [B, L, C]`` with padded steps zeroed first; returns output and its mask."""
    x = x.masked_fill(~mask[..., None], 0.0)
    y = conv(x.transpose(1, 2)).transpose(1, 2)
    lengths = mask.sum(dim=1)
    (k,), (s,), (p,) = conv.kernel_size, conv.stride, conv.padding
    out_lengths = torch.div(lengths + 2 * p - k, s, rounding_mode="floor") + 1
    out_mask = torch.arange(y.shape[1], device=y.device)[None, :] < out_lengths[:, None]
    return y, out_mask


class CrossAttentionBlock(nn.Module):
    """Latents attend to frames; K/V pass through Conv1d + GELU first (paper §IV)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm_latents = nn.LayerNorm(dim)
        self.norm_frames = nn.LayerNorm(dim)
        self.kv_conv = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.attn = Attention(dim, heads, dropout=dropout)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio, dropout)

    def forward(self, latents: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        context, _ = _masked_conv(self.kv_conv, self.norm_frames(frames), mask)
        context = F.gelu(context)
        latents = latents + self.attn(self.norm_latents(latents), context, mask)
        return latents + self.mlp(self.norm_mlp(latents))


WHISPER_FUSIONS = ("stem", "pooled")
"""Where ``audio.whisper``'s frames join the Perceiver (``AudioConfig.whisper_fusion``)."""


class PerceiverAudioEncoder(nn.Module):
    """Log-mel ``[B, F, n_mels]`` + mask → pooled audio representation ``[B, dim]``."""

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        dim = config.dim
        if config.input_norm not in INPUT_NORMS:
            raise ValueError(f"unknown audio.input_norm {config.input_norm!r}; one of {', '.join(INPUT_NORMS)}")
        self.input_norm = config.input_norm
        self.n_mels = config.n_mels
        channels = config.n_mels * (2 if config.input_norm == "clip_mean+mean" else 1)
        # audio.whisper_fusion=stem: Whisper's frames join after the stem, at its frame rate, through
        # one linear map (a 1x1 projection there costs a tenth of widening the stem's first convolution);
        # =pooled: the Perceiver reads the log-mel alone and a clip vector joins its output.
        if config.whisper_fusion not in WHISPER_FUSIONS:
            raise ValueError(
                f"unknown audio.whisper_fusion {config.whisper_fusion!r}; one of {', '.join(WHISPER_FUSIONS)}"
            )
        pooled = bool(config.whisper) and config.whisper_fusion == "pooled"
        self.whisper_in = nn.Linear(config.whisper_dim, dim) if config.whisper and not pooled else None
        # pooled: [mean, spread] of the clip's frames -> MLP; the last layer starts at zero, so a
        # fresh model is the log-mel model and the Whisper vector grows in as it helps.
        self.whisper_pool = (
            nn.Sequential(nn.Linear(2 * config.whisper_dim, dim), nn.GELU(), nn.Linear(dim, dim)) if pooled else None
        )
        if self.whisper_pool is not None:
            nn.init.zeros_(self.whisper_pool[2].weight)
            nn.init.zeros_(self.whisper_pool[2].bias)
        if not 0.0 <= config.whisper_dropout < 1.0:
            raise ValueError(f"audio.whisper_dropout must be in [0, 1), got {config.whisper_dropout}")
        self.whisper_dropout = config.whisper_dropout
        self.stem_stride = 2 ** max(0, config.stem_layers - 1)
        self.stem = nn.ModuleList(
            nn.Conv1d(channels if i == 0 else dim, dim, kernel_size=3, stride=1 if i == 0 else 2, padding=1)
            for i in range(config.stem_layers)
        )
        # The stem's outputs start ~0.05 in scale against the sinusoids' ~0.7: without a norm the
        # frames the latents read are ~95 % position and the clips look alike (docs/trainer-ablation.md).
        self.stem_norm = nn.LayerNorm(dim) if config.stem_norm else None
        self.register_buffer("positions", sinusoidal_positions(config.max_frames, dim), persistent=False)
        self.latents = nn.Parameter(torch.randn(config.n_latents, dim) * 0.02)
        self.cross = CrossAttentionBlock(dim, config.cross_heads, config.mlp_ratio, config.dropout)
        self.blocks = nn.ModuleList(
            Block(dim, config.latent_heads, config.mlp_ratio, config.dropout) for _ in range(config.latent_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def forward(self, features: torch.Tensor, mask: torch.Tensor, clip: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean(self.tokens(features, mask, clip)[0], None)

    def tokens(
        self, features: torch.Tensor, mask: torch.Tensor, clip: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None]:
        """The final latents ``[B, n_latents, dim]`` (no padding: every latent is valid). ``clip``: the
        pooled fusion's Whisper clip vectors ``[B, 2 · whisper_dim]`` (``LogMel.encoder_inputs``)."""
        if self.whisper_pool is not None and clip is None:
            raise ValueError(
                "audio.whisper_fusion=pooled needs each clip's Whisper vector: call the encoder with "
                "LogMel.encoder_inputs(waveform, lengths)"
            )
        x = clip_mean_normalise(features[..., : self.n_mels], mask, self.input_norm)
        for conv in self.stem:
            x, mask = _masked_conv(conv, x, mask)
            x = F.gelu(x)
        if self.whisper_in is not None:
            # Stem output j is centred on input frame j * stride; Whisper's frames are not
            # mean-normalised (a clip's mean Whisper frame says much of its language).
            whisper = features[:, :: self.stem_stride, self.n_mels :]
            added = self.whisper_in(whisper[:, : x.shape[1]]).masked_fill(~mask[..., None], 0.0)
            x = x + self._whisper_keep(added)
        if self.stem_norm is not None:
            x = self.stem_norm(x)
        if x.shape[1] > self.positions.shape[0]:
            raise ValueError(f"{x.shape[1]} frames exceed max_frames={self.positions.shape[0]}")
        x = x + self.positions[: x.shape[1]].to(x.dtype)
        latents = self.latents.to(x.dtype).expand(x.shape[0], -1, -1)
        latents = self.cross(latents, x, mask)
        for block in self.blocks:
            latents = block(latents)
        latents = self.norm(latents)
        if self.whisper_pool is not None:
            pooled = self.whisper_pool(clip.to(latents.dtype))
            latents = latents + self._whisper_keep(pooled[:, None, :])
        return latents, None

    def _whisper_keep(self, added: torch.Tensor) -> torch.Tensor:
        """``audio.whisper_dropout``: in training, a clip's Whisper part is left out with that
        probability (per clip, not per frame: a dropped clip is heard through the log-mel alone)."""
        if not (self.training and self.whisper_dropout > 0.0):
            return added
        keep = torch.rand(added.shape[0], 1, 1, device=added.device) >= self.whisper_dropout
        return added * keep.to(added.dtype)


class TextEncoder(nn.Module):
    """Token ids ``[B, L]`` + mask → pooled text representation ``[B, dim]``."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size or vocab_size(config.tokenizer), config.dim)
        # Unit-scale rows, as the sinusoids they are added to ("Attention is all you need"); at
        # std 0.02 the positions drown the words (every caption of one length looks alike).
        nn.init.normal_(self.embed.weight, std=config.embed_init_std)
        self.register_buffer("positions", sinusoidal_positions(config.max_tokens, config.dim), persistent=False)
        self.blocks = nn.ModuleList(
            Block(config.dim, config.heads, config.mlp_ratio, config.dropout) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.out_dim = config.dim
        self.causal = config.causal

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.token_states(tokens, mask), mask)

    def token_states(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Contextual token states ``[B, L, dim]`` (padded positions are to be ignored via ``mask``).

        Causal attention needs no padding mask (captions are right-padded: no real token ever
        sees a pad), so SDPA may take its flash kernel; bidirectional attention masks pad keys.
        """
        if tokens.shape[1] > self.positions.shape[0]:
            raise ValueError(f"{tokens.shape[1]} tokens exceed max_tokens={self.positions.shape[0]}")
        x = self.drop(self.embed(tokens) + self.positions[: tokens.shape[1]])
        for block in self.blocks:
            x = block(x, None, causal=True) if self.causal else block(x, mask)
        return self.norm(x)


def build_audio_encoder(config: AudioConfig) -> nn.Module:
    """``audio.encoder``: ``perceiver`` (CLARA) or ``spectran`` (CALM, ``model.spectran``)."""
    if config.encoder == "perceiver":
        return PerceiverAudioEncoder(config)
    if config.encoder == "spectran":
        if config.whisper:
            raise ValueError("audio.whisper feeds the Perceiver's stem; audio.encoder=spectran reads the log-mel only")
        return SpecTranEncoder(config)
    raise ValueError(f"unknown audio.encoder {config.encoder!r}; choose perceiver or spectran")


def build_text_encoder(config: TextConfig) -> nn.Module:
    """``text.encoder``: ``transformer`` (CLARA) or ``pretrained:<model>`` (CALM, ``model.pretrained_text``)."""
    if config.encoder == "transformer":
        return TextEncoder(config)
    if config.encoder.startswith("pretrained:"):
        return PretrainedTextEncoder(config.encoder, config.unfreeze_layers, config.cache_size)
    raise ValueError(f"unknown text.encoder {config.encoder!r}; choose transformer or pretrained:<model>")
