"""CALM's multimodal fusion head for utterance-level labels (issue [calm]; ``--task fusion-probe``).

The trained encoders stay frozen. For every clip two token sequences are taken:

- **acoustic tokens**: the audio encoder's final tokens. SpecTran's patch tokens are averaged over
  the frequency bands of each time step (one token per time patch, padding masked), then
  average-pooled in time to at most ``max_audio_tokens``; the Perceiver's latents are used as
  they are (a fixed set, nothing padded).
- **lexical tokens**: the text encoder's contextual token states of the clip's *transcript*
  (``original_data.transcript``): the pretrained sentence encoder's token embeddings for CALM,
  CLARA's text transformer states (Whisper BPE with the language token) otherwise.

A small multimodal transformer reads ``[CLS] + acoustic + lexical`` (each modality projected to
``dim``, plus a modality embedding and sinusoidal positions within its modality; key-padding
masks throughout) and classifies the label (emotion by default) from ``[CLS]``. It is trained with
AdamW and cross-entropy on the ``train`` split, early-stopped on ``valid`` loss, and scored on the
evaluated split. Beside it, on the same clips and with the same optimiser budget, the audio-only
linear probe on the pooled audio embedding (``model.probe``) gives the baseline the fusion is
compared with.

    python -m model.fusion --checkpoint runs/calm --data data/shards/demo-en --task emotion
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.api import ClaraModel, centre_crop
from model.evalset import iter_samples
from model.layers import Block, sinusoidal_positions
from model.probe import ProbeConfig, probe_accuracy, train_probe
from model.zeroshot import task_field
from schemas.records import SampleMeta


@dataclass
class FusionConfig:
    task: str = "emotion"
    modalities: str = "audio+text"
    """``audio+text`` (the fusion), ``audio`` or ``text`` (ablations through the same head)."""
    dim: int = 64
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_audio_tokens: int = 48
    max_text_tokens: int = 48
    lr: float = 1e-3
    weight_decay: float = 0.01
    max_epochs: int = 40
    patience: int = 5
    batch_size: int = 32
    seed: int = 0


@dataclass
class TokenSet:
    """Per clip: acoustic tokens ``[Ta, Da]``, lexical tokens ``[Lt, Dt]``, pooled embedding, label."""

    audio: list[torch.Tensor] = field(default_factory=list)
    text: list[torch.Tensor] = field(default_factory=list)
    pooled: list[torch.Tensor] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: list[int]) -> TokenSet:
        return TokenSet(*([getattr(self, f)[i] for i in rows] for f in ("audio", "text", "pooled", "labels")))


# -- token extraction --------------------------------------------------------------------------
def _pool_time(x: torch.Tensor, mask: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool ``x [B, T, D]`` in time (masked) so that at most ``limit`` steps remain."""
    if x.shape[1] <= limit:
        return x, mask
    factor = math.ceil(x.shape[1] / limit)
    pad = (-x.shape[1]) % factor
    x = F.pad(x * mask[..., None], (0, 0, 0, pad)).view(x.shape[0], -1, factor, x.shape[2])
    weight = F.pad(mask.float(), (0, pad)).view(mask.shape[0], -1, factor)
    pooled = x.sum(dim=2) / weight.sum(dim=2, keepdim=True).clamp_min(1.0)
    return pooled, weight.sum(dim=2) > 0


@torch.no_grad()
def acoustic_tokens(model: ClaraModel, waves: list[np.ndarray], limit: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Clips → per clip ``[T, D]`` acoustic tokens, and the pooled projected embeddings ``[B, E]``."""
    clara = model.model
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lengths.max()))
    for i, wave in enumerate(waves):
        batch[i, : len(wave)] = torch.from_numpy(wave)
    batch, lengths = batch.to(model.device), lengths.to(model.device)
    features, mask, clip = clara.frontend.encoder_inputs(batch, lengths)
    encoder = clara.audio_encoder
    if hasattr(encoder, "patch_grid"):  # SpecTran: one token per time patch (bands averaged)
        tokens, token_mask = encoder.tokens(features, mask)
        steps = token_mask.shape[1] // encoder.freq_patches
        tokens = tokens.view(len(waves), steps, encoder.freq_patches, -1).mean(dim=2)
        time_mask = token_mask.view(len(waves), steps, encoder.freq_patches)[:, :, 0]
        tokens, time_mask = _pool_time(tokens, time_mask, limit)
        out = [tokens[i, time_mask[i]].float().cpu() for i in range(len(waves))]
    else:  # Perceiver: its latents
        tokens, _ = encoder.tokens(features, mask, clip)
        out = [t.float().cpu() for t in tokens]
    pooled = model.get_audio_embeddings(waves, batch_size=len(waves))
    return out, pooled


@torch.no_grad()
def lexical_tokens(model: ClaraModel, texts: list[str], languages: list[str | None], limit: int) -> list[torch.Tensor]:
    """Transcripts → per clip ``[L, D]`` contextual token states of the model's text encoder."""
    encoder = model.model.text_encoder
    if hasattr(encoder, "encode_texts"):  # pretrained sentence encoder
        states, mask = encoder.token_states([t or "" for t in texts])
    else:
        ids = [torch.tensor(model.tokenizer.encode(t or "", lang)) for t, lang in zip(texts, languages, strict=True)]
        lengths = torch.tensor([len(i) for i in ids])
        tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=model.tokenizer.pad_id)
        mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
        states = encoder.token_states(tokens.to(model.device), mask.to(model.device))
    return [states[i, mask[i]][:limit].float().cpu() for i in range(len(texts))]


