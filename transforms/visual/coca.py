"""Image captions with open_clip CoCa: the I2T(.) of paper Appendix B, Eq. 4 (Yu et al. 2022).

:class:`CocaCaptioner` is a Beam ``ModelHandler`` (usable in ``RunInference`` and directly by the
in-shard :class:`transforms.visual.stage.VisualStage`): the model loads once per worker through
``open_clip.create_model_and_transforms(model_name, pretrained=...)``, frames (RGB uint8 arrays)
are captioned in batches with ``model.generate``, on CUDA when present. The generated text is
cleaned (special tokens, padding, repeated words, spacing, capitalisation).

Model and weights:

- ``model_name``: an open_clip architecture (``coca_ViT-B-32``, ``coca_ViT-L-14``), a
  ``local-dir:``/``hf-hub:`` model, or the path of an open_clip model-config JSON (registered
  on load under its file stem: how tests use a tiny CoCa).
- ``pretrained``: an open_clip tag or a checkpoint path (local, or gs:// / s3://, copied to a
  local cache first). The production default is ``coca_ViT-B-32`` +
  ``mscoco_finetuned_laion2b_s13b_b90k`` (COCO-style captions; downloads from the HF hub on first
  use). Offline there are no CoCa weights: tests save a randomly initialised model and load it
  by path, so the captions are meaningless but the code path is the real one.

The loaded model carries its weights' provenance (``transforms.weights``): a checkpoint written by
:func:`random_checkpoint` says it is random, an open_clip tag is a trained release, no
``pretrained`` at all is random. The visual stage emits captions only from real weights.

transformers >= 4.57 broke open_clip's beam search here (``generate``); requirements pin < 4.56.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from transforms import storage
from transforms.visual.options import DEFAULT_MODEL, DEFAULT_PRETRAINED
from transforms.weights import WeightsProvenance, checkpoint_payload, random_init, read_checkpoint_provenance

__all__ = ["DEFAULT_MODEL", "DEFAULT_PRETRAINED", "CocaCaptioner", "LoadedCoca", "random_checkpoint"]
MAX_CAPTION_WORDS = 30

_SPECIAL = re.compile(r"<\s*(start|end)_of_text\s*>")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?%)])")
_SPACE_AFTER_OPEN = re.compile(r"([(])\s+")


def clean_caption(raw: str) -> str | None:
    """A caption fit for a sample's text, or None when nothing readable is left.

    Cuts at the end-of-text token (what follows is padding), drops special tokens, joins
    punctuation to its word, collapses immediately repeated words and phrases ("a dog dog"),
    strips CoCa's trailing " ." and capitalises the first letter.
    """
    text = raw.split("<end_of_text>", 1)[0]
    text = _SPECIAL.sub(" ", text)
    text = " ".join(text.replace("\ufffd", " ").split())
    text = _SPACE_AFTER_OPEN.sub(r"\1", _SPACE_BEFORE_PUNCT.sub(r"\1", text))
    words = _collapse_repeats(text.split())[:MAX_CAPTION_WORDS]
    text = " ".join(words).strip(" .,;:-")
    if not re.search(r"[^\W\d_]{2,}", text):  # no word of two letters: padding or punctuation junk
        return None
    return text[0].upper() + text[1:]


def _collapse_repeats(words: list[str], longest: int = 4) -> list[str]:
    """Remove immediate repeats of 1..``longest``-word phrases (case-insensitive)."""
    out: list[str] = []
    for word in words:
        out.append(word)
        for n in range(1, longest + 1):
            if len(out) >= 2 * n and [w.lower() for w in out[-n:]] == [w.lower() for w in out[-2 * n : -n]]:
                del out[-n:]
                break
    return out


@dataclass
class LoadedCoca:
    """What :meth:`CocaCaptioner.load_model` returns: the model, its eval transform, its device,
    and where its weights came from (captions from random weights never become text)."""

    model: Any
    preprocess: Any
    device: str
    decode: Any = field(repr=False, default=None)
    weights: WeightsProvenance = field(default_factory=lambda: random_init("provenance not given"))


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _local_file(uri: str, cache_dir: str | None = None) -> str:
    """A local path for ``uri``: itself when local, else a cached copy read through :mod:`transforms.storage`."""
    if "://" not in uri:
        return uri
    cache = cache_dir or os.path.join(tempfile.gettempdir(), "clara-coca")
    os.makedirs(cache, exist_ok=True)
    local = os.path.join(cache, hashlib.sha256(uri.encode()).hexdigest()[:16] + os.path.splitext(uri)[1])
    if not os.path.exists(local):
        storage.download(uri, local)
    return local


class CocaCaptioner(ModelHandler[np.ndarray, str, LoadedCoca]):
    """RunInference handler: RGB frames (H x W x 3 uint8) -> cleaned captions ("" when unreadable)."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        pretrained: str | None = DEFAULT_PRETRAINED,
        device: str = "auto",
        batch_size: int = 8,
        torch_threads: int | None = 1,
        generation: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(min_batch_size=1, max_batch_size=batch_size)
        if batch_size < 1:
            raise ValueError(f"CoCa batch size must be >= 1, got {batch_size}")
        self.model_name = model_name
        self.pretrained = pretrained or None
        self.device = device
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self.generation = {"seq_len": 30, **(generation or {})}

    def load_model(self) -> LoadedCoca:
        import open_clip
        import torch

        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        name = self.model_name
        if name.endswith(".json"):  # a custom architecture: register its config under its stem
            open_clip.add_model_config(_local_file(name))
            name = os.path.splitext(os.path.basename(name))[0]
        pretrained = self.pretrained
        if pretrained and ("://" in pretrained or os.sep in pretrained or os.path.isfile(pretrained)):
            pretrained = _local_file(pretrained)
            if not os.path.isfile(pretrained):
                raise FileNotFoundError(f"CoCa checkpoint not found: {self.pretrained}")
        device = resolve_device(self.device)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
        model.eval()
        weights = weights_provenance(self.model_name, self.pretrained, pretrained)
        return LoadedCoca(model=model, preprocess=preprocess, device=device, decode=open_clip.decode, weights=weights)

    def run_inference(
        self, batch: Sequence[np.ndarray], model: LoadedCoca, inference_args: dict[str, Any] | None = None
    ) -> Iterable[str]:
        import torch
        from PIL import Image

        if not batch:
            return []
        captions: list[str] = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            images = torch.stack([model.preprocess(Image.fromarray(np.asarray(f, dtype=np.uint8))) for f in chunk])
            with torch.inference_mode():
                tokens = model.model.generate(images.to(model.device), **{**self.generation, **(inference_args or {})})
            captions.extend(clean_caption(model.decode(row)) or "" for row in tokens.cpu())
        return captions

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(int(np.asarray(f).nbytes) for f in batch)

    def get_metrics_namespace(self) -> str:
        return "clara_visual_coca"

    def validate_inference_args(self, inference_args: dict[str, Any] | None) -> None:
        allowed = {"seq_len", "generation_type", "num_beams", "top_k", "top_p", "temperature", "repetition_penalty"}
        unknown = set(inference_args or {}) - allowed
        if unknown:
            raise ValueError(f"unknown CoCa generation arguments: {sorted(unknown)}")


