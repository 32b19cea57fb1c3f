"""Validation pass on the ``valid`` split: Eq. 3 loss and retrieval (paper §V-E).

Reports the loss per batch (comparable with training), in-batch Recall@1/5 both ways, and
the same recalls over the whole pass's pairs (harder: every other clip is a negative).
Clips are centre-cropped and the first caption is used, so the figures are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

import torch

from model.heads import Clara
from model.loss import clip_loss, retrieval_metrics


@torch.no_grad()
def validate(
    model: Clara,
    batches: Iterable[dict],
    device: torch.device,
    max_batches: int,
    amp: bool = False,
) -> dict[str, float]:
    """Mean loss and retrieval over at most ``max_batches`` batches (empty dict if none)."""
    was_training = model.training
    model.eval()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()
    losses, weights, audio, text = [], [], [], []
    in_batch: dict[str, float] = {}
    in_batch_n: dict[str, int] = {}
    try:
        for index, batch in enumerate(batches):
            if index >= max_batches:
                break
            with autocast:
                z_a, z_t, tau_a, tau_t = model(
                    batch["audio"].to(device),
                    batch["audio_lengths"].to(device),
                    batch["tokens"].to(device),
                    batch["text_mask"].to(device),
                )
            n = z_a.shape[0]
            losses.append(clip_loss(z_a, z_t, tau_a, tau_t).item() * n)
            weights.append(n)
            for name, value in retrieval_metrics(z_a, z_t).items():
                in_batch[name] = in_batch.get(name, 0.0) + value * n
                in_batch_n[name] = in_batch_n.get(name, 0) + n
            audio.append(z_a.float().cpu())
            text.append(z_t.float().cpu())
    finally:
        model.train(was_training)
    if not weights:
        return {}
    total = sum(weights)
    metrics = {"loss": sum(losses) / total, "samples": float(total)}
    metrics.update({f"batch_{k}": v / in_batch_n[k] for k, v in in_batch.items()})
    metrics.update({f"set_{k}": v for k, v in retrieval_metrics(torch.cat(audio), torch.cat(text)).items()})
    return metrics
