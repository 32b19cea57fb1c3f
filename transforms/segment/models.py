"""The segment stage's Whisper weights: :mod:`schemas.weights` (shared with the trainer's front end)."""

from __future__ import annotations

from schemas.weights import (
    BUNDLED_BASE,
    BUNDLED_TINY_EN,
    DEFAULT_MODEL,
    bundled_base_parts,
    cache_root,
    join_bundled_base,
    resolve_faster_whisper_model,
    verify_joined,
)

__all__ = [
    "BUNDLED_BASE",
    "BUNDLED_TINY_EN",
    "DEFAULT_MODEL",
    "bundled_base_parts",
    "cache_root",
    "join_bundled_base",
    "resolve_faster_whisper_model",
    "verify_joined",
]
