"""Process-group and device setup: one process per GPU under ``torchrun``, else one process.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the backend is NCCL on CUDA
and gloo on the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` → this process's GPU when there is one, else the CPU."""
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def setup(requested_device: str = "auto") -> Context:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    enable_tf32(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(rank, world_size, local_rank, device)


def enable_tf32(device: torch.device) -> None:
    """TF32 tensor cores for the float32 matmuls and convolutions left outside bf16 autocast
    (the log-mel filterbank, the loss, the optimiser's kernels): ~8× their fp32 rate on A100/H100."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gather_objects(value: Any, context: Context) -> list[Any]:
    """Every rank's ``value``, in rank order (just ``[value]`` in one process)."""
    if not context.distributed:
        return [value]
    out: list[Any] = [None] * context.world_size
    dist.all_gather_object(out, value)
    return out


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def all_reduce_mean(value: float, context: Context) -> float:
    if not context.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return tensor.item() / context.world_size


def broadcast_object(value: Any, context: Context, src: int = 0) -> Any:
    """Rank ``src``'s ``value`` on every rank (``value`` itself in one process)."""
    if not context.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=src, device=context.device if context.device.type == "cuda" else None)
    return holder[0]


@torch.no_grad()
def broadcast_tensors(tensors: list[torch.Tensor], context: Context, src: int = 0) -> None:
    """Overwrite every rank's ``tensors`` in place with rank ``src``'s (same shapes, same order)."""
    if not context.distributed:
        return
    shapes = gather_objects([(tuple(t.shape), str(t.dtype)) for t in tensors], context)
    if any(other != shapes[src] for other in shapes):
        raise RuntimeError("ranks hold differently shaped states; they cannot agree on rank 0's")
    for tensor in tensors:
        dist.broadcast(tensor, src=src)
