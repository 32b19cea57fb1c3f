"""Where a model's weights came from, and the rule that follows: text from untrained weights is no caption.

Any stage whose model writes text about a sample (CoCa frame captions today; an audio captioner,
a tagger tomorrow) loads its weights with a :class:`WeightsProvenance` and asks
:func:`may_caption` before that text enters the sample's training ``text``. A model with random
weights (the offline stand-ins: nothing can be downloaded here, so the code path is exercised on
a randomly initialised network) still runs, and its output is kept under ``original_data`` with
the provenance record, so a reader sees what it said and why it was left out.

How provenance is known, most specific first:

- a checkpoint that carries a record under :data:`PROVENANCE_KEY` (what :func:`checkpoint_payload`
  writes; every random stand-in this project saves is marked ``real: false``), in a torch
  checkpoint dict or a safetensors file's metadata;
- a named pretrained release (an open_clip tag, a hub model): trained;
- no weights at all (``pretrained`` empty): random;
- an unmarked checkpoint file: taken as trained (a user's fine-tune), and said so in ``source``.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass
from typing import Any

PROVENANCE_KEY = "clara_weights"
"""Key of the provenance record in a checkpoint dict (next to ``state_dict``) or safetensors metadata."""


@dataclass(frozen=True)
class WeightsProvenance:
    """Whether a model's weights were trained (``real``) and where they came from."""

    real: bool
    source: str
    """``open_clip:<tag>``, ``checkpoint:<file name>``, ``random_init`` ..."""
    detail: str = ""

    def record(self) -> dict[str, Any]:
        """The JSON-ready form a sample's ``original_data`` carries."""
        return {k: v for k, v in asdict(self).items() if v != ""}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WeightsProvenance:
        return cls(
            real=bool(record.get("real")), source=str(record.get("source", "")), detail=str(record.get("detail", ""))
        )


def random_init(detail: str = "") -> WeightsProvenance:
    """A randomly initialised network: its output is noise, never a caption."""
    return WeightsProvenance(real=False, source="random_init", detail=detail)


def may_caption(provenance: WeightsProvenance | None) -> bool:
    """Whether a model's text may enter a sample's training ``text``: only from known-real weights."""
    return provenance is not None and provenance.real


def checkpoint_payload(state_dict: dict[str, Any], provenance: WeightsProvenance) -> dict[str, Any]:
    """What to ``torch.save``: open_clip (and most loaders) read ``state_dict`` and ignore the record."""
    return {"state_dict": state_dict, PROVENANCE_KEY: provenance.record()}


def read_checkpoint_provenance(path: str) -> WeightsProvenance | None:
    """The record a checkpoint file carries, or None when it carries none (or can't be read here).

    Torch checkpoints are memory-mapped, so peeking at a 1 GB file reads only its index.
    """
    if not os.path.isfile(path):
        return None
    if path.endswith(".safetensors"):
        return _safetensors_provenance(path)
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # legacy (non-zip) formats can't be mapped; the loader will judge
        return None
    record = checkpoint.get(PROVENANCE_KEY) if isinstance(checkpoint, dict) else None
    return WeightsProvenance.from_record(record) if isinstance(record, dict) else None


def _safetensors_provenance(path: str) -> WeightsProvenance | None:
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    raw = (header.get("__metadata__") or {}).get(PROVENANCE_KEY)
    return WeightsProvenance.from_record(json.loads(raw)) if raw else None