def weights_provenance(model_name: str, pretrained: str | None, local: str | None) -> WeightsProvenance:
    """Where the weights of ``model_name`` + ``pretrained`` come from (``local``: the checkpoint's local copy)."""
    if local and os.path.isfile(local):
        marked = read_checkpoint_provenance(local)
        name = os.path.basename(pretrained or local)
        return marked or WeightsProvenance(True, f"checkpoint:{name}", "unmarked checkpoint: taken as trained")
    if pretrained:
        return WeightsProvenance(True, f"open_clip:{pretrained}")
    if model_name.startswith(("hf-hub:", "local-dir:")):
        return WeightsProvenance(True, model_name)
    return random_init("no pretrained weights given")


def random_checkpoint(model_name: str, path: str, seed: int = 0) -> str:
    """Save a randomly initialised CoCa where ``pretrained=path`` loads it: offline stand-in only
    (its captions are meaningless). open_clip leaves the decoder's output projection uninitialised
    (all logits 0, so decoding would be a uniform draw); it gets random values here.

        python -m transforms.visual.coca data/cache/coca/random-coca_ViT-B-32.pt [model_name]
    """
    import open_clip
    import torch

    if model_name.endswith(".json"):
        open_clip.add_model_config(model_name)
        model_name = os.path.splitext(os.path.basename(model_name))[0]
    torch.manual_seed(seed)
    model = open_clip.create_model(model_name)
    projection = model.text_decoder.text_projection
    with torch.no_grad():
        torch.nn.init.normal_(projection, std=projection.shape[0] ** -0.5)
    return save_checkpoint(model, path, random_init(f"offline stand-in, seed {seed}: captions are meaningless"))


def save_checkpoint(model: Any, path: str, weights: WeightsProvenance) -> str:
    """Write a model's weights, marked with their provenance, where :class:`CocaCaptioner` loads
    them (``pretrained=path``)."""
    import torch

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.save(checkpoint_payload(model.state_dict(), weights), path)
    return path


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2:
        sys.exit("usage: python -m transforms.visual.coca OUT.pt [model_name]  (random weights, offline stand-in)")
    print(random_checkpoint(sys.argv[2] if len(sys.argv) > 2 else DEFAULT_MODEL, sys.argv[1]))
