"""Process-group and device setup: one process per GPU under ``torchrun``, else one process.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the backend is NCCL on CUDA
and gloo on the CPU.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

# Imported here, before any process group exists, on purpose. ``torch.distributed.nn``'s
# functions take ``group=group.WORLD`` as a default argument, evaluated at import; DDP imports
# the module lazily, so without this line the first DDP wrapper pins the default group in ten
# function defaults for the life of the interpreter. ``destroy_process_group`` then cannot free
# it, gloo's worker threads outlive it, and one of them releasing DDP's last all-reduce while
# the interpreter finalises needs the GIL it can no longer take: ``terminate called without an
# active exception``, SIGABRT at exit (issue #24; see ``teardown``).
import torch.distributed.nn

log = logging.getLogger(__name__)


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
    (the log-mel filterbank, the loss, the optimiser's kernels): several times their fp32 rate on A100/H100."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")


def live_gloo_threads() -> int:
    """Gloo worker threads alive in this process (Linux; 0 where ``/proc`` is absent)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    count = 0
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().strip() == "pt_gloo_runloop"
        except OSError:
            continue
    return count


def teardown() -> None:
    """Destroy the process group and join its worker threads before the interpreter exits.

    Callers drop what holds the group first (the ``DistributedDataParallel`` wrapper, a
    ``Trainer``). A gloo group still alive at interpreter exit can abort the process (issue #24):
    its threads free finished work whose thread-local state holds Python objects, and taking
    the GIL during finalisation kills the thread inside a ``noexcept`` destructor."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.destroy_process_group()
    gc.collect()  # the group dies here, joining its threads with the interpreter still whole
    left = live_gloo_threads()
    if left:
        log.warning(
            "%d gloo worker threads outlive the destroyed process group: something still holds it "
            "(a DistributedDataParallel wrapper not yet dropped?); exit may abort",
            left,
        )


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


@dataclass(frozen=True)
class TensorSlot:
    """Where a tensor sat in a state sent by :func:`broadcast_state`: its index, shape and dtype."""

    index: int
    shape: tuple[int, ...]
    dtype: torch.dtype


def split_tensors(state: Any) -> tuple[Any, list[torch.Tensor]]:
    """``state`` with every tensor (inside dicts, lists, tuples) replaced by a :class:`TensorSlot`,
    and the tensors in slot order. The skeleton holds no tensor data: it pickles small."""
    tensors: list[torch.Tensor] = []

    def walk(value: Any) -> Any:
        if torch.is_tensor(value):
            tensors.append(value)
            return TensorSlot(len(tensors) - 1, tuple(value.shape), value.dtype)
        if isinstance(value, dict):
            return type(value)((key, walk(item)) for key, item in value.items())
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(walk(item) for item in value)
        return value

    return walk(state), tensors


def fill_tensors(skeleton: Any, tensors: list[torch.Tensor]) -> Any:
    """The inverse of :func:`split_tensors`."""
    if isinstance(skeleton, TensorSlot):
        return tensors[skeleton.index]
    if isinstance(skeleton, dict):
        return type(skeleton)((key, fill_tensors(item, tensors)) for key, item in skeleton.items())
    if isinstance(skeleton, list):
        return [fill_tensors(item, tensors) for item in skeleton]
    if isinstance(skeleton, tuple) and not hasattr(skeleton, "_fields"):
        return tuple(fill_tensors(item, tensors) for item in skeleton)
    return skeleton


def _slots(skeleton: Any) -> list[TensorSlot]:
    found: list[TensorSlot] = []

    def walk(value: Any) -> None:
        if isinstance(value, TensorSlot):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(skeleton)
    return sorted(found, key=lambda slot: slot.index)


def _byte_view(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1).view(torch.uint8)


BROADCAST_SHARD_BYTES = 64 << 20
"""Bytes per collective when a state is broadcast: memory beyond the state itself stays one shard."""


@torch.no_grad()
def broadcast_state(
    state: Any, context: Context, src: int = 0, shard_bytes: int = BROADCAST_SHARD_BYTES
) -> tuple[Any, int]:
    """Rank ``src``'s ``state`` (a checkpoint: nested dicts/lists of tensors and small values) on
    every rank; other ranks pass ``None``. Returns ``(state, collectives used for the tensors)``.

    Only the skeleton (the structure, the small values, each tensor's shape and dtype) travels
    pickled; the tensors' bytes go by ``dist.broadcast`` in shards of at most ``shard_bytes``,
    on the device the process group speaks (the GPU under NCCL), and land on the CPU.
    """
    if not context.distributed:
        return state, 0
    if context.rank == src:
        skeleton, tensors = split_tensors(state)
        tensors = [t.detach().cpu().contiguous() for t in tensors]
    else:
        skeleton, tensors = None, []
    skeleton = broadcast_object(skeleton, context, src=src)
    slots = _slots(skeleton)
    if context.rank != src:
        tensors = [torch.empty(slot.shape, dtype=slot.dtype) for slot in slots]
    views = [_byte_view(t) for t in tensors]
    total = sum(v.numel() for v in views)
    device = context.device if context.device.type == "cuda" else torch.device("cpu")
    collectives, index, offset = 0, 0, 0  # the first byte not yet sent: views[index][offset]
    for start in range(0, total, max(1, shard_bytes)):
        size = min(shard_bytes, total - start)
        pieces: list[tuple[int, int, int]] = []  # (view, its first byte, bytes) covered by this shard
        filled = 0
        while filled < size:
            take = min(views[index].numel() - offset, size - filled)
            if take > 0:
                pieces.append((index, offset, take))
            filled, offset = filled + take, offset + take
            if offset >= views[index].numel():
                index, offset = index + 1, 0
        if context.rank == src:
            shard = torch.cat([views[i][o : o + n] for i, o, n in pieces]).to(device)
        else:
            shard = torch.empty(size, dtype=torch.uint8, device=device)
        dist.broadcast(shard, src=src)
        collectives += 1
        if context.rank != src:
            shard, at = shard.cpu(), 0
            for i, o, n in pieces:
                views[i][o : o + n].copy_(shard[at : at + n])
                at += n
    return fill_tensors(skeleton, tensors), collectives