def extract_tokens(
    model: ClaraModel,
    specs: list[str],
    split: str,
    config: FusionConfig,
    limit: int | None = None,
    batch_size: int = 16,
) -> TokenSet:
    """One pass over a split (augmented copies left out, as in evaluation): tokens and labels."""
    out = TokenSet()
    pending: list[tuple[np.ndarray, SampleMeta]] = []
    label_field = task_field(config.task)

    def flush() -> None:
        if not pending:
            return
        waves = [centre_crop(w, model.max_samples) for w, _ in pending]
        originals = [m.original_data for _, m in pending]
        audio, pooled = acoustic_tokens(model, waves, config.max_audio_tokens)
        text = lexical_tokens(
            model,
            [o.get("transcript") for o in originals],
            [o.get("language") for o in originals],
            config.max_text_tokens,
        )
        out.audio += audio
        out.text += text
        out.pooled += list(pooled)
        out.labels += [o.get(label_field) for o in originals]
        pending.clear()

    for _, wave, meta in iter_samples(specs, split, limit=limit):
        pending.append((wave, meta))
        if len(pending) >= batch_size:
            flush()
    flush()
    return out


# -- the fusion head ---------------------------------------------------------------------------
class FusionHead(nn.Module):
    """``[CLS] + acoustic + lexical`` tokens → a small transformer → class logits from ``[CLS]``."""

    def __init__(self, audio_dim: int, text_dim: int, n_classes: int, config: FusionConfig) -> None:
        super().__init__()
        self.modalities = set(config.modalities.split("+"))
        if not self.modalities <= {"audio", "text"} or not self.modalities:
            raise ValueError(f"modalities must be audio, text or audio+text, not {config.modalities!r}")
        dim = config.dim
        self.audio_proj = nn.Linear(audio_dim, dim)
        self.text_proj = nn.Linear(text_dim, dim)
        self.modality = nn.Parameter(torch.randn(2, dim) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        limit = max(config.max_audio_tokens, config.max_text_tokens, 512)
        self.register_buffer("positions", sinusoidal_positions(limit, dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, config.heads, 4.0, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, n_classes)

    def forward(
        self, audio: torch.Tensor, audio_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor
    ) -> torch.Tensor:
        parts = [self.cls.expand(audio.shape[0], -1, -1)]
        masks = [torch.ones(audio.shape[0], 1, dtype=torch.bool, device=audio.device)]
        if "audio" in self.modalities:
            parts.append(self.audio_proj(audio) + self.modality[0] + self.positions[: audio.shape[1]])
            masks.append(audio_mask)
        if "text" in self.modalities:
            parts.append(self.text_proj(text) + self.modality[1] + self.positions[: text.shape[1]])
            masks.append(text_mask)
        x, mask = torch.cat(parts, dim=1), torch.cat(masks, dim=1)
        for block in self.blocks:
            x = block(x, mask)
        return self.classifier(self.norm(x[:, 0]))


def _pad(rows: list[torch.Tensor], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(r) for r in rows])
    out = torch.zeros(len(rows), max(1, int(lengths.max())), width)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out, torch.arange(out.shape[1])[None, :] < lengths[:, None]


def _batch(tokens: TokenSet, rows: list[int]) -> tuple[torch.Tensor, ...]:
    audio, audio_mask = _pad([tokens.audio[i] for i in rows], tokens.audio[0].shape[1])
    text, text_mask = _pad([tokens.text[i] for i in rows], tokens.text[0].shape[1])
    return audio, audio_mask, text, text_mask


@torch.no_grad()
def _loss_and_scores(head: FusionHead, tokens: TokenSet, y: torch.Tensor, batch_size: int) -> tuple[float, np.ndarray]:
    head.eval()
    total, scores = 0.0, []
    for start in range(0, len(y), batch_size):
        rows = list(range(start, min(start + batch_size, len(y))))
        logits = head(*_batch(tokens, rows))
        total += F.cross_entropy(logits, y[rows], reduction="sum").item()
        scores.append(logits.numpy())
    return total / max(len(y), 1), np.concatenate(scores) if scores else np.zeros((0, 0))


def train_fusion(
    train: TokenSet, train_y: np.ndarray, valid: TokenSet, valid_y: np.ndarray, n_classes: int, config: FusionConfig
) -> tuple[FusionHead, dict[str, Any]]:
    """Fit the head with early stopping on ``valid`` loss; returns the best epoch's head and a summary."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    head = FusionHead(train.audio[0].shape[1], train.text[0].shape[1], n_classes, config)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    y, vy = torch.as_tensor(train_y, dtype=torch.long), torch.as_tensor(valid_y, dtype=torch.long)
    best = (math.inf, copy.deepcopy(head.state_dict()), 0)
    since_best, epoch, history = 0, 0, []
    for epoch in range(1, config.max_epochs + 1):
        head.train()
        order = torch.randperm(len(y), generator=generator).tolist()
        running = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            loss = F.cross_entropy(head(*_batch(train, rows)), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(rows)
        valid_loss, _ = _loss_and_scores(head, valid, vy, config.batch_size)
        history.append({"epoch": epoch, "train_loss": running / len(y), "valid_loss": valid_loss})
        if valid_loss < best[0]:
            best, since_best = (valid_loss, copy.deepcopy(head.state_dict()), epoch), 0
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    head.load_state_dict(best[1])
    head.eval()
    return head, {"best_epoch": best[2], "epochs_run": epoch, "history": history}


def fusion_accuracy(head: FusionHead, tokens: TokenSet, y: np.ndarray, batch_size: int = 64) -> float:
    _, scores = _loss_and_scores(head, tokens, torch.as_tensor(y, dtype=torch.long), batch_size)
    return float(100.0 * np.mean(scores.argmax(axis=1) == y)) if len(y) else float("nan")


# -- the task ----------------------------------------------------------------------------------
def _labelled(tokens: TokenSet, index: dict[str, int]) -> tuple[TokenSet, np.ndarray]:
    rows = [i for i, label in enumerate(tokens.labels) if label in index]
    return tokens.subset(rows), np.asarray([index[tokens.labels[i]] for i in rows], dtype=np.int64)


def fusion_probe(
    model: ClaraModel,
    specs: list[str],
    split: str = "test",
    config: FusionConfig | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Fusion head vs the audio-only linear probe (same clips, same optimiser budget), in percent."""
    config = config or FusionConfig()
    sets = {name: extract_tokens(model, specs, name, config, limit) for name in ("train", "valid", split)}
    if not len(sets["valid"]):  # no valid split: every 10th train clip
        train = sets["train"]
        sets["valid"] = train.subset(list(range(0, len(train), 10)))
        sets["train"] = train.subset([i for i in range(len(train)) if i % 10])
    labels = sorted({label for label in sets["train"].labels if label not in (None, "", "unknown")})
    if len(labels) < 2:
        raise ValueError(f"fusion-probe needs at least two {config.task} labels in the train split, found {labels}")
    index = {label: i for i, label in enumerate(labels)}
    (train, y), (valid, vy), (test, ty) = (_labelled(sets[s], index) for s in ("train", "valid", split))
    results: dict[str, Any] = {
        "task": config.task,
        "labels": labels,
        "clips": {"train": len(y), "valid": len(vy), "test": len(ty)},
    }
    heads: dict[str, Any] = {}
    for modalities in dict.fromkeys([config.modalities, "audio"]):
        run = FusionConfig(**{**asdict(config), "modalities": modalities})
        head, summary = train_fusion(train, y, valid, vy, len(labels), run)
        heads[f"fusion[{modalities}]"] = {"accuracy": fusion_accuracy(head, test, ty), **summary}
    probe_config = ProbeConfig(head="linear", lr=config.lr, max_epochs=config.max_epochs, patience=config.patience)
    stack = lambda part: torch.stack(part.pooled).numpy()  # noqa: E731
    fit = train_probe(stack(train), y, stack(valid), vy, len(labels), probe_config)
    heads["linear_probe[audio embedding]"] = {"accuracy": probe_accuracy(fit, stack(test), ty), **fit.summary()}
    results["heads"] = heads
    results["config"] = asdict(config)
    return results


def markdown(result: dict[str, Any], name: str, dataset: str) -> str:
    rows = [
        f"| {head} | {r['accuracy']:.2f} | {r['best_epoch']} | {r['epochs_run']} |"
        for head, r in result["heads"].items()
    ]
    header = "| Head | Acc (%) | Best epoch | Epochs run |\n|---|---|---|---|"
    clips = result["clips"]
    return (
        f"Fusion probe ({result['task']}, {len(result['labels'])} classes) of {name} on {dataset}: "
        f"{clips['train']} train / {clips['valid']} valid / {clips['test']} test clips\n\n{header}\n"
        + "\n".join(rows)
        + "\n"
    )


def flatten(result: dict[str, Any]) -> dict[str, float]:
    return {f"fusion_probe/{result['task']}/{head}/accuracy": r["accuracy"] for head, r in result["heads"].items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.fusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--task", default="emotion")
    p.add_argument("--modalities", default="audio+text")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=None, help="write fusion-probe.json here")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model = ClaraModel.from_checkpoint(args.checkpoint, device=args.device)
        result = fusion_probe(
            model, args.data, args.split, FusionConfig(task=args.task, modalities=args.modalities), args.limit
        )
    except (FileNotFoundError, KeyError, ValueError) as error:
        print(f"model.fusion: error: {error}", file=sys.stderr)
        return 2
    print(markdown(result, Path(args.checkpoint).name, ", ".join(args.data)))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fusion-probe.json").write_text(
            json.dumps({"metrics": flatten(result), "result": result}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
