"""Checkpoints: atomic save, pruning, exact-resume state, and loading a trained model.

A checkpoint (``<run>/checkpoints/step_00001000.pt``) holds the model, optimiser and scheduler
states, the step, the full config, every rank's RNG states and data-stream positions, and
the world size. ``<run>/checkpoints/latest`` names the newest one.

For evaluation and serving, :func:`load_clara` returns the model (eval mode), its config and
its tokenizer, with ``embed_audio`` / ``embed_text`` helpers.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.config import TrainConfig
from model.heads import Clara
from model.tokenizer import CaptionTokenizer

FORMAT_VERSION = 1
_LATEST = "latest"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(run_dir: Path | str) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path | str, step: int, state: dict[str, Any], keep: int = 3) -> Path:
    """Write ``state`` atomically as this step's checkpoint, point ``latest`` at it, prune old ones."""
    directory = checkpoint_dir(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{step:08d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save({"format_version": FORMAT_VERSION, "step": step, **state}, tmp)
    os.replace(tmp, path)
    latest_tmp = directory / f".{_LATEST}.tmp"
    latest_tmp.write_text(path.name + "\n")
    os.replace(latest_tmp, directory / _LATEST)
    if keep > 0:
        for old in sorted(directory.glob("step_*.pt"))[:-keep]:
            old.unlink(missing_ok=True)
    return path


def find_checkpoint(path: Path | str) -> Path:
    """A checkpoint file, or the latest one of a run folder / its ``checkpoints`` folder."""
    path = Path(path)
    if path.is_file():
        return path
    for directory in (path, checkpoint_dir(path)):
        latest = directory / _LATEST
        if latest.is_file():
            return directory / latest.read_text().strip()
        found = sorted(directory.glob("step_*.pt")) if directory.is_dir() else []
        if found:
            return found[-1]
    raise FileNotFoundError(f"no checkpoint at {path}")


def has_checkpoint(path: Path | str) -> bool:
    try:
        find_checkpoint(path)
    except FileNotFoundError:
        return False
    return True


def read_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    checkpoint = torch.load(find_checkpoint(path), map_location=map_location, weights_only=False)
    if checkpoint.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint format {checkpoint.get('format_version')}")
    return checkpoint


@dataclass
class LoadedClara:
    """A trained model ready for inference, with what it needs to read text."""

    model: Clara
    config: TrainConfig
    tokenizer: CaptionTokenizer
    step: int
    device: torch.device

    @torch.no_grad()
    def embed_audio(self, clips: list[np.ndarray] | list[torch.Tensor]) -> torch.Tensor:
        """Mono 48 kHz clips (any lengths; centre-cropped to ``max_audio_s``) → ``[N, E]`` unit vectors."""
        limit = int(self.config.data.max_audio_s * self.config.model.audio.sample_rate)
        tensors = []
        for clip in clips:
            clip = torch.as_tensor(clip, dtype=torch.float32).flatten()
            if clip.numel() > limit:
                start = (clip.numel() - limit) // 2
                clip = clip[start : start + limit]
            tensors.append(clip)
        lengths = torch.tensor([t.numel() for t in tensors])
        audio = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
        return self.model.encode_audio(audio.to(self.device), lengths.to(self.device))

    @torch.no_grad()
    def embed_text(self, texts: list[str], languages: list[str | None] | str | None = "en") -> torch.Tensor:
        """Captions (with their language codes) → ``[N, E]`` unit vectors."""
        if languages is None or isinstance(languages, str):
            languages = [languages] * len(texts)
        ids = [torch.tensor(self.tokenizer.encode(t, lang)) for t, lang in zip(texts, languages, strict=True)]
        lengths = torch.tensor([len(i) for i in ids])
        tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=self.tokenizer.pad_id)
        mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
        return self.model.encode_text(tokens.to(self.device), mask.to(self.device))


def load_clara(path: Path | str, device: str | torch.device = "cpu") -> LoadedClara:
    """Load a checkpoint file or a run folder's latest checkpoint for inference."""
    device = torch.device(device)
    checkpoint = read_checkpoint(path)
    config = TrainConfig.from_dict(checkpoint["config"])
    model = Clara(config.model)
    model.load_state_dict(checkpoint["model"])
    model.clamp_temperatures()
    model.to(device).eval()
    tokenizer = CaptionTokenizer(config.model.text.max_tokens, config.model.text.tokenizer)
    return LoadedClara(model, config, tokenizer, int(checkpoint["step"]), device)
