"""Two-temperature CLIP loss (paper §IV-A, Eq. 3), with all negatives across ranks.

    L = -1/N Σ_k [ log softmax_n(τ_a z_a^k·z_t^n)[k] + log softmax_n(τ_t z_t^k·z_a^n)[k] ]

The two directions are *summed* as Eq. 3 writes them (CLIP's usual loss averages them, so
this one is twice as large; chance level is 2·log N). Temperatures are multipliers.

Across ranks the features are all-gathered *with gradient* (:func:`gather_with_grad`), so
every rank scores its pairs against the global batch's negatives. With ``local_loss`` a rank
computes only its own rows against all columns; since DDP averages gradients over ranks and
the gather's backward sums them, the parameters see exactly the gradient of the global-batch
loss (tested against a single process).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def clip_loss(z_a: torch.Tensor, z_t: torch.Tensor, tau_a: torch.Tensor, tau_t: torch.Tensor) -> torch.Tensor:
    """Eq. 3 on one set of N pairs of unit-norm features ``[N, E]``."""
    targets = torch.arange(z_a.shape[0], device=z_a.device)
    similarity = z_a @ z_t.T
    return F.cross_entropy(tau_a * similarity, targets) + F.cross_entropy(tau_t * similarity.T, targets)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums every rank's gradient of the gathered tensor.

    Written out (rather than ``torch.distributed.nn``, deprecated, or the functional collectives,
    still moving) with ``all_reduce`` so it runs on gloo as well as NCCL.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank (rank order), keeping the autograd graph."""
    return _GatherWithGrad.apply(x)


def distributed_clip_loss(
    z_a: torch.Tensor,
    z_t: torch.Tensor,
    tau_a: torch.Tensor,
    tau_t: torch.Tensor,
    local_loss: bool = True,
) -> torch.Tensor:
    """Eq. 3 over the global batch when ``torch.distributed`` is initialised, else :func:`clip_loss`.

    Every rank must pass the same number of pairs (the trainer's batches are full).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return clip_loss(z_a, z_t, tau_a, tau_t)
    all_a, all_t = gather_with_grad(z_a), gather_with_grad(z_t)
    if not local_loss:
        return clip_loss(all_a, all_t, tau_a, tau_t)
    offset = dist.get_rank() * z_a.shape[0]
    targets = torch.arange(z_a.shape[0], device=z_a.device) + offset
    return F.cross_entropy(tau_a * z_a @ all_t.T, targets) + F.cross_entropy(tau_t * z_t @ all_a.T, targets)


@torch.no_grad()
def retrieval_metrics(z_a: torch.Tensor, z_t: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@k both ways for pairs ``(z_a[i], z_t[i])`` (paper §V-E, in-batch / in-set).

    Ties count against the true pair, as in :mod:`model.metrics`: a collapsed model that
    scores every pair alike gets 0, never 100 %. A NaN score ties with everything (a NaN
    comparison is false, so it would otherwise beat nothing and lose to nothing): a diverged
    model whose embeddings are NaN gets 0, as :func:`model.metrics.relevant_ranks` ranks it.
    """
    similarity = z_a.float() @ z_t.float().T
    n = similarity.shape[0]
    diagonal = similarity.diagonal()[:, None]
    true_nan = diagonal.isnan()
    # Other texts (clips) scoring at or above the true one, or not comparable with it.
    rank_a2t = ((similarity >= diagonal) | similarity.isnan() | true_nan).sum(dim=1) - 1
    rank_t2a = ((similarity.T >= diagonal) | similarity.T.isnan() | true_nan).sum(dim=1) - 1
    out = {}
    for k in ks:
        if k <= n:
            out[f"a2t_R@{k}"] = (rank_a2t < k).float().mean().item()
            out[f"t2a_R@{k}"] = (rank_t2a < k).float().mean().item()
    return out
